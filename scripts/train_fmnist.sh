#!/usr/bin/env bash
# Train the shipped Fashion-MNIST diffusion model (models/fmnist-ema.h5) the way it was
# made: the train split padded to 32x32, configs/fmnist.ini, 2 ranks x 1 thread, then the
# chosen EMA copy of the last checkpoint slimmed into one small file.
#
#   scripts/train_fmnist.sh [OUT_DIR] [extra 'ddm train' options, e.g. --set train.max_steps=100]
#     OUT_DIR   the data file, the run folder OUT_DIR/run and OUT_DIR/fmnist-ema.h5 (default runs/fmnist)
#   environment: RANKS (2), OMP_NUM_THREADS (1 per rank), EMA (the EMA rate shipped, 0.999)
#
# Resumes by itself (ddm train does): rerun the same command after an interruption (a
# SIGTERM/SIGUSR1 checkpoints and exits 99). At ~80 images/s on 2 idle cores the 5,500
# steps of configs/fmnist.ini (352,000 images, 5.9 epochs) take about 75 minutes.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-runs/fmnist}
[ $# -gt 0 ] && shift
exec "$ROOT/scripts/train_run.sh" "$ROOT/configs/fmnist.ini" fmnist-ema fmnist-metrics "$OUT" "${EMA:-0.999}" "$@"
