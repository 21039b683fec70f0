#!/usr/bin/env bash
# mpi/shard: the global images (indices, pixels, labels, flips) a run sees over 12 steps
# at global batch 8 are identical with 1, 2 and 4 ranks, and with the cache and
# collective-read variants; each run also checks itself against an independent
# derivation (test_shard read). Then the errors of shard_open, and a timing of the
# read modes (informational).
source "$(dirname "$0")/lib.sh"
T="$ROOT/bin/tests/test_shard"
[ -x "$T" ] || { fail "bin/tests/test_shard not built (make bin/tests/test_shard)"; summary; exit 1; }
cd "$TMP"

# 37 images of 1x4x4: 4 steps per epoch at Bg=8 (5 dropped), so 12 steps cross 2 epoch ends
check "make a 37-image test dataset (deflate chunks of 16 rows)" "$T" gen d.h5 37 1 4
check "1 rank (plain, no mpirun): 12 steps, flips" "$T" read d.h5 o1 8 12 5 flip
check "2 ranks: 12 steps, flips" mpirun2 2 "$T" read d.h5 o2 8 12 5 flip
check "4 ranks: 12 steps, flips" mpirun2 4 "$T" read d.h5 o4 8 12 5 flip
check "2 ranks, --cache" mpirun2 2 "$T" read d.h5 o2k 8 12 5 flip cache
check "4 ranks, collective reads" mpirun2 4 "$T" read d.h5 o4c 8 12 5 flip collective
check "1 rank, no flips, another seed" "$T" read d.h5 n1 8 12 9
check "4 ranks, no flips, another seed" mpirun2 4 "$T" read d.h5 n4 8 12 9
for v in o2 o4 o2k o4c; do
    check "global batches of '$v' == 1 rank (indices, positions, labels, pixels)" cmp o1 "$v"
done
check "... and without flips, 4 ranks == 1 rank" cmp n1 n4
if cmp -s o1 n1; then fail "another seed gives another order"; else ok "another seed gives another order"; fi

"$T" gen s.h5 8 1 4 >/dev/null
"$PYTHON" - <<'PY' || fail "could not make the not-a-dataset file"
import h5py, numpy as np
with h5py.File("k.h5", "w") as f:  # fixed-length ASCII, as ddm writes its strings
    f.attrs["kind"] = np.bytes_("samples"); f.attrs["format_version"] = np.int64(1)
PY
check_fails "wrong image size names file and shapes" \
    "d.h5: images are \[37,1,4,4\], the model wants \[N,1,8,8\]" "$T" open d.h5 1 8 8
check_fails "wrong channels" "images are \[37,1,4,4\], the model wants \[N,3,4,4\]" "$T" open d.h5 3 4 8
check_fails "global batch not divisible by the ranks (4 ranks, Bg=10)" \
    "train.batch = 10 does not split over 4 ranks.*e.g. 8 or 12" mpirun2 4 "$T" open d.h5 1 4 10
check_fails "fewer images than one global batch" \
    "s.h5: holds 8 images, fewer than one global batch \(train.batch = 16\)" "$T" open s.h5 1 4 16
check_fails "not a dataset file" "k.h5: is a ddm 'samples' file, expected a 'dataset' file" \
    "$T" open k.h5 1 4 8
check_fails "missing file" "nope.h5: No such file" mpirun2 2 "$T" open nope.h5 1 4 8

# informational: ms per step of the three read modes (4096 x 1x32x32, chunks of 256 rows)
"$T" gen b.h5 4096 1 32 256 >/dev/null
"$T" bench b.h5 64 20 2>&1 | sed 's/^/    /'
mpirun2 2 "$T" bench b.h5 64 20 2>&1 | grep '^bench' | sed 's/^/    /'
summary
