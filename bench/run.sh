#!/usr/bin/env bash
# make bench: ddm against the PyTorch reference on the reference U-Net, in one run.
#   BENCH_REPS=3 (alternating rounds)  BENCH_THREADS=$(nproc)  BENCH_INNER=5 (timed steps per process)
# Prints one table and writes bench/results.json (bench/report.py does both).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-/usr/bin/python3}
REPS=${BENCH_REPS:-3}
T=${BENCH_THREADS:-$(nproc)}
INNER=${BENCH_INNER:-5}
OUT=${BENCH_DIR:-$(mktemp -d /tmp/ddm-bench.XXXXXX)}
mkdir -p "$OUT"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl=self,vader,tcp OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_mpi_yield_when_idle=1
RAW=$OUT/raw.jsonl
: > "$RAW"
echo "bench: $REPS alternating rounds, $T threads each side, raw figures in $RAW"
# time -v gives each process's peak resident set (the C side reports its own too)
for r in $(seq "$REPS"); do
    echo "bench: round $r/$REPS"
    OMP_NUM_THREADS=$T bin/bench/bench_unet train --reps "$INNER" --threads "$T" >> "$RAW"
    OMP_NUM_THREADS=$T "$PYTHON" bench/torch_ref.py train --reps "$INNER" --threads "$T" >> "$RAW"
    OMP_NUM_THREADS=$T bin/bench/bench_unet sample --reps "$INNER" --threads "$T" >> "$RAW"
    OMP_NUM_THREADS=$T "$PYTHON" bench/torch_ref.py sample --reps "$INNER" --threads "$T" >> "$RAW"
    OMP_NUM_THREADS=$T bin/bench/bench_unet sgemm --reps 5 --threads "$T" >> "$RAW"
done

# 6. 2 ranks x 1 thread: share of the step spent in the gradient allreduce (reference net)
D=$OUT/fm.h5
bin/ddm prep --from fashion-mnist --split test --pad 2 --limit 2048 --out "$D" > /dev/null
OMP_NUM_THREADS=1 mpirun -n 2 --bind-to none bin/ddm train --data "$D" --out "$OUT/run2" --cache \
    --set train.batch=64 --set train.max_steps=30 --set train.log_every=10 --set train.ckpt_every=1000 \
    --set train.threads=1 > "$OUT/train2.log" 2>&1 || { cat "$OUT/train2.log"; exit 1; }
tail -n 2 "$OUT/run2/metrics.jsonl" | sed 's/^{/{"side": "ddm", "mode": "mpi_train", /' >> "$RAW"

# 7. the sampling farm at 1 and 2 ranks on that checkpoint (DDIM 20 steps, 64 seeds)
for p in 1 2; do
    rm -f "$OUT/s$p.h5"
    OMP_NUM_THREADS=$((T / p > 0 ? T / p : 1)) mpirun -n $p --bind-to none bin/ddm sample --ckpt "$OUT/run2" \
        --out "$OUT/s$p.h5" --seeds 0-63 --sampler ddim --steps 20 --batch 16 > "$OUT/sample$p.log" 2>&1 \
        || { cat "$OUT/sample$p.log"; exit 1; }
    "$PYTHON" bench/report.py --farm-line "$OUT/sample$p.log" --ranks $p >> "$RAW"
done
"$PYTHON" bench/report.py --raw "$RAW" --out bench/results.json
"$PYTHON" bench/scaling.py
