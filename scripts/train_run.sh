#!/usr/bin/env bash
# The steps every shipped diffusion model was made by (scripts/train_fmnist.sh,
# scripts/train_sr3.sh call it): the Fashion-MNIST train split padded to 32x32, CONFIG
# trained on RANKS ranks x OMP_NUM_THREADS threads into OUT/run (resumes by itself: rerun
# after an interruption; a SIGTERM/SIGUSR1 checkpoints and exits 99), then the chosen
# weights of the last checkpoint slimmed into OUT/NAME.h5 and the training log copied to
# OUT/LOG.jsonl.
#
#   scripts/train_run.sh CONFIG NAME LOG OUT EMA [extra 'ddm train' options]
#     EMA   the EMA rate kept (e.g. 0.999), or raw: the raw weights
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DDM=${DDM:-$ROOT/bin/ddm}
CONFIG=$1 NAME=$2 LOG=$3 OUT=$4 EMA=$5
shift 5
RANKS=${RANKS:-2}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mkdir -p "$OUT"
t0=$(date +%s)
[ -f "$OUT/fmnist-train.h5" ] || "$DDM" prep --from fashion-mnist --split train --pad 2 --out "$OUT/fmnist-train.h5"
mpirun -n "$RANKS" --bind-to none "$DDM" train --data "$OUT/fmnist-train.h5" --out "$OUT/run" \
    --config "$CONFIG" --cache "$@"
ckpt=$(ls "$OUT"/run/ckpt-*.h5 | sort | tail -1)
if [ "$EMA" = raw ]; then pick=(--raw); else pick=(--ema "$EMA"); fi
/usr/bin/python3 "$ROOT/scripts/slim_ckpt.py" "$ckpt" "$OUT/$NAME.h5" "${pick[@]}"
cp "$OUT/run/metrics.jsonl" "$OUT/$LOG.jsonl"
echo "== done in $(( $(date +%s) - t0 ))s: $OUT/$NAME.h5 (${pick[*]} of $ckpt), $OUT/$LOG.jsonl"
