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
OUT=${1:-runs/sr3}
[ $# -gt 0 ] && shift
exec "$ROOT/scripts/train_run.sh" "$ROOT/configs/sr3.ini" fmnist-sr3 fmnist-sr3-metrics "$OUT" "${EMA:-0.995}" "$@"
