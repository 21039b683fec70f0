#!/usr/bin/env bash
# The FID Inception of `ddm eval --features inception:WEIGHTS.h5` (core/inception.c,
# io/inception_io.c) against its PyTorch definition (tests/ref/inception_ref.py):
#  - tests/ref/make_inception_ref.py writes random weights (~96 MB, into $TMP only) and the
#    float64 PyTorch features of 4 images (2 gray 32x32, RGB 40x40, RGB 307x301);
#    bin/tests/test_inception compares: |C - ref| <= 2e-4 max|ref| + 1e-3 |ref| per case
#  - the .pth path of tests/ref/convert_inception.py (the one a user runs on pytorch-fid's
#    pt_inception-2015-12-05-6726825d.pth, which is not on this machine): the random
#    state_dict saved as a .pth converts back to the same datasets
#  - bad weights files fail with a message naming the file and the problem.
# 2 threads; about a minute on 2 busy cores, most of it PyTorch's float64 forward.
source "$(dirname "$0")/lib.sh"
BIN="$ROOT/bin/tests/test_inception"
export OMP_NUM_THREADS=2
t0=$(date +%s)

if [ ! -x "$BIN" ]; then
    fail "bin/tests/test_inception is not built (make bin/tests/test_inception)"
    summary; exit
fi

# ---- references -----------------------------------------------------------------------
if "$PYTHON" "$ROOT/tests/ref/make_inception_ref.py" "$TMP/inc" 1 >"$TMP/ref.log" 2>&1; then
    ok "PyTorch references written ($(( $(date +%s) - t0 ))s)"
    sed 's/^/    /' "$TMP/ref.log"
else
    fail "tests/ref/make_inception_ref.py failed"; sed 's/^/    | /' "$TMP/ref.log" | tail -20
    summary; exit
fi
W="$TMP/inc/weights.h5"

# ---- C features against PyTorch -------------------------------------------------------
t=$(date +%s)
"$BIN" "$W" "$TMP/inc/ref.h5" >"$TMP/cmp.log" 2>&1
rc=$?
sed -n 's/^\(ok\|FAIL\|     case\)/    &/p' "$TMP/cmp.log"
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$TMP/cmp.log" | tail -1)
if [ $rc -eq 0 ] && [ -n "$line" ] && ! grep -q '^FAIL' "$TMP/cmp.log"; then
    ok "features = PyTorch: $line ($(( $(date +%s) - t ))s)"
else
    fail "features vs PyTorch (exit $rc)"
    grep -vE '^(ok|FAIL) ' "$TMP/cmp.log" | sed 's/^/    | /' | tail -15
fi

# ---- the .pth conversion path ---------------------------------------------------------
# weights.h5 -> a state_dict .pth (with num_batches_tracked, as torchvision saves them)
# -> convert_inception.py -> every dataset equal to weights.h5's
"$PYTHON" - "$W" "$TMP/fake.pth" <<'EOF' >"$TMP/pth.log" 2>&1
import sys, h5py, torch
sd = {}
with h5py.File(sys.argv[1], "r") as f:
    for k, v in f["inception"].items():
        sd[k] = torch.from_numpy(v[()])
        if k.endswith(".bn.running_var"):
            sd[k.replace("running_var", "num_batches_tracked")] = torch.tensor(0)
torch.save(sd, sys.argv[2])
EOF
check "convert_inception.py: a state_dict .pth converts" \
    "$PYTHON" "$ROOT/tests/ref/convert_inception.py" "$TMP/fake.pth" "$TMP/conv.h5"
grep -q "sha256 .* does not start with 6726825d" "$TMP/last.out" &&
    ok "convert_inception.py warns when the .pth is not pytorch-fid's file (sha256 prefix)" ||
    fail "convert_inception.py: no sha256 warning for a foreign .pth"
check "converted .pth = the original datasets (472, bit for bit), kind and source set" \
    "$PYTHON" - "$W" "$TMP/conv.h5" <<'EOF'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
assert b.attrs["kind"] == "inception_weights" and b.attrs["format_version"] == 1
assert "pytorch-fid" in b.attrs["source"], b.attrs["source"]
ka, kb = sorted(a["inception"]), sorted(b["inception"])
assert ka == kb and len(ka) == 472, (len(ka), len(kb))
for k in ka:
    x, y = a["inception"][k][()], b["inception"][k][()]
    assert x.dtype == y.dtype == np.float32 and np.array_equal(x, y), k
EOF
check "the converted file loads" "$BIN" --load "$TMP/conv.h5"
"$PYTHON" - "$TMP/bad.pth" <<'EOF' >/dev/null 2>&1
import sys, torch
torch.save({"conv1.weight": torch.zeros(3)}, sys.argv[1])
EOF
check_fails "convert_inception.py: a .pth of another network" "not pytorch-fid's FID Inception" \
    "$PYTHON" "$ROOT/tests/ref/convert_inception.py" "$TMP/bad.pth" "$TMP/bad.h5"

# ---- bad weights files ----------------------------------------------------------------
"$PYTHON" - "$TMP" <<'EOF'
import sys, h5py, numpy as np
d = sys.argv[1]
with h5py.File(f"{d}/ckpt.h5", "w") as f:
    f.attrs["kind"] = "checkpoint"; f.attrs["format_version"] = 1
with h5py.File(f"{d}/empty.h5", "w") as f:
    f.attrs["kind"] = "inception_weights"; f.attrs["format_version"] = 1
with h5py.File(f"{d}/shape.h5", "w") as f:
    f.attrs["kind"] = "inception_weights"; f.attrs["format_version"] = 1
    f["inception/Conv2d_1a_3x3.conv.weight"] = np.zeros((32, 1, 3, 3), np.float32)
open(f"{d}/junk.h5", "wb").write(b"not hdf5 at all\n" * 8)
EOF
check_fails "missing weights file" "nope.h5: [Nn]o such file" "$BIN" --load "$TMP/nope.h5"
check_fails "not an HDF5 file" "junk.h5: not an HDF5 file" "$BIN" --load "$TMP/junk.h5"
check_fails "a checkpoint instead of weights" "expected a 'inception_weights' file" \
    "$BIN" --load "$TMP/ckpt.h5"
check_fails "a tensor missing" "has no dataset '/inception/Conv2d_1a_3x3.conv.weight'" \
    "$BIN" --load "$TMP/empty.h5"
check_fails "a tensor of the wrong shape" \
    "Conv2d_1a_3x3.conv.weight' has shape \[32,1,3,3\], expected \[32,3,3,3\]" \
    "$BIN" --load "$TMP/shape.h5"
"$PYTHON" -c "
import h5py, sys
with h5py.File(sys.argv[1], 'r+') as f:
    f['inception/Mixed_6c.branch7x7_2.bn.running_var'][5] = -1.0
" "$W"
check_fails "a negative running_var" "Mixed_6c.branch7x7_2: channel 5 .*running_var \+ eps <= 0" \
    "$BIN" --load "$W"

echo "($(( $(date +%s) - t0 ))s)"
summary
