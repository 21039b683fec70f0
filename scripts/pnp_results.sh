#!/usr/bin/env bash
# The README's plug-and-play priors figures (issue 14): the seed's Algorithm 1 (Graikos et
# al. 2022) with the shipped model as the prior, under the null label (the network does not
# see the class; it was trained with label dropout, so it is an unconditional model too).
#   class    the constraint log c(x, y) = log p(y | x) of the clean evaluation classifier
#            (models/fmnist-classifier.h5: "models trained on data without Gaussian
#            noise"), N images (default 100), class = seed % 10; class match scored by the
#            same classifier
#   inpaint  known pixels under the centre mask (the constraint: c is their indicator, set
#            after every step by --task repaint --resample 1), NI test images x 2 seeds
# Both: STEPS (200) steps, lr LR (0.15), t from T_START (0.98) to T_END (0.05) x T, the
# prior term weighted by sqrt(1-ab)/(2 sqrt(ab)) (prior_weight sigma), SCALE (2) on log p.
# Writes OUT/pnp.md, docs/pnp.png and the README's section between its pnp-results
# markers (scripts/pnp_table.py). Sampling resumes after a kill.
#
# usage: scripts/pnp_results.sh [OUT]          (default results-pnp/)
# env:   N=100 NI=8 STEPS=200 LR=0.15 T_START=0.98 T_END=0.05 SCALE=2 RANKS=2 THREADS=1
#        MODEL=models/fmnist-ema.h5 CLF=models/fmnist-classifier.h5 README=README.md
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${1:-$ROOT/results-pnp}
N=${N:-100}
NI=${NI:-8}
STEPS=${STEPS:-200}
LR=${LR:-0.15}
T_START=${T_START:-0.98}
T_END=${T_END:-0.05}
SCALE=${SCALE:-2}
RANKS=${RANKS:-2}
MODEL=${MODEL:-$ROOT/models/fmnist-ema.h5}
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
PNP=(--sampler pnp --steps "$STEPS" --lr "$LR" --t-start "$T_START" --t-end "$T_END" --batch 8 --progress-every 60)

step "data: the train split (the reference), $NI test images, the centre mask"
[ -f "$OUT/fmnist-train.h5" ] || "$DDM" prep --from fashion-mnist --split train --pad 2 --out "$OUT/fmnist-train.h5"
[ -f "$OUT/test-$NI.h5" ] || "$DDM" prep --from fashion-mnist --split test --pad 2 --limit "$NI" --out "$OUT/test-$NI.h5"
[ -f "$OUT/centre.h5" ] || "$DDM" prep --from mask:centre,1 --out "$OUT/centre.h5"

step "class constraint: $N images, class = seed % 10, scale $SCALE"
$MPIRUN "$DDM" sample --ckpt "$MODEL" --out "$OUT/class-$N.h5" --seeds "0-$((N - 1))" \
    --class-per-seed --model-class no --prior-classifier "$CLF" --classifier-scale "$SCALE" "${PNP[@]}"
step "known-pixel constraint: $NI images x 2 seeds"
$MPIRUN "$DDM" sample --ckpt "$MODEL" --out "$OUT/inpaint-$NI.h5" --seeds 0-1 --task repaint \
    --resample 1 --input "$OUT/test-$NI.h5" --mask "$OUT/centre.h5" "${PNP[@]}"

step "scores"
R=$OUT/results.jsonl
grep -qF "\"samples\": \"$OUT/class-$N.h5\"" "$R" 2>/dev/null ||
    $MPIRUN "$DDM" eval --ref "$OUT/fmnist-train.h5" --features "classifier:$CLF" --out "$R" \
        --samples "$OUT/class-$N.h5" --metrics fid,is
step "table and picture"
/usr/bin/python3 "$ROOT/scripts/pnp_table.py" --class-file "$OUT/class-$N.h5" \
    --inpaint-file "$OUT/inpaint-$NI.h5" --inputs "$OUT/test-$NI.h5" --results "$R" \
    --md "$OUT/pnp.md" --png "$ROOT/docs/pnp.png" ${README:+--readme "$README"}
echo "done in $(( $(date +%s) - t0 ))s"
