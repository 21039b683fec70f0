#!/usr/bin/env bash
# The sampling core's fixed point: every sampler (and option family, and guidance) on two
# committed tiny checkpoints (tests/golden/vp.h5: 100 timesteps; ve.h5: 20 levels; both
# 10 classes), seeds 0-63, must give exactly the images whose checksums
# tests/golden/checksums.txt recorded BEFORE the sampling core was restructured (issue 13).
# A change that moves one pixel of one image fails here. Regenerate checksums.txt only for
# a change meant to alter samples, and say so in the commit.
source "$(dirname "$0")/lib.sh"
G=$ROOT/tests/golden
cd "$TMP"
check "vp sweep (12 settings, 64 seeds) on 2 ranks, batch 16" \
    mpirun2 2 $DDM sample --ckpt "$G/vp.h5" --out vp.h5 --seeds 0-63 --sweep "$G/vp-sweep.ini" --batch 16 --progress-every 0
check "ve sweep (8 settings, 64 seeds) on 1 rank x 2 threads, batch 64" \
    $DDM sample --ckpt "$G/ve.h5" --out ve.h5 --seeds 0-63 --sweep "$G/ve-sweep.ini" --threads 2 --progress-every 0
{ "$PYTHON" "$G/checksums.py" vp.h5 vp/; "$PYTHON" "$G/checksums.py" ve.h5 ve/; } > now.txt 2>&1
while read -r name rest; do
    got=$(grep -E "^$name " now.txt | cut -d' ' -f2-)
    if [ "$got" = "$rest" ]; then ok "$name: byte-identical to the recorded images"
    else fail "$name: recorded '$rest', now '${got:-missing}'"; fi
done < "$G/checksums.txt"
check "no group beyond the recorded ones" test "$(wc -l < now.txt)" -eq "$(wc -l < "$G/checksums.txt")"
summary
