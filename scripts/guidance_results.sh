#!/usr/bin/env bash
# The README's classifier-guidance table (issue 14): the seed's Table 4 (Dhariwal & Nichol
# 2021) on Fashion-MNIST with ddm's own models.
#   rows     the network without its class (the shipped class-conditional model under the
#            null label: it was trained with label dropout 0.1, so it is also an
#            unconditional model) or with it, x classifier guidance none / 1 / 10 toward
#            class = seed % 10 by the noise-aware classifier models/fmnist-noisy-classifier.h5
#   samples  N a row (default 2000), seeds 0..N-1 in every row, DDIM STEPS (default 25)
#   columns  FID, KID, IS, precision, recall and class match, against the 60,000 train
#            images with the evaluation classifier's features (models/fmnist-classifier.h5)
# Sampling resumes: re-running after a kill makes only the missing images. The last step
# writes OUT/guidance.md, docs/guidance.png and the README's section between its
# guidance-results markers (scripts/guidance_table.py).
#
# usage: scripts/guidance_results.sh [OUT]         (default results-guidance/)
# env:   N=2000 STEPS=25 RANKS=2 THREADS=1  MODEL=models/fmnist-ema.h5
#        GUIDE=models/fmnist-noisy-classifier.h5  CLF=models/fmnist-classifier.h5
#        README=README.md (README= : do not touch it)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${1:-$ROOT/results-guidance}
N=${N:-2000}
STEPS=${STEPS:-25}
RANKS=${RANKS:-2}
MODEL=${MODEL:-$ROOT/models/fmnist-ema.h5}
GUIDE=${GUIDE:-$ROOT/models/fmnist-noisy-classifier.h5}
CLF=${CLF:-$ROOT/models/fmnist-classifier.h5}
README=${README-$ROOT/README.md}
DDM=$ROOT/bin/ddm
export OMP_NUM_THREADS=${THREADS:-1}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_mpi_yield_when_idle=1
MPIRUN="mpirun -n $RANKS --bind-to none"
mkdir -p "$OUT"
t0=$(date +%s)
step() { echo; echo "== $* ($(( $(date +%s) - t0 ))s)"; }

step "data: the train split (the reference)"
[ -f "$OUT/fmnist-train.h5" ] || "$DDM" prep --from fashion-mnist --split train --pad 2 --out "$OUT/fmnist-train.h5"

step "samples: 6 rows x $N seeds, DDIM $STEPS, class = seed % 10"
cat >"$OUT/rows.ini" <<INI
[uncond]
model_class = no
[uncond-s1]
model_class = no
classifier_scale = 1
[uncond-s10]
model_class = no
classifier_scale = 10
[cond]
[cond-s1]
classifier_scale = 1
[cond-s10]
classifier_scale = 10
INI
$MPIRUN "$DDM" sample --ckpt "$MODEL" --classifier "$GUIDE" --out "$OUT/rows-$N.h5" \
    --seeds "0-$((N - 1))" --sampler ddim --steps "$STEPS" --class-per-seed --sweep "$OUT/rows.ini" \
    --batch 16 --progress-every 60 --grid "$OUT/rows.png"

step "scores"
R=$OUT/results-$N.jsonl
grep -qF "\"samples\": \"$OUT/rows-$N.h5\"" "$R" 2>/dev/null ||
    $MPIRUN "$DDM" eval --ref "$OUT/fmnist-train.h5" --features "classifier:$CLF" --out "$R" \
        --samples "$OUT/rows-$N.h5"

step "table and picture"
/usr/bin/python3 "$ROOT/scripts/guidance_table.py" "$OUT/rows-$N.h5" "$R" --steps "$STEPS" \
    --md "$OUT/guidance.md" --png "$ROOT/docs/guidance.png" ${README:+--readme "$README"}
echo "done in $(( $(date +%s) - t0 ))s"
