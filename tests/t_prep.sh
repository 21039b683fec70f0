#!/usr/bin/env bash
# ddm prep / info / export end to end: Fashion-MNIST (both splits), raw IDX, PNG folders,
# info on every kind of file, export to PNGs and .npz, and the bad inputs: each must fail
# with a message naming the file and the problem and leave no output behind.
# Fixtures are made at run time in $TMP (h5py/PIL from Debian's python: $PYTHON).
source "$(dirname "$0")/lib.sh"
FM=/usr/share/datasets/fashion-mnist
PY() { "$PYTHON" - "$@"; }

# fails_clean "what" pattern OUT command...: check_fails, and nothing named OUT* is left
fails_clean() {
    local what=$1 pat=$2 out=$3; shift 3
    check_fails "$what" "$pat" "$@"
    local left
    left=$(compgen -G "$out*" | head -1)
    [ -n "$left" ] && fail "$what: left $left behind"
    return 0
}

if [ ! -f $FM/t10k-images-idx3-ubyte.gz ]; then
    echo "SKIP: $FM missing (Debian package dataset-fashion-mnist)"; summary; exit 1
fi

# ---- Fashion-MNIST --------------------------------------------------------------------
check "prep fashion-mnist --split test --pad 2" "$DDM" prep --from fashion-mnist --split test --pad 2 --out "$TMP/t.h5"
"$DDM" info "$TMP/t.h5" >"$TMP/info.txt" 2>&1
check "info: /images uint8 [10000,1,32,32]" grep -Eq '^  /images +uint8 +\[10000,1,32,32\]' "$TMP/info.txt"
check "info: kind dataset, format_version 1" grep -q '^kind: dataset, format_version 1' "$TMP/info.txt"
check "info: 10 classes of 1000, named" \
    bash -c "[ \$(grep -Ec '^ +[0-9] .* 1000\$' '$TMP/info.txt') -eq 10 ] && grep -q 'Ankle boot' '$TMP/info.txt'"
check "info: pixel mean/std" grep -Eq '^pixels: mean [0-9.]+ std [0-9.]+' "$TMP/info.txt"
check "h5py: 10000x1x32x32, 1000 per class, padding zero, pixels = the IDX file" PY "$TMP/t.h5" "$FM" <<'EOF'
import sys, gzip, h5py, numpy as np
f = h5py.File(sys.argv[1], "r"); fm = sys.argv[2]
im, lab = f["images"], f["labels"][:]
assert im.shape == (10000, 1, 32, 32) and im.dtype == np.uint8, (im.shape, im.dtype)
assert lab.dtype == np.int32 and (np.bincount(lab) == 1000).all(), np.bincount(lab)
a = f.attrs
kind = a["kind"].decode() if isinstance(a["kind"], bytes) else a["kind"]
assert kind == "dataset" and a["format_version"] == 1 and a["classes"] == 10
names = [n.decode() if isinstance(n, bytes) else n for n in a["class_names"]]
assert names[0] == "T-shirt/top" and names[9] == "Ankle boot", names
x = im[:]
assert x[:, :, :2].max() == 0 and x[:, :, -2:].max() == 0 and x[:, :, :, :2].max() == 0 and x[:, :, :, -2:].max() == 0
raw = np.frombuffer(gzip.open(fm + "/t10k-images-idx3-ubyte.gz").read()[16:], np.uint8).reshape(-1, 28, 28)
rl = np.frombuffer(gzip.open(fm + "/t10k-labels-idx1-ubyte.gz").read()[8:], np.uint8)
assert (x[:, 0, 2:30, 2:30] == raw).all() and (lab == rl).all()
assert f["images"].chunks[1:] == (1, 32, 32) and f["images"].compression == "gzip"
EOF

t0=$(date +%s)
check "prep fashion-mnist train split" "$DDM" prep --from fashion-mnist --out "$TMP/train.h5"
echo "     (train split: $(( $(date +%s) - t0 )) s)"
check "h5py: train 60000x1x28x28, 6000 per class" PY "$TMP/train.h5" <<'EOF'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
assert f["images"].shape == (60000, 1, 28, 28), f["images"].shape
assert (np.bincount(f["labels"][:]) == 6000).all()
EOF
rm -f "$TMP/train.h5"

# ---- raw IDX --------------------------------------------------------------------------
gzip -dc $FM/t10k-images-idx3-ubyte.gz >"$TMP/t10k-images-idx3-ubyte"
gzip -dc $FM/t10k-labels-idx1-ubyte.gz >"$TMP/t10k-labels-idx1-ubyte"
check "prep idx: raw files --limit 500" "$DDM" prep --from "idx:$TMP/t10k-images-idx3-ubyte,$TMP/t10k-labels-idx1-ubyte" \
    --limit 500 --out "$TMP/raw.h5"
check "idx: raw = fashion-mnist test rows 0..499, classes = max label + 1" PY "$TMP/raw.h5" "$TMP/t.h5" <<'EOF'
import sys, h5py
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
assert a["images"].shape == (500, 1, 28, 28) and a.attrs["classes"] == 10
assert (a["images"][:, 0] == b["images"][:500, 0, 2:30, 2:30]).all()
assert (a["labels"][:] == b["labels"][:500]).all() and "class_names" not in a.attrs
EOF
check "prep idx: images only (no labels)" "$DDM" prep --from "idx:$TMP/t10k-images-idx3-ubyte" --limit 10 --out "$TMP/nolab.h5"
check "info: dataset without labels" bash -c "'$DDM' info '$TMP/nolab.h5' | grep -q '^labels: none'"

# ---- PNG folders ------------------------------------------------------------------------
PY "$TMP" <<'EOF'
import sys, os, numpy as np
from PIL import Image
t = sys.argv[1]; rng = np.random.default_rng(1)
def save(path, a, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True); Image.fromarray(a, mode).save(path)
# classes as sub-folders, given out of order; all gray (one gray+alpha)
for cls, n in [("dog", 2), ("bird", 3), ("cat", 1)]:
    for i in range(n):
        save(f"{t}/cls/{cls}/{i:02d}.png", rng.integers(0, 256, (10, 12), dtype=np.uint8))
save(f"{t}/cls/cat/zz.png", rng.integers(0, 256, (10, 12, 2), dtype=np.uint8), "LA")
open(f"{t}/cls/README.txt", "w").write("not a png\n")
# no sub-folders, one RGB among gray: 3 channels
save(f"{t}/flat/a.png", rng.integers(0, 256, (10, 12), dtype=np.uint8))
save(f"{t}/flat/b.png", rng.integers(0, 256, (10, 12, 3), dtype=np.uint8))
save(f"{t}/flat/c.png", rng.integers(0, 256, (10, 12, 4), dtype=np.uint8), "RGBA")
# mixed sizes
save(f"{t}/mixed/a.png", np.zeros((10, 12), np.uint8))
save(f"{t}/mixed/b.png", np.zeros((11, 12), np.uint8))
EOF
check "prep png-dir: class sub-folders" "$DDM" prep --from "png-dir:$TMP/cls" --out "$TMP/cls.h5"
check "png-dir: labels from sorted folder names, gray, pixels equal" PY "$TMP/cls.h5" "$TMP/cls" <<'EOF'
import sys, h5py, numpy as np
from PIL import Image
f = h5py.File(sys.argv[1], "r"); d = sys.argv[2]
names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["class_names"]]
assert names == ["bird", "cat", "dog"] and f.attrs["classes"] == 3, names
assert f["images"].shape == (7, 1, 10, 12), f["images"].shape
assert list(f["labels"][:]) == [0, 0, 0, 1, 1, 2, 2], f["labels"][:]
files = [f"{d}/bird/00.png", f"{d}/bird/01.png", f"{d}/bird/02.png", f"{d}/cat/00.png", f"{d}/cat/zz.png", f"{d}/dog/00.png", f"{d}/dog/01.png"]
for i, p in enumerate(files):
    a = np.array(Image.open(p))
    a = a[..., 0] if a.ndim == 3 else a
    assert (f["images"][i, 0] == a).all(), p
EOF
check "prep png-dir: flat folder, one colour PNG -> RGB, no labels" "$DDM" prep --from "png-dir:$TMP/flat" --out "$TMP/flat.h5"
check "png-dir flat: 3 channels, gray replicated, RGBA -> RGB" PY "$TMP/flat.h5" "$TMP/flat" <<'EOF'
import sys, h5py, numpy as np
from PIL import Image
f = h5py.File(sys.argv[1], "r"); d = sys.argv[2]
x = f["images"][:]
assert x.shape == (3, 3, 10, 12) and "labels" not in f and f.attrs["classes"] == 0
g = np.array(Image.open(d + "/a.png")); b = np.array(Image.open(d + "/b.png")); c = np.array(Image.open(d + "/c.png"))
assert all((x[0, k] == g).all() for k in range(3))
assert (x[1] == b.transpose(2, 0, 1)).all() and (x[2] == c[..., :3].transpose(2, 0, 1)).all()
EOF
check "prep png-dir --resize 8 --pad 1 (mixed sizes allowed when resizing)" "$DDM" prep --from "png-dir:$TMP/mixed" --resize 8 --pad 1 --out "$TMP/rs.h5"
check "resize + pad: 2 x 1 x 10 x 10" PY "$TMP/rs.h5" <<'EOF'
import sys, h5py
f = h5py.File(sys.argv[1], "r"); assert f["images"].shape == (2, 1, 10, 10), f["images"].shape
EOF

# ---- under mpirun: rank 0 works, the other waits ---------------------------------------
check "mpirun -n 2 prep" mpirun2 2 "$DDM" prep --from "idx:$TMP/t10k-images-idx3-ubyte,$TMP/t10k-labels-idx1-ubyte" --limit 50 --out "$TMP/mpi.h5"
check "mpirun prep output = serial output" PY "$TMP/mpi.h5" "$TMP/raw.h5" <<'EOF'
import sys, h5py
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
assert (a["images"][:] == b["images"][:50]).all()
EOF

# ---- info on other kinds -----------------------------------------------------------------
PY "$TMP" <<'EOF'
import sys, h5py, numpy as np
t = sys.argv[1]; rng = np.random.default_rng(2); A = np.bytes_
with h5py.File(t + "/ck.h5", "w") as f:           # a checkpoint: 400 tensors in /model
    f.attrs["kind"] = A("checkpoint"); f.attrs["format_version"] = 1; f.attrs["step"] = 1234
    f.attrs["config"] = A("[model]\nch = 32\nch_mult = 1,2,2\n[train]\nbatch = 128\nlr = 2e-4\n")
    f.attrs["rng_state"] = np.arange(32, dtype=np.uint8)
    for i in range(400):
        f[f"model/layer{i:03d}.weight"] = np.zeros((4, 3), np.float32)
    f["ema/a"] = np.zeros(3, np.float32)
with h5py.File(t + "/odd.h5", "w") as f:          # some other kind, h5py's default string attrs
    f.attrs["kind"] = "whatever"; f.attrs["format_version"] = 7; f.attrs["note"] = "héllo"
    f["x"] = np.zeros((2, 2), np.float64)
with h5py.File(t + "/s.h5", "w") as f:            # samples: rows 2 and 5 unfinished
    f.attrs["kind"] = A("samples"); f.attrs["format_version"] = 1; f.attrs["sampler"] = A("ddim")
    f["images"] = rng.integers(0, 256, (8, 3, 16, 16), dtype=np.uint8)
    f["seeds"] = np.arange(40, 48, dtype=np.int64)
    d = np.ones(8, np.uint8); d[[2, 5]] = 0; f["done"] = d
    f["labels"] = (np.arange(8) % 4).astype(np.int32)
with h5py.File(t + "/sweep.h5", "w") as f:        # a sweep: one group per sampler setting
    f.attrs["kind"] = A("samples"); f.attrs["format_version"] = 1
    for g, n in [("ddim-50", 5), ("ddpm-1000", 4)]:
        G = f.create_group(g); G.attrs["steps"] = int(g.split("-")[1])
        G["images"] = rng.integers(0, 256, (n, 1, 8, 8), dtype=np.uint8)
        G["seeds"] = np.arange(n, dtype=np.int64); G["done"] = np.ones(n, np.uint8)
with h5py.File(t + "/s_v2.h5", "w") as f:
    f.attrs["kind"] = A("samples"); f.attrs["format_version"] = 2
with h5py.File(t + "/s_none.h5", "w") as f:
    f.attrs["kind"] = A("samples"); f.attrs["format_version"] = 1
    f["images"] = np.zeros((2, 1, 4, 4), np.uint8); f["seeds"] = np.arange(2); f["done"] = np.zeros(2, np.uint8)
EOF
"$DDM" info "$TMP/ck.h5" >"$TMP/ck.txt" 2>&1
check "info checkpoint: /model/ summarized (400 datasets, 4800 elements)" grep -Eq '^  /model/ +400 datasets, 4800 elements \(float32\)' "$TMP/ck.txt"
check "info checkpoint: config text shown by its first lines" bash -c "grep -q '<text: .* 6 lines>' '$TMP/ck.txt' && grep -q '| ch = 32' '$TMP/ck.txt'"
check "info checkpoint: --all lists all 401" bash -c "[ \$('$DDM' info --all '$TMP/ck.h5' | grep -c 'float32 ') -eq 401 ]"
check "info unknown kind, h5py strings" bash -c "'$DDM' info '$TMP/odd.h5' | grep -q 'kind: whatever, format_version 7'"
check "info samples: 6 of 8 rows done" bash -c "'$DDM' info '$TMP/s.h5' | grep -q '6 of 8 rows done'"
check "info sweep: rows done per group" bash -c "'$DDM' info '$TMP/sweep.h5' | grep -q 'ddim-50 .*5 of 5 rows done' && '$DDM' info '$TMP/sweep.h5' | grep -q 'ddpm-1000 .*4 of 4'"

# ---- export ------------------------------------------------------------------------------
check "export --png-dir and --npz" "$DDM" export --samples "$TMP/s.h5" --png-dir "$TMP/png" --npz "$TMP/s.npz"
cp "$TMP/last.out" "$TMP/export.out"
check "export says how many rows were skipped" grep -q '2 unfinished rows skipped' "$TMP/export.out"
check "export round trip: PNGs by seed and npz arr_0 NHWC + arr_1 equal the done rows" PY "$TMP/s.h5" "$TMP/png" "$TMP/s.npz" <<'EOF'
import sys, os, h5py, numpy as np
from PIL import Image
f = h5py.File(sys.argv[1], "r"); d = f["done"][:] == 1
im, seeds, lab = f["images"][:][d], f["seeds"][:][d], f["labels"][:][d]
assert sorted(os.listdir(sys.argv[2])) == [f"{s:06d}.png" for s in seeds], os.listdir(sys.argv[2])
for x, s in zip(im, seeds):
    assert (np.array(Image.open(f"{sys.argv[2]}/{s:06d}.png")) == x.transpose(1, 2, 0)).all()
z = np.load(sys.argv[3])
assert sorted(z.files) == ["arr_0", "arr_1"] and z["arr_0"].dtype == np.uint8 and z["arr_1"].dtype == np.int32
assert (z["arr_0"] == im.transpose(0, 2, 3, 1)).all() and (z["arr_1"] == lab).all()
EOF
check "export --npz with ZIP64 records" env DDM_NPZ_ZIP64=1 "$DDM" export --samples "$TMP/s.h5" --npz "$TMP/s64.npz"
check "ZIP64 npz loads equal" PY "$TMP/s.npz" "$TMP/s64.npz" <<'EOF'
import sys, zipfile, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
assert (a["arr_0"] == b["arr_0"]).all() and zipfile.ZipFile(sys.argv[2]).testzip() is None
EOF
check "export sweep --group ddpm-1000 (gray, no labels)" "$DDM" export --samples "$TMP/sweep.h5" --group ddpm-1000 --npz "$TMP/g.npz" --png-dir "$TMP/gpng"
check "sweep group npz: (4,8,8,1), gray PNGs" PY "$TMP/sweep.h5" "$TMP/g.npz" "$TMP/gpng" <<'EOF'
import sys, h5py, numpy as np
from PIL import Image
x = h5py.File(sys.argv[1], "r")["ddpm-1000/images"][:]
z = np.load(sys.argv[2]); assert z.files == ["arr_0"] and z["arr_0"].shape == (4, 8, 8, 1)
assert (z["arr_0"][..., 0] == x[:, 0]).all()
assert (np.array(Image.open(sys.argv[3] + "/000003.png")) == x[3, 0]).all()
EOF

# ---- bad input -------------------------------------------------------------------------
O=$TMP/bad.h5
check "prep noise:300,3x8x8 (uniform bytes, no labels)" "$DDM" prep --from noise:300,3x8x8 --out "$TMP/noise.h5"
check "noise: shape, no labels, bytes spread over 0..255, the same file twice" "$PYTHON" -c "
import h5py, numpy as np, subprocess, sys
f = h5py.File('$TMP/noise.h5', 'r'); x = f['images'][()]
assert x.shape == (300, 3, 8, 8) and 'labels' not in f, (x.shape, list(f))
h = np.bincount(x.ravel(), minlength=256)
assert abs(x.mean() - 127.5) < 2 and h.min() > 0, (x.mean(), h.min())
subprocess.run(['$DDM', 'prep', '--from', 'noise:300,3x8x8', '--out', '$TMP/noise2.h5'], check=True, capture_output=True)
assert (h5py.File('$TMP/noise2.h5', 'r')['images'][()] == x).all()"
fails_clean "prep: noise with a bad size" "noise:10,1x0x32: channels must be 1 or 3 and sizes 1..16384" "$O" "$DDM" prep --from noise:10,1x0x32 --out "$O"
fails_clean "prep: noise of 3e9 images says the range (issue 16: said N >= 1)" "noise:3000000000: expected noise:N\\[,CxHxW\\] with N in 1..100000000" "$O" "$DDM" prep --from noise:3000000000 --out "$O"
mkdir -p "$TMP/bomb/c0" && PY "$TMP/bomb/c0/a.png" <<'EOF'
import struct, sys, zlib
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
EOF
fails_clean "prep: a PNG whose header claims 100000x100000 (issue 16: an HDF5 H5Pset_chunk error)" \
    "a.png: the PNG header says 100000x100000 pixels: ddm reads images up to 8192" "$O" "$DDM" prep --from "png-dir:$TMP/bomb" --out "$O"
fails_clean "prep: noise without a count" "expected noise:N\\[,CxHxW\\]" "$O" "$DDM" prep --from noise:abc --out "$O"
cp "$TMP/t10k-images-idx3-ubyte" "$TMP/own.idx"; cksum "$TMP/own.idx" >"$TMP/own.sum"
check_fails "prep: --out naming its own IDX input is refused (issue 16)" "--out .*own.idx is also the images input" \
    "$DDM" prep --from "idx:$TMP/own.idx" --out "$TMP/own.idx"
check "prep: ... and the input is unchanged" bash -c "cksum '$TMP/own.idx' | cmp -s - '$TMP/own.sum'"
fails_clean "prep: missing IDX file" "nope-images: No such file" "$O" "$DDM" prep --from "idx:$TMP/nope-images" --out "$O"
head -c 1000000 $FM/t10k-images-idx3-ubyte.gz >"$TMP/cut-images.gz"
PY "$TMP/bomb-images.gz" <<'EOF'
import gzip, struct, sys
with gzip.open(sys.argv[1], "wb", compresslevel=9) as f:  # 60000 x 4096 x 4096 claimed: 1 TB unpacked
    f.write(struct.pack(">IIII", 0x803, 60000, 4096, 4096))
    f.write(b"\0" * (1 << 22))
EOF
fails_clean "prep: a gzip bomb IDX is refused from its header (issue 16: memory grew with the data)" \
    "bomb-images.gz: the IDX header claims 60000 images of 16777216 bytes \(1006.6 GB unpacked\), more than half this machine's memory" \
    "$O" "$DDM" prep --from "idx:$TMP/bomb-images.gz" --out "$O"
fails_clean "prep: truncated gzip" "cut-images.gz: truncated: expected 7840000 bytes of image data, got [0-9]+" "$O" \
    "$DDM" prep --from "idx:$TMP/cut-images.gz" --out "$O"
head -c 5000000 "$TMP/t10k-images-idx3-ubyte" >"$TMP/cut-images.raw"
fails_clean "prep: truncated raw IDX" "cut-images.raw: truncated: expected 7840000 bytes of image data, got 4999984" "$O" \
    "$DDM" prep --from "idx:$TMP/cut-images.raw" --out "$O"
{ printf '\x00\x00\x0d\x03'; tail -c +5 "$TMP/t10k-images-idx3-ubyte"; } >"$TMP/magic-images"
fails_clean "prep: IDX with a wrong magic" "magic-images: not an IDX images file: magic 0x00000d03" "$O" \
    "$DDM" prep --from "idx:$TMP/magic-images" --out "$O"
fails_clean "prep: labels file given as images" "t10k-labels-idx1-ubyte: is an IDX label file" "$O" \
    "$DDM" prep --from "idx:$TMP/t10k-labels-idx1-ubyte" --out "$O"
fails_clean "prep: label count != image count" "train-labels-idx1-ubyte.gz: holds 60000 labels but .*t10k-images-idx3-ubyte holds 10000 images" "$O" \
    "$DDM" prep --from "idx:$TMP/t10k-images-idx3-ubyte,$FM/train-labels-idx1-ubyte.gz" --out "$O"
fails_clean "prep: PNGs of mixed sizes" "mixed/b.png: is 12x11 pixels but .*mixed/a.png is 12x10" "$O" \
    "$DDM" prep --from "png-dir:$TMP/mixed" --out "$O"
mkdir -p "$TMP/empty"
fails_clean "prep: folder without PNGs" "empty: no PNG files" "$O" "$DDM" prep --from "png-dir:$TMP/empty" --out "$O"
cp "$TMP/cls/dog/00.png" "$TMP/cls-broken.png"; mkdir -p "$TMP/broken/a"
head -c 100 "$TMP/cls-broken.png" >"$TMP/broken/a/x.png"
fails_clean "prep: truncated PNG" "broken/a/x.png: bad PNG" "$O" "$DDM" prep --from "png-dir:$TMP/broken" --out "$O"
fails_clean "prep: output under /proc" "/proc/x.h5: cannot create" /proc/x.h5 "$DDM" prep --from fashion-mnist --split test --out /proc/x.h5
fails_clean "prep: output folder missing" "/nonexistent-ddm/x.h5: cannot create: folder /nonexistent-ddm does not exist" /nonexistent-ddm/x.h5 \
    "$DDM" prep --from fashion-mnist --split test --out /nonexistent-ddm/x.h5
fails_clean "prep: output is a folder" "$TMP/png: is a folder" "$TMP/png.tmp" "$DDM" prep --from fashion-mnist --out "$TMP/png"
fails_clean "prep: --pad -3" "--pad must be 0..4096 pixels, not -3" "$O" "$DDM" prep --from fashion-mnist --pad -3 --out "$O"
fails_clean "prep: --pad abc" "--pad wants a whole number, not 'abc'" "$O" "$DDM" prep --from fashion-mnist --pad abc --out "$O"
fails_clean "prep: --resize -1" "--resize must be" "$O" "$DDM" prep --from fashion-mnist --resize -1 --out "$O"
fails_clean "prep: --limit -5" "--limit must be >= 0" "$O" "$DDM" prep --from fashion-mnist --limit -5 --out "$O"
fails_clean "prep: --split foo" "--split must be train or test, not 'foo'" "$O" "$DDM" prep --from fashion-mnist --split foo --out "$O"
fails_clean "prep: unknown --from scheme" "--from 'ftp:x': unknown source" "$O" "$DDM" prep --from ftp:x --out "$O"
fails_clean "prep: --split with idx:" "--split is only for --from fashion-mnist" "$O" \
    "$DDM" prep --from "idx:$TMP/t10k-images-idx3-ubyte" --split test --out "$O"
fails_clean "prep: unknown option" "unknown option '--padd'" "$O" "$DDM" prep --from fashion-mnist --padd 2 --out "$O"
fails_clean "prep: --out missing" "--out FILE.h5 is required" "$O" "$DDM" prep --from fashion-mnist
# a failed run leaves an existing output untouched
cp "$TMP/raw.h5" "$TMP/keep.h5"; sum0=$(md5sum <"$TMP/keep.h5")
check_fails "prep: failing over an existing output" "cut-images.gz: truncated" "$DDM" prep --from "idx:$TMP/cut-images.gz" --out "$TMP/keep.h5"
check "the existing output is untouched, no temporary left" \
    bash -c "[ \"\$(md5sum <'$TMP/keep.h5')\" = '$sum0' ] && ! compgen -G '$TMP/keep.h5.tmp*' >/dev/null"

check_fails "info: missing file" "nope.h5: No such file" "$DDM" info "$TMP/nope.h5"
check_fails "info: not HDF5" "t10k-labels-idx1-ubyte: not an HDF5 file" "$DDM" info "$TMP/t10k-labels-idx1-ubyte"
check_fails "info: no file given" "give one file" "$DDM" info

N=$TMP/bad.npz
fails_clean "export: a checkpoint file" "ck.h5: is a ddm 'checkpoint' file, expected a 'samples' file" "$N" \
    "$DDM" export --samples "$TMP/ck.h5" --npz "$N"
fails_clean "export: a dataset file" "t.h5: is a ddm 'dataset' file, expected a 'samples' file" "$N" \
    "$DDM" export --samples "$TMP/t.h5" --npz "$N"
fails_clean "export: another format_version" "s_v2.h5: format_version 2, this ddm reads version 1" "$N" \
    "$DDM" export --samples "$TMP/s_v2.h5" --npz "$N"
fails_clean "export: missing samples file" "nope.h5: No such file" "$N" "$DDM" export --samples "$TMP/nope.h5" --npz "$N"
fails_clean "export: not HDF5" "cut-images.gz: not an HDF5 file" "$N" "$DDM" export --samples "$TMP/cut-images.gz" --npz "$N"
fails_clean "export: sweep without --group lists the groups" "sweep.h5: holds 2 sampler groups \(ddim-50, ddpm-1000\): pick one with --group" "$N" \
    "$DDM" export --samples "$TMP/sweep.h5" --npz "$N"
fails_clean "export: unknown --group" "sweep.h5: has no samples group 'ddim-99' \(groups: ddim-50, ddpm-1000\)" "$N" \
    "$DDM" export --samples "$TMP/sweep.h5" --group ddim-99 --npz "$N"
fails_clean "export: nothing finished" "s_none.h5: no finished samples in / \(0 of 2 rows done\)" "$N" \
    "$DDM" export --samples "$TMP/s_none.h5" --npz "$N"
fails_clean "export: no destination" "give --png-dir DIR or --npz" "$N" "$DDM" export --samples "$TMP/s.h5"
fails_clean "export: --npz under /proc" "/proc/x.npz: cannot create" /proc/x.npz "$DDM" export --samples "$TMP/s.h5" --npz /proc/x.npz
fails_clean "export: --npz into a missing folder" "/nonexistent-ddm/x.npz: cannot create" /nonexistent-ddm \
    "$DDM" export --samples "$TMP/s.h5" --npz /nonexistent-ddm/x.npz
check_fails "export: --png-dir under /proc" "/proc/ddm-x: cannot create folder" "$DDM" export --samples "$TMP/s.h5" --png-dir /proc/ddm-x
summary
