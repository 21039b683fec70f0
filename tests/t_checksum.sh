#!/usr/bin/env bash
# Checksummed files (issue 16): checkpoint tensors, dataset images and samples images carry
# HDF5's Fletcher32 filter, so one flipped byte of their stored data is an error naming the
# file and the dataset, never silently different weights or images; `ddm info --verify FILE`
# reads everything and reports (exit 1 when something is damaged). Also a full disk (a 3 MB
# tmpfs, when this machine lets root mount one): one line naming the file, the dataset and
# "no space left", and no temporary file left behind.
source "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=1
cd "$TMP"
$DDM prep --from fashion-mnist --split test --pad 2 --limit 64 --out fm.h5 >/dev/null || { fail "prep"; summary; exit 1; }
tiny_ini tiny.ini "batch = 8" "max_steps = 2"
check "train 2 steps" $DDM train --data fm.h5 --config tiny.ini --out run
check "sample 16 images" $DDM sample --ckpt run --out s.h5 --seeds 0-15 --steps 3
# flip one bit of the stored bytes of DATASET in FILE (its first chunk)
flip() {
    "$PYTHON" - "$@" <<'PY'
import sys, h5py
path, name = sys.argv[1], sys.argv[2]
with h5py.File(path, "r") as f:
    d = f[name]
    assert d.fletcher32, f"{name}: no checksum"
    off = d.id.get_chunk_info(0).byte_offset
with open(path, "r+b") as g:
    g.seek(off + 3); b = g.read(1); g.seek(off + 3); g.write(bytes([b[0] ^ 0x04]))
PY
}
for f in run/ckpt-00000002.h5 s.h5 fm.h5; do
    check "$f: every dataset readable, every checksum matched" bash -c "$DDM info --verify $f | grep -q 'every checksum matched'"
done
cp run/ckpt-00000002.h5 bad-ckpt.h5 && flip bad-ckpt.h5 /ema/0.9/down.0.block.0.conv1.weight
cp s.h5 bad-s.h5 && flip bad-s.h5 /ddim-3-eta0/images
cp fm.h5 bad-fm.h5 && flip bad-fm.h5 /images
check_fails "a checkpoint with one flipped bit: sampling stops naming the tensor" \
    "bad-ckpt.h5: dataset '/ema/0.9/down.0.block.0.conv1.weight' is damaged: its Fletcher32 checksum does not match" \
    $DDM sample --ckpt bad-ckpt.h5 --out x.h5 --seeds 0-3 --steps 3
check "... and no samples file" test ! -e x.h5
check_fails "info --verify of that checkpoint: exit 1 naming the tensor" "/ema/0.9/down.0.block.0.conv1.weight: DAMAGED" $DDM info --verify bad-ckpt.h5
check_fails "a samples file with one flipped bit: export stops" "bad-s.h5" $DDM export --samples bad-s.h5 --png-dir pngs
check_fails "info --verify of that samples file" "/ddim-3-eta0/images: DAMAGED" $DDM info --verify bad-s.h5
check_fails "a dataset with one flipped bit: training stops naming the file" "bad-fm.h5" $DDM train --data bad-fm.h5 --config tiny.ini --out run2
check_fails "info --verify of that dataset" "/images: DAMAGED" $DDM info --verify bad-fm.h5

FULL=$TMP/full
mkdir -p "$FULL"
if mount -t tmpfs -o size=3m tmpfs "$FULL" 2>/dev/null; then
    check_fails "training onto a full disk: one line naming the file, dataset and reason" \
        "ckpt-0000000[0-9].h5.tmp-[0-9]+: cannot write dataset '.*': no space left on the device" \
        $DDM train --data fm.h5 --config tiny.ini --out "$FULL/run" --set train.max_steps=20 --set train.ckpt_every=1
    check "... no temporary file left, the last checkpoint intact" bash -c "
        ! ls -a '$FULL/run' | grep -q tmp && $DDM info --verify \$(ls '$FULL'/run/ckpt-*.h5 | tail -1) | grep -q 'every checksum matched'"
    dd if=/dev/zero of="$FULL/filler" bs=64k count=100 2>/dev/null
    check_fails "sampling onto a full disk (2 ranks): the reason, once" "s.h5: cannot create dataset 'images': no space left on the device" \
        mpirun2 2 $DDM sample --ckpt run --out "$FULL/s.h5" --seeds 0-999 --steps 2
    check "... no samples file left" test ! -e "$FULL/s.h5"
    umount "$FULL"
else
    echo "skip full-disk checks: this machine does not let root mount a tmpfs"
fi
summary
