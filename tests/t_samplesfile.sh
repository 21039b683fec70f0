#!/usr/bin/env bash
# io/samples under MPI: a 2-group samples file written with rows interleaved over 2 and 4
# ranks equals the one written by 1 rank; a job killed mid-run (MPI_Abort after some
# collective writes) resumes, at the same or another rank count, to the same datasets
# and attributes; a finished file resumes to a no-op; a changed setting, seed list or
# checkpoint is refused with a message naming the file and the difference.
source "$(dirname "$0")/lib.sh"
T="$ROOT/bin/tests/test_shard"
[ -x "$T" ] || { fail "bin/tests/test_shard not built (make bin/tests/test_shard)"; summary; exit 1; }
cd "$TMP"

# same FILE_A FILE_B: every dataset and attribute of both files equal; every row done,
# its pixels and label the function of its seed that test_shard writes
same() {
    "$PYTHON" - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
bad = []
def attrs(x, y, where):
    if sorted(x.attrs) != sorted(y.attrs): bad.append(f"{where}: attribute names {sorted(x.attrs)} vs {sorted(y.attrs)}")
    for k in x.attrs:
        if k in y.attrs and not np.array_equal(np.asarray(x.attrs[k]), np.asarray(y.attrs[k])):
            bad.append(f"{where}: attribute {k}: {x.attrs[k]!r} vs {y.attrs[k]!r}")
attrs(a, b, "/")
if sorted(a) != sorted(b): bad.append(f"groups {sorted(a)} vs {sorted(b)}")
for g in a:
    attrs(a[g], b[g], g)
    for d in ("images", "seeds", "labels", "done"):
        x, y = a[g][d], b[g][d]
        if x.dtype != y.dtype or x.shape != y.shape or not np.array_equal(x[()], y[()]):
            bad.append(f"{g}/{d} differs ({x.dtype}{x.shape} vs {y.dtype}{y.shape})")
    seeds = a[g]["seeds"][()].astype(np.int64)
    n, c, h, w = a[g]["images"].shape
    want = ((seeds[:, None] * 131 + np.arange(c * h * w)[None, :] * 17) & 255).astype(np.uint8)
    if not np.array_equal(a[g]["images"][()].reshape(n, -1), want): bad.append(f"{g}/images are not those of the seeds")
    if not np.array_equal(a[g]["labels"][()], seeds % 10): bad.append(f"{g}/labels are not those of the seeds")
    if not a[g]["done"][()].all(): bad.append(f"{g}: {int((a[g]['done'][()] == 0).sum())} rows not done")
print("\n".join(bad) if bad else f"identical: {', '.join(sorted(a))}")
sys.exit(1 if bad else 0)
PY
}
# partial FILE: some but not all rows done
partial() {
    "$PYTHON" - "$1" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
d = {g: int(f[g]["done"][()].sum()) for g in f}
n = sum(f[g]["done"].shape[0] for g in f)
print("done per group:", d)
sys.exit(0 if 0 < sum(d.values()) < n else 1)
PY
}

check "1 rank (plain): 2 groups x 23 rows" "$T" samples a.h5 50 23
"$PYTHON" - <<'PY' && ok "layout: groups ddim-50-eta0 and ddpm-100-c3, images u8 [23,1,4,5] chunked by rows, seeds i64, labels i32, done u8, attributes" || fail "layout"
import h5py, numpy as np
f = h5py.File("a.h5", "r")
assert f.attrs["kind"] == b"samples" and f.attrs["checkpoint_step"] == 100 and "config" in f.attrs
assert sorted(f) == ["ddim-50-eta0", "ddpm-100-c3"], sorted(f)
g = f["ddim-50-eta0"]
assert g["images"].dtype == np.uint8 and g["images"].shape == (23, 1, 4, 5) and g["images"].chunks == (23, 1, 4, 5)
assert g["seeds"].dtype == np.int64 and g["labels"].dtype == np.int32 and g["done"].dtype == np.uint8
for k, v in dict(sampler=b"ddim", steps=50, eta=0.0, guidance=0.0, nfe=50, settings=b"skip=uniform clip=1").items():
    assert g.attrs[k] == v, (k, g.attrs[k])
assert f["ddpm-100-c3"].attrs["class"] == 3 and f["ddpm-100-c3"].attrs["eta"] == -1
PY
check "2 ranks, rows interleaved" mpirun2 2 "$T" samples b.h5 50 23
check "4 ranks, rows interleaved (23 rows: uneven)" mpirun2 4 "$T" samples c.h5 50 23
check "2 ranks == 1 rank (datasets and attributes)" same a.h5 b.h5
check "4 ranks == 1 rank" same a.h5 c.h5

check_fails "2 ranks killed after 3 collective writes" "stopping after 3 collective writes" \
    mpirun2 2 "$T" samples d.h5 50 23 3
check "the killed file holds some rows, not all" partial d.h5
check "resume at 2 ranks" mpirun2 2 "$T" samples d.h5 50 23
check "resumed (2 ranks) == uninterrupted" same a.h5 d.h5
check_fails "2 ranks killed in the second group (after 6 writes)" "stopping after 6" \
    mpirun2 2 "$T" samples e.h5 50 23 6
check "resume at 1 rank" "$T" samples e.h5 50 23
check "resumed (2 -> 1 rank) == uninterrupted" same a.h5 e.h5
check_fails "1 rank killed after 2 writes" "stopping after 2" "$T" samples f.h5 50 23 2
check "resume at 4 ranks" mpirun2 4 "$T" samples f.h5 50 23
check "resumed (1 -> 4 ranks) == uninterrupted" same a.h5 f.h5
"$T" samples a.h5 50 23 >"$TMP/again.out" 2>&1
if grep -q "ddim-50-eta0: 0 of 23 rows to do" "$TMP/again.out" && grep -q "ddpm-100-c3: 0 of 23" "$TMP/again.out"; then
    ok "a finished file resumes to nothing to do"; else fail "a finished file resumes to nothing to do"; cat "$TMP/again.out"; fi
check "... and is unchanged" same b.h5 a.h5

check_fails "another steps in the same group" \
    "a.h5: group ddim-50-eta0 was made with steps=50, this run asks steps=20; use another --out" \
    "$T" samples a.h5 20 23 0 ddim-50-eta0
check_fails "another setting in the settings text" \
    "group ddim-50-eta0 was made with skip=uniform, this run asks skip=quadratic" \
    mpirun2 2 "$T" samples a.h5 50 23 0 ddim-50-eta0 "clip=1 skip=quadratic"
check "the same settings words in another order are the same setting" \
    "$T" samples a.h5 50 23 0 ddim-50-eta0 "clip=1  skip=uniform"
check_fails "another seed list" "group ddim-50-eta0 holds 23 rows \(seeds 1000..1022\), this run asks 24" \
    "$T" samples a.h5 50 24
check_fails "another checkpoint" "a.h5: was made from checkpoint step 100 .*this run uses step 200" \
    env TS_CKPT_STEP=200 "$T" samples a.h5 50 23
"$T" gen ds.h5 8 1 4 >/dev/null
check_fails "not a samples file" "ds.h5: is a ddm 'dataset' file, expected a 'samples' file" \
    "$T" samples ds.h5 50 23
check "refused runs left the file as it was" same b.h5 a.h5
summary
