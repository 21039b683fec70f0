#!/usr/bin/env bash
# Train the shipped SR3 super-resolution model (models/fmnist-sr3.h5) the way it was made:
# the Fashion-MNIST train split padded to 32x32, configs/sr3.ini (condition = the image
# degraded by 2 or 4), 2 ranks x 1 thread, then the EMA copy of the last checkpoint slimmed
# into one small file.
#
#   scripts/train_sr3.sh [OUT_DIR] [extra 'ddm train' options, e.g. --set train.max_steps=100]
#     OUT_DIR   the data file, the run folder OUT_DIR/run and OUT_DIR/fmnist-sr3.h5 (default runs/sr3)
#   environment: RANKS (2), OMP_NUM_THREADS (1 per rank), EMA (the EMA rate shipped, 0.995,
#                or raw: the raw weights)
#
# Resumes by itself (ddm train does): rerun the same command after an interruption (a
# SIGTERM/SIGUSR1 checkpoints and exits 99). Then, e.g.:
#   ddm prep --from fashion-mnist --split test --pad 2 --limit 64 --out truth.h5
#   ddm sample --ckpt OUT_DIR/fmnist-sr3.h5 --task superres --scale 4 --input truth.h5 \
#       --seeds 0 --out sr4.h5
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DDM=${DDM:-$ROOT/bin/ddm}
OUT=${1:-runs/sr3}
[ $# -gt 0 ] && shift
RANKS=${RANKS:-2}
EMA=${EMA:-0.995}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mkdir -p "$OUT"
t0=$(date +%s)
[ -f "$OUT/fmnist-train.h5" ] || "$DDM" prep --from fashion-mnist --split train --pad 2 --out "$OUT/fmnist-train.h5"
mpirun -n "$RANKS" --bind-to none "$DDM" train --data "$OUT/fmnist-train.h5" --out "$OUT/run" \
    --config "$ROOT/configs/sr3.ini" --cache "$@"
ckpt=$(ls "$OUT"/run/ckpt-*.h5 | sort | tail -1)
if [ "$EMA" = raw ]; then pick=(--raw); else pick=(--ema "$EMA"); fi
/usr/bin/python3 "$ROOT/scripts/slim_ckpt.py" "$ckpt" "$OUT/fmnist-sr3.h5" "${pick[@]}"
cp "$OUT/run/metrics.jsonl" "$OUT/fmnist-sr3-metrics.jsonl"
echo "== done in $(( $(date +%s) - t0 ))s: $OUT/fmnist-sr3.h5 (${pick[*]} of $ckpt), $OUT/fmnist-sr3-metrics.jsonl"
