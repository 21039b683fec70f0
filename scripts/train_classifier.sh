#!/usr/bin/env bash
# Train the evaluation classifier of `ddm eval --features classifier:RUN_DIR` on the full
# Fashion-MNIST train split (60000 images, padded to 32x32), then print its accuracy on the
# 10000 test images, for the trained weights and for their EMA (target: >= 90%).
#
#   scripts/train_classifier.sh [OUT_DIR] [extra 'ddm train' options...]
#     OUT_DIR   where the data files and the run folder go (default: runs/classifier)
#   environment: STEPS (default 8000), BATCH (128), LR (2e-3), RANKS (1; > 1 runs under
#   mpirun), OMP_NUM_THREADS (threads per rank).
#
# Resumes by itself (ddm train does): rerun after an interruption. The run folder
# OUT_DIR/run is what --features classifier: takes; use --ema 0.999 in ddm eval for the
# EMA weights when they score better (this script prints both).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DDM=${DDM:-$ROOT/bin/ddm}
OUT=${1:-runs/classifier}
[ $# -gt 0 ] && shift
STEPS=${STEPS:-8000}
BATCH=${BATCH:-128}
LR=${LR:-2e-3}
RANKS=${RANKS:-1}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
run() {
    if [ "$RANKS" -gt 1 ]; then mpirun -n "$RANKS" --bind-to none "$DDM" "$@"; else "$DDM" "$@"; fi
}
mkdir -p "$OUT"
t0=$(date +%s)
[ -f "$OUT/train.h5" ] || "$DDM" prep --from fashion-mnist --split train --pad 2 --out "$OUT/train.h5"
[ -f "$OUT/test.h5" ] || "$DDM" prep --from fashion-mnist --split test --pad 2 --out "$OUT/test.h5"
run train --task classifier --data "$OUT/train.h5" --out "$OUT/run" \
    --set model.num_classes=10 --set train.batch="$BATCH" --set train.max_steps="$STEPS" \
    --set train.lr="$LR" --set train.warmup=200 --set train.flip=1 --set train.ema=0.999 \
    --set train.log_every=100 --set train.ckpt_every=500 --set train.keep=2 --cache "$@"
echo "== accuracy on the test split"
run eval --task accuracy --features "classifier:$OUT/run" --ref "$OUT/test.h5"
run eval --task accuracy --features "classifier:$OUT/run" --ref "$OUT/test.h5" --ema 0.999
echo "== done in $(( $(date +%s) - t0 ))s; use: ddm eval --features classifier:$OUT/run ..."
