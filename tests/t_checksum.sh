#!/usr/bin/env bash
# Checksummed files (issue 16): checkpoint tensors, dataset images and samples images carry
# HDF5's Fletcher32 filter, so one flipped byte of their stored data is an error naming the
# file and the dataset, never silently different weights or images; `ddm info --verify FILE`
# reads everything and reports (exit 1 when something is damaged).
source "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=1
cd "$TMP"
$DDM prep --from fashion-mnist --split test --pad 2 --limit 64 --out fm.h5 >/dev/null || { fail "prep"; summary; exit 1; }
cat > tiny.ini <<'INI'
[model]
ch = 8
ch_mult = 1,2
num_res_blocks = 1
attn_resolutions = 16
groups = 4
num_classes = 10
[diffusion]
timesteps = 100
[train]
batch = 8
max_steps = 2
ema = 0.9
INI
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
summary
