#!/usr/bin/env bash
# How models/fmnist-noisy-classifier.h5 was made: configs/noisy-classifier.ini (the
# noise-aware classifier of classifier guidance, on the shipped model's cosine schedule)
# trained on the Fashion-MNIST train split, 2 ranks x 1 thread, 3000 steps of 64 (about
# 18 minutes on 2 cores), its EMA 0.999 weights slimmed into OUT/fmnist-noisy-classifier.h5
# and the log into OUT/fmnist-noisy-classifier-metrics.jsonl (copy both into models/).
#   scripts/train_noisy_classifier.sh [OUT]     (default runs/noisy-classifier)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
exec "$ROOT/scripts/train_run.sh" "$ROOT/configs/noisy-classifier.ini" fmnist-noisy-classifier \
    fmnist-noisy-classifier-metrics "${1:-$ROOT/runs/noisy-classifier}" 0.999
