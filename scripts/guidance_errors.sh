#!/usr/bin/env bash
# The README's table of bad input to classifier guidance and plug-and-play priors (issue 14):
# each case run against the shipped models, its exit status, whether an output file was
# left, and its one error line; written between the README's guidance-errors markers.
# A 5-class noisy classifier (the wrong class count) is trained here for 2 steps on test
# images relabelled label % 5 (seconds), and a tiny unconditional diffusion model (2 steps).
#   usage: scripts/guidance_errors.sh [OUT]      (default results-guidance/errors)
#   env:   README=README.md (README= : do not touch it)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${1:-$ROOT/results-guidance/errors}
README=${README-$ROOT/README.md}
DDM=$ROOT/bin/ddm
MODEL=$ROOT/models/fmnist-ema.h5
GUIDE=$ROOT/models/fmnist-noisy-classifier.h5
CLF=$ROOT/models/fmnist-classifier.h5
SR=$ROOT/models/fmnist-sr3.h5
export OMP_NUM_THREADS=1
mkdir -p "$OUT"
cd "$OUT"
[ -f test-64.h5 ] || "$DDM" prep --from fashion-mnist --split test --pad 2 --limit 64 --out test-64.h5 >/dev/null
if [ ! -f nc5/ckpt-00000002.h5 ]; then
    /usr/bin/python3 - <<'PY'
import shutil, h5py
shutil.copy("test-64.h5", "test5.h5")
with h5py.File("test5.h5", "r+") as f:
    f["labels"][...] = f["labels"][()] % 5
    f.attrs["classes"] = 5
PY
    "$DDM" train --data test5.h5 --config "$ROOT/configs/noisy-classifier.ini" --set model.num_classes=5 \
        --set train.max_steps=2 --set train.batch=8 --out nc5 >/dev/null
fi
[ -f uncond/ckpt-00000002.h5 ] || "$DDM" train --data test-64.h5 --config "$ROOT/configs/fmnist.ini" \
    --set model.num_classes=0 --set model.ch=8 --set train.max_steps=2 --set train.batch=8 \
    --set train.preview_every=0 --out uncond >/dev/null
: >errors.tsv
bad() { # what, then the command (its --out is bad.h5)
    local what=$1; shift
    rm -f bad.h5
    local rc=0 line
    "$@" >bad.log 2>&1 || rc=$?
    line=$(grep -m1 'ddm: error' bad.log || true)
    printf '%s\t%s\t%s\t%s\n' "$what" "$rc" "$([ -e bad.h5 ] && echo left || echo none)" "$line" >>errors.tsv
}
B() { "$DDM" sample --ckpt "$MODEL" --out bad.h5 --seeds 0-3 --steps 10 --progress-every 0 "$@"; }
bad "the diffusion model as the classifier (wrong kind)" B --class 1 --classifier "$MODEL" --classifier-scale 1
bad "the clean evaluation classifier as the guide (wrong kind)" B --class 1 --classifier "$CLF" --classifier-scale 1
bad "a classifier with 5 classes for the 10-class model" B --class 1 --classifier nc5 --classifier-scale 1
bad "the SR3 model as the classifier (wrong kind and size)" B --class 1 --classifier "$SR" --classifier-scale 1
bad "scale nan" B --class 1 --classifier "$GUIDE" --classifier-scale nan
bad "scale inf" B --class 1 --classifier "$GUIDE" --classifier-scale inf
bad "guidance with no class to guide toward" B --classifier "$GUIDE" --classifier-scale 1
bad "a scale without a classifier" B --class 1 --classifier-scale 1
bad "classifier-free guidance on a model without classes" "$DDM" sample --ckpt uncond --out bad.h5 --seeds 0 --guidance 2
bad "a class for a model without classes, no classifier" "$DDM" sample --ckpt uncond --out bad.h5 --seeds 0 --class 1
bad "pnp with the noise-aware classifier as its constraint" B --sampler pnp --class 1 --classifier "$GUIDE" --classifier-scale 1
bad "pnp with classifier-free guidance" B --sampler pnp --class 1 --guidance 2
/usr/bin/python3 - "$README" "$ROOT/scripts" <<'PY'
import os, sys
sys.path.insert(0, sys.argv[2])
from readme_section import put_section
rows = [l.rstrip("\n").split("\t") for l in open("errors.tsv") if l.strip()]
short = lambda s: " ".join(os.path.basename(w) if "/" in w else w for w in s.split(" "))
lines = ["Each run is refused before any work: its exit status, whether an output file was left, "
         "and its one error line (paths shortened to their file names); made by "
         "`scripts/guidance_errors.sh`.", "",
         "| case | exit | output left | the error |", "|---|---:|---|---|"]
for what, rc, left, err in rows:
    lines.append(f"| {what} | {rc} | {left} | `{short(err)}` |".replace(" | x)", " \\| x)"))
text = "\n".join(lines) + "\n"
print(text)
if sys.argv[1]:
    put_section(sys.argv[1], "guidance-errors", text)
PY
