#!/usr/bin/env bash
# The sampling core's fixed point: every sampler (and option family, and guidance) on two
# committed tiny checkpoints (tests/golden/vp.h5: 100 timesteps; ve.h5: 20 levels; both
# 10 classes), seeds 0-63, must give exactly the images whose checksums
# tests/golden/checksums-CORE.txt recorded with the binary from BEFORE the sampling core was
# restructured (issue 13; tests/golden/record.sh), one record per OpenBLAS kernel set CORE
# (bin/ddm --version names the one in use: the images depend on it). A change that moves
# one pixel of one image fails here. Re-record only for a change meant to alter samples.
source "$(dirname "$0")/lib.sh"
G=$ROOT/tests/golden
cd "$TMP"
CORE=$($DDM --version | sed -n 's/.*OpenBLAS kernels: \([A-Za-z0-9]*\).*/\1/p')
REC=$G/checksums-$CORE.txt
if [ -f "$REC" ]; then ok "OpenBLAS kernels $CORE: the record $(basename "$REC")"
else fail "no golden record for OpenBLAS kernels '$CORE': make one with tests/golden/record.sh and the binary of commit ce3624a"; summary; exit 1; fi
check "vp sweep (12 settings, 64 seeds) on 2 ranks, batch 16" \
    mpirun2 2 $DDM sample --ckpt "$G/vp.h5" --out vp.h5 --seeds 0-63 --sweep "$G/vp-sweep.ini" --batch 16 --progress-every 0
check "ve sweep (8 settings, 64 seeds) on 1 rank x 2 threads, batch 64" \
    $DDM sample --ckpt "$G/ve.h5" --out ve.h5 --seeds 0-63 --sweep "$G/ve-sweep.ini" --threads 2 --progress-every 0
{ "$PYTHON" "$G/checksums.py" vp.h5 vp/; "$PYTHON" "$G/checksums.py" ve.h5 ve/; } > now.txt 2>&1
while read -r name rest; do
    got=$(grep -E "^$name " now.txt | cut -d' ' -f2-)
    if [ "$got" = "$rest" ]; then ok "$name: byte-identical to the recorded images"
    else fail "$name: recorded '$rest', now '${got:-missing}'"; fi
done < "$REC"
check "no group beyond the recorded ones" test "$(wc -l < now.txt)" -eq "$(wc -l < "$REC")"
summary
