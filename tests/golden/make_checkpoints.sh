#!/usr/bin/env bash
# How tests/golden/vp.h5 and ve.h5 were made (run once, committed; the checksums in
# checksums.txt belong to these exact files, so do not regenerate them casually).
#   tests/golden/make_checkpoints.sh OUT_DIR
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:?usage: make_checkpoints.sh OUT_DIR}
DDM=$ROOT/bin/ddm
export OMP_NUM_THREADS=1
mkdir -p "$OUT" && cd "$OUT"
$DDM prep --from fashion-mnist --split test --pad 2 --limit 256 --out fm.h5
cat > tiny.ini <<'INI'
[model]
ch = 8
ch_mult = 1,2
num_res_blocks = 1
attn_resolutions = 16
groups = 4
num_classes = 10
[diffusion]
timesteps = 100
[train]
batch = 16
lr = 1e-3
warmup = 10
max_steps = 40
log_every = 20
ckpt_every = 40
ema = 0.9
INI
$DDM train --data fm.h5 --config tiny.ini --out vp
$DDM train --data fm.h5 --config tiny.ini --out ve --set diffusion.process=ve --set diffusion.num_scales=20
/usr/bin/python3 "$ROOT/scripts/slim_ckpt.py" vp/ckpt-00000040.h5 vp.h5
/usr/bin/python3 "$ROOT/scripts/slim_ckpt.py" ve/ckpt-00000040.h5 ve.h5
