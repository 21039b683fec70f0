#!/usr/bin/env bash
# Every figure of the README's "The shipped model" section, from the shipped files:
#   the floor   FID of the Fashion-MNIST test split against the train split
#   the ceiling FID of uniform noise against the train split
#   DDIM-50 and DDPM-1000 samples of models/fmnist-ema.h5 (one class per seed: seed % 10)
#   classifier-free guidance w = 0, 1, 3 (DDIM-50): FID, IS, class match
# All against the train split, with the features of models/fmnist-classifier.h5, metrics
# FID, KID, IS, precision/recall and class match (the share of samples the classifier
# assigns to the requested class). Sampling resumes: re-running after a kill (or a Slurm
# time limit) makes only the missing images. The last step prints results.md.
#
# usage: scripts/fmnist_results.sh [OUT]          (default results-out/)
# env:   NS=10000        samples of DDIM-50 (and the noise images)
#        NS_DDPM=10000   samples of DDPM (its cost: NS_DDPM x DDPM_STEPS network calls)
#        DDPM_STEPS=1000
#        NS_GUIDE=10000  samples at each guidance weight (w = 1 and 3 cost 2 calls a step)
#        RANKS=2 THREADS=1 (ranks x threads per rank)
#        MODEL=models/fmnist-ema.h5  CLF=models/fmnist-classifier.h5
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${1:-$ROOT/results-out}
NS=${NS:-10000}
NS_DDPM=${NS_DDPM:-10000}
DDPM_STEPS=${DDPM_STEPS:-1000}
NS_GUIDE=${NS_GUIDE:-10000}
RANKS=${RANKS:-2}
MODEL=${MODEL:-$ROOT/models/fmnist-ema.h5}
CLF=${CLF:-$ROOT/models/fmnist-classifier.h5}
DDM=$ROOT/bin/ddm
export OMP_NUM_THREADS=${THREADS:-1}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_mpi_yield_when_idle=1
MPIRUN="mpirun -n $RANKS --bind-to none"
[ "$NS_DDPM" -le "$NS" ] && [ "$NS_GUIDE" -le "$NS" ] || { echo "NS_DDPM and NS_GUIDE must be <= NS" >&2; exit 2; }
mkdir -p "$OUT"
R=$OUT/results.jsonl
t0=$(date +%s)
step() { echo; echo "== $* ($(( $(date +%s) - t0 ))s)"; }
ev() { $MPIRUN "$DDM" eval --ref "$OUT/fmnist-train.h5" --features "classifier:$CLF" --out "$R" "$@"; }

step "1. data: the train and test splits (padded to 32x32), $NS noise images"
[ -f "$OUT/fmnist-train.h5" ] || "$DDM" prep --from fashion-mnist --split train --pad 2 --out "$OUT/fmnist-train.h5"
[ -f "$OUT/fmnist-test.h5" ] || "$DDM" prep --from fashion-mnist --split test --pad 2 --out "$OUT/fmnist-test.h5"
[ -f "$OUT/noise.h5" ] || "$DDM" prep --from noise:"$NS",1x32x32 --out "$OUT/noise.h5"
: >"$R"

step "2. the floor: the 10,000 test images against the train split"
ev --samples "$OUT/fmnist-test.h5"
step "3. the ceiling: $NS noise images against the train split"
ev --samples "$OUT/noise.h5"

step "4. DDIM 50 steps, seeds 0-$((NS - 1)), class = seed % 10"
$MPIRUN "$DDM" sample --ckpt "$MODEL" --out "$OUT/ddim50.h5" --seeds 0-$((NS - 1)) --sampler ddim --steps 50 \
    --class-per-seed --batch 32 --grid "$OUT/ddim50.png" --progress-every 60
ev --samples "$OUT/ddim50.h5"

step "5. classifier-free guidance w = 1, 3 (DDIM 50), seeds 0-$((NS_GUIDE - 1)); w = 0 is step 4's file"
cat >"$OUT/guidance.ini" <<EOF
[ddim-50-w1]
sampler = ddim
steps = 50
guidance = 1
class = per_seed

[ddim-50-w3]
sampler = ddim
steps = 50
guidance = 3
class = per_seed
EOF
$MPIRUN "$DDM" sample --ckpt "$MODEL" --out "$OUT/guidance.h5" --seeds 0-$((NS_GUIDE - 1)) \
    --sweep "$OUT/guidance.ini" --batch 32 --grid "$OUT/guidance.png" --progress-every 60
if [ "$NS_GUIDE" -lt "$NS" ]; then ev --samples "$OUT/ddim50.h5" --max-n "$NS_GUIDE"; fi
ev --samples "$OUT/guidance.h5"

step "6. DDPM $DDPM_STEPS steps, seeds 0-$((NS_DDPM - 1))"
$MPIRUN "$DDM" sample --ckpt "$MODEL" --out "$OUT/ddpm.h5" --seeds 0-$((NS_DDPM - 1)) --sampler ddpm \
    --steps "$DDPM_STEPS" --class-per-seed --batch 16 --grid "$OUT/ddpm.png" --progress-every 60
ev --samples "$OUT/ddpm.h5"
# like for like: DDIM-50 on the same seeds (FID falls with the sample count)
if [ "$NS_DDPM" -lt "$NS" ]; then ev --samples "$OUT/ddim50.h5" --max-n "$NS_DDPM"; fi

step "done in $(( $(date +%s) - t0 ))s: $R, the table $OUT/results.md"
/usr/bin/python3 "$ROOT/scripts/results_table.py" "$R" "$OUT/results.md"
cat "$OUT/results.md"
