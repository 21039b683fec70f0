#!/usr/bin/env bash
# The hostile-input table of issue 16 (tests/hostile.tsv): every case must exit with its
# status, print its error fragment, leave no output behind, and leave its inputs byte for
# byte as they were. The fixtures are made here from tiny models trained for 2 steps.
source "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=1
F=$TMP/fix
mkdir -p "$F" && cd "$F"
fixtures() {
    $DDM prep --from fashion-mnist --split test --pad 2 --limit 64 --out ds.h5 &&
    $DDM prep --from noise:64,1x32x32 --out nolab.h5 &&
    $DDM prep --from noise:8,3x32x32 --out noise3.h5 &&
    tiny_ini tiny.ini "batch = 8" "max_steps = 2" &&
    { cat tiny.ini; echo "lr = 1e-3"; echo "lr = 2e-3"; } > dup.ini &&
    $DDM train --data ds.h5 --config tiny.ini --out run &&
    cp run/ckpt-00000002.h5 ck.h5 &&
    $DDM train --data ds.h5 --config tiny.ini --task classifier --out clf && cp clf/ckpt-00000002.h5 clf.h5 &&
    $DDM train --data ds.h5 --config tiny.ini --task noisy-classifier --out nc && cp nc/ckpt-00000002.h5 nc.h5 &&
    $DDM train --data ds.h5 --config tiny.ini --set model.num_classes=0 --out un && cp un/ckpt-00000002.h5 uncond.h5 &&
    rm -rf clf nc un &&
    $DDM sample --ckpt run --out s.h5 --seeds 0-15 --steps 2 &&
    echo "not an HDF5 file" > garbage.h5 && : > empty.h5 &&
    head -c $(( $(stat -c %s ck.h5) / 2 )) ck.h5 > cut.h5 &&
    printf 'garbage garbage garbage\n' > bad-images.idx &&
    mkdir -p bomb.png-dir/c0 &&
    "$PYTHON" - <<'PY'
import gzip, shutil, struct, zlib, h5py, numpy as np
h5py.File("kind5.h5", "w").attrs["kind"] = 5
shutil.copy("ck.h5", "nan.h5")
with h5py.File("nan.h5", "r+") as f:
    for g in ("model", "ema/0.9"):
        d = f[g + "/conv_in.weight"]; a = d[()]; a.flat[0] = np.nan; d[...] = a
raw = struct.pack(">IIII", 0x803, 100, 28, 28) + bytes(100 * 28 * 28)
z = gzip.compress(raw)
open("cut-images.gz", "wb").write(z[: len(z) // 2])
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)
open("bomb.png-dir/c0/a.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
shutil.copy("ck.h5", "flip.h5")
with h5py.File("flip.h5", "r") as f:
    off = f["ema/0.9/conv_in.weight"].id.get_chunk_info(0).byte_offset
with open("flip.h5", "r+b") as g:
    g.seek(off + 3); b = g.read(1); g.seek(off + 3); g.write(bytes([b[0] ^ 0x04]))
PY
}
if ! fixtures >"$TMP/fix.log" 2>&1; then
    fail "fixtures"; tail -20 "$TMP/fix.log" | sed 's/^/    | /'; summary; exit 1
fi
snap() { (cd "$F" && find . -type f -print0 | sort -z | xargs -0 md5sum) }
snap > "$TMP/before"
export DDM F
n=0
while IFS=$'\t' read -r name want frag cmd; do
    [ -z "$name" ] || [ "${name:0:1}" = "#" ] && continue
    n=$((n + 1))
    OUT=$TMP/out-$n
    export OUT
    rc=0
    bash -c "$cmd" >"$TMP/case.out" 2>&1 </dev/null || rc=$?
    why=""
    [ "$rc" = "$want" ] || why="exit $rc, want $want"
    grep -Eq -- "$frag" "$TMP/case.out" || why="${why:+$why; }no '$frag' in the output"
    [ -e "$OUT" ] && why="${why:+$why; }left $(basename "$OUT")"
    snap > "$TMP/after"
    cmp -s "$TMP/before" "$TMP/after" || { why="${why:+$why; }an input changed"; cp "$TMP/after" "$TMP/before"; }
    if [ -z "$why" ]; then ok "hostile $n: $name: exit $rc: $(grep -Em1 -- "$frag" "$TMP/case.out" | cut -c1-150)"
    else fail "hostile $n: $name: $why"; grep -v '^ *$' "$TMP/case.out" | grep -v "^---\|MPI_ABORT\|errorcode\|NOTE:\|You may\|exactly when" | tail -3 | sed 's/^/    | /'; fi
done < "$ROOT/tests/hostile.tsv"
check "the table has at least 60 cases ($n)" test "$n" -ge 60
summary
