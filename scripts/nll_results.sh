#!/usr/bin/env bash
# The README's likelihood figures (section "Likelihood", between its nll-results lines):
# the variational bound of the shipped model on the Fashion-MNIST test split in bits/dim,
# with the reverse variance beta~ and beta, its terms and its cost (ddm eval --metrics nll),
# then the even-spacing estimates (--nll-steps K) on the same images, to show what they
# save and what they miss. Each run's JSON line goes to OUT/nll-N-STEPS.jsonl; a run whose
# file exists is not made again. The last step writes OUT/nll.md and the README's section
# (scripts/nll_table.py).
#
# The whole bound costs T = 1000 network evaluations an image: all 10,000 test images are
# 10 million, about a day on 2 cores; choose N (and STEPS) for the time you have.
#
# usage: scripts/nll_results.sh [OUT]             (default results-nll/)
# env:   N=10000       images: the first N of the test split
#        STEPS=1000    network evaluations an image (the model's T: the bound itself;
#                      fewer: the even-spacing estimate)
#        EST="10 100"  estimates on the same images, for comparison ("": none)
#        RANKS=2 THREADS=1 MODEL=models/fmnist-ema.h5 README=README.md (README= : do not touch it)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${1:-$ROOT/results-nll}
N=${N:-10000}
STEPS=${STEPS:-1000}
EST=${EST-10 100}
RANKS=${RANKS:-2}
MODEL=${MODEL:-$ROOT/models/fmnist-ema.h5}
README=${README-$ROOT/README.md}
DDM=$ROOT/bin/ddm
export OMP_NUM_THREADS=${THREADS:-1}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_mpi_yield_when_idle=1
mkdir -p "$OUT"
t0=$(date +%s)
step() { echo; echo "== $* ($(( $(date +%s) - t0 ))s)"; }

step "data: the test split, padded to 32x32"
[ -f "$OUT/fmnist-test.h5" ] || "$DDM" prep --from fashion-mnist --split test --pad 2 --out "$OUT/fmnist-test.h5"

files=()
for K in $STEPS $EST; do
    f=$OUT/nll-$N-$K.jsonl
    files+=("$f")
    [ -s "$f" ] && { echo "== $f exists: kept"; continue; }
    step "the bound of $MODEL on $N images, $K network evaluations an image"
    mpirun -n "$RANKS" --bind-to none "$DDM" eval --metrics nll --model "$MODEL" --data "$OUT/fmnist-test.h5" \
        --max-n "$N" --nll-steps "$K" --out "$f.tmp"
    mv "$f.tmp" "$f"
done

step "table"
/usr/bin/python3 "$ROOT/scripts/nll_table.py" "${files[@]}" --md "$OUT/nll.md" ${README:+--readme "$README"} \
    --run "N=$N STEPS=$STEPS EST=\"$EST\" scripts/nll_results.sh, $RANKS ranks x $OMP_NUM_THREADS thread(s)"
echo "done in $(( $(date +%s) - t0 ))s: $OUT/nll.md"
