#!/usr/bin/env bash
# make demo: the whole job chain on real data, small enough for a laptop (about 5 minutes
# on 2 cores). Everything lands in demo-out/ (DEMO_OUT=DIR to move it).
#   DEMO_STEPS=200  training steps of the 2-rank run     DEMO_SAMPLES=500  images scored
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${DEMO_OUT:-$ROOT/demo-out}
STEPS=${DEMO_STEPS:-200}
NS=${DEMO_SAMPLES:-500}
DDM=$ROOT/bin/ddm
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl=self,vader,tcp OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_mpi_yield_when_idle=1
MPIRUN="mpirun -n 2 --bind-to none"
mkdir -p "$OUT"
t0=$(date +%s)
step() { echo; echo "== $* ($(( $(date +%s) - t0 ))s)"; }

step "1. import Fashion-MNIST (train and test splits, padded 28 -> 32)"
[ -f "$OUT/fmnist-train.h5" ] || $DDM prep --from fashion-mnist --split train --pad 2 --out "$OUT/fmnist-train.h5"
[ -f "$OUT/fmnist-test.h5" ] || $DDM prep --from fashion-mnist --split test --pad 2 --out "$OUT/fmnist-test.h5"

step "2. train the reference U-Net briefly on 2 ranks ($STEPS steps, global batch 32)"
OMP_NUM_THREADS=1 $MPIRUN $DDM train --data "$OUT/fmnist-train.h5" --out "$OUT/run" --cache \
    --config configs/fmnist.ini --set train.batch=32 --set train.max_steps="$STEPS" \
    --set train.lr=1e-3 --set train.warmup=50 --set train.ema=0.99 --set train.log_every=25 \
    --set train.ckpt_every=100 --set train.preview_every=0

step "3. sample a grid from that run (2 ranks, DDIM 20 steps, one class per column)"
rm -f "$OUT/run-samples.h5"
OMP_NUM_THREADS=1 $MPIRUN $DDM sample --ckpt "$OUT/run" --out "$OUT/run-samples.h5" --seeds 0-39 \
    --sampler ddim --steps 20 --class-per-seed --batch 8 --grid "$OUT/run-grid.png"

step "4. sample from the shipped model models/fmnist-ema.h5 (2 ranks, DDIM 25 steps, $NS images)"
rm -f "$OUT/shipped-samples.h5"
OMP_NUM_THREADS=1 $MPIRUN $DDM sample --ckpt models/fmnist-ema.h5 --out "$OUT/shipped-samples.h5" \
    --seeds 0-$((NS - 1)) --sampler ddim --steps 25 --class-per-seed --batch 16 --grid "$OUT/shipped-grid.png"

step "5. evaluate the shipped model's samples against the test split (classifier features)"
OMP_NUM_THREADS=1 $MPIRUN $DDM eval --samples "$OUT/shipped-samples.h5" --ref "$OUT/fmnist-test.h5" \
    --features classifier:models/fmnist-classifier.h5 --out "$OUT/results.jsonl"

step "done in $(( $(date +%s) - t0 ))s. Outputs:"
echo "  datasets        $OUT/fmnist-train.h5, $OUT/fmnist-test.h5"
echo "  run folder      $OUT/run  (checkpoints, metrics.jsonl, config.ini)"
echo "  samples         $OUT/run-samples.h5, $OUT/shipped-samples.h5   (ddm info FILE)"
echo "  PNG grids       $OUT/run-grid.png, $OUT/shipped-grid.png"
echo "  results line    $OUT/results.jsonl:"
tail -n 1 "$OUT/results.jsonl" | sed 's/^/    /'
