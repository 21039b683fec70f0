#!/usr/bin/env bash
# Record the golden checksums of tests/t_golden.sh with a given ddm binary and OpenBLAS
# kernel set (the images depend on OpenBLAS's kernels: each set has its own record).
#   tests/golden/record.sh DDM_BINARY CORE     (CORE: SkylakeX, Haswell, Prescott, ...)
# The records in this folder were made with the binary of commit ce3624a, before the
# sampling core was restructured (issue 13): rebuild it in a worktree to add a kernel set.
set -euo pipefail
G=$(cd "$(dirname "$0")" && pwd)
DDM=$1 CORE=$2
T=$(mktemp -d /tmp/ddm-golden.XXXXXX)
trap 'rm -rf "$T"' EXIT
export OPENBLAS_CORETYPE=$CORE OMP_NUM_THREADS=2
$DDM sample --ckpt "$G/vp.h5" --out "$T/vp.h5" --seeds 0-63 --sweep "$G/vp-sweep.ini" --threads 2 --progress-every 0 >/dev/null
$DDM sample --ckpt "$G/ve.h5" --out "$T/ve.h5" --seeds 0-63 --sweep "$G/ve-sweep.ini" --threads 2 --progress-every 0 >/dev/null
{ /usr/bin/python3 "$G/checksums.py" "$T/vp.h5" vp/; /usr/bin/python3 "$G/checksums.py" "$T/ve.h5" ve/; } > "$G/checksums-$CORE.txt"
echo "wrote $G/checksums-$CORE.txt"
