#!/usr/bin/env bash
# Every figure of the README's "Editing and restoration: the figures" section, from the
# shipped files: the seeds' applications (sample tasks) on Fashion-MNIST test images.
#   sdedit   coarse guides (4x4 block means at 4 gray levels) of test images, t0 = 0.2,
#            0.4, 0.6, 0.8 (DDIM 50): faithfulness (L2 to the guide) against realism (FID,
#            class match with the guide's own label)
#   repaint  centre and half masks, with resampling (r = 10, jump 10) and without (r = 1),
#            DDPM 50 steps: known pixels kept, FID, accuracy against the original labels
#   ilvr     references low-passed at N = 4 and 8 (DDPM 50), 2 seeds a reference: the
#            outputs' low-pass against the reference's, and their diversity
#   ddib     encode (DDIM eta 0) with the input's class, decode with the same class (50
#            and 100 steps: the reconstruction error) and with every class (translations)
#   sr3      super-resolution x2 and x4 by models/fmnist-sr3.h5 against bicubic upsampling:
#            PSNR, consistency (the output downsampled against the input), FID
# Samples are made with the shipped class-conditional model under the null label (the
# unconditional model it also is: trained with label dropout 0.1), except DDIB, whose two
# domains are classes. Scored against the 60,000 train images with the evaluation
# classifier's features (models/fmnist-classifier.h5). Sampling resumes: re-running after
# a kill makes only the missing images. The last step writes OUT/tasks.md, the pictures in
# docs/tasks-*.png and the README's section between its tasks-results markers
# (scripts/tasks_table.py).
#
# usage: scripts/tasks_results.sh [OUT]           (default results-tasks/)
# env:   N_SD=500  N_RP=100  N_IL=100  N_DB=50  N_REC=100  N_SR=500   inputs of each part
#        STAGES="sdedit repaint ilvr ddib sr3"   the parts to run (the table takes what exists)
#        RANKS=2 THREADS=1   MODEL=models/fmnist-ema.h5  SR=models/fmnist-sr3.h5
#        CLF=models/fmnist-classifier.h5  README=README.md (README= : do not touch it)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${1:-$ROOT/results-tasks}
N_SD=${N_SD:-500}
N_RP=${N_RP:-100}
N_IL=${N_IL:-100}
N_DB=${N_DB:-50}
N_REC=${N_REC:-100}
N_SR=${N_SR:-500}
STAGES=${STAGES:-sdedit repaint ilvr ddib sr3}
RANKS=${RANKS:-2}
MODEL=${MODEL:-$ROOT/models/fmnist-ema.h5}
SR=${SR:-$ROOT/models/fmnist-sr3.h5}
CLF=${CLF:-$ROOT/models/fmnist-classifier.h5}
README=${README-$ROOT/README.md}
DDM=$ROOT/bin/ddm
PY=/usr/bin/python3
export OMP_NUM_THREADS=${THREADS:-1}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_mpi_yield_when_idle=1
MPIRUN="mpirun -n $RANKS --bind-to none"
mkdir -p "$OUT"
R=$OUT/results.jsonl
t0=$(date +%s)
step() { echo; echo "== $* ($(( $(date +%s) - t0 ))s)"; }
has() { [[ " $STAGES " == *" $1 "* ]]; }
# scored once per file: a re-run does not append the same lines again
ev() {
    local f=$1; shift
    grep -qF "\"samples\": \"$f\"" "$R" 2>/dev/null && return 0
    $MPIRUN "$DDM" eval --ref "$OUT/fmnist-train.h5" --features "classifier:$CLF" --out "$R" --samples "$f" "$@"
}
S() { $MPIRUN "$DDM" sample --ckpt "$MODEL" --progress-every 60 --batch 16 "$@"; }
test_n() { [ -f "$OUT/test-$1.h5" ] || "$DDM" prep --from fashion-mnist --split test --pad 2 --limit "$1" --out "$OUT/test-$1.h5"; }

step "data: the train split (the reference) and the first test images, padded to 32x32"
[ -f "$OUT/fmnist-train.h5" ] || "$DDM" prep --from fashion-mnist --split train --pad 2 --out "$OUT/fmnist-train.h5"

if has sdedit; then
    step "SDEdit: $N_SD coarse guides, t0 = 0.2 0.4 0.6 0.8, DDIM 50, null label"
    test_n "$N_SD"
    [ -f "$OUT/guides.h5" ] || "$PY" "$ROOT/scripts/tasks_table.py" --guides "$OUT/test-$N_SD.h5" "$OUT/guides.h5"
    : >"$OUT/sdedit.ini"
    for t in 0.2 0.4 0.6 0.8; do
        printf '[t0-%s]\ntask = sdedit\nsampler = ddim\nsteps = 50\nt0 = %s\n\n' "$t" "$t" >>"$OUT/sdedit.ini"
    done
    S --out "$OUT/sdedit.h5" --seeds 0 --input "$OUT/guides.h5" --sweep "$OUT/sdedit.ini" --grid "$OUT/sdedit.png"
    ev "$OUT/test-$N_SD.h5"
    ev "$OUT/guides.h5"
    ev "$OUT/sdedit.h5"
fi

if has repaint; then
    step "RePaint: $N_RP test images, centre and half masks, r = 10 jump 10 and r = 1, DDPM 50, null label"
    test_n "$N_RP"
    cat >"$OUT/repaint.ini" <<EOF
[r10-j10]
task = repaint
sampler = ddpm
steps = 50
jump_length = 10
resample = 10

[r1]
task = repaint
sampler = ddpm
steps = 50
resample = 1
EOF
    for m in centre half; do
        [ -f "$OUT/mask-$m.h5" ] || "$DDM" prep --from "mask:$m,1" --out "$OUT/mask-$m.h5"
        S --out "$OUT/repaint-$m.h5" --seeds 0 --input "$OUT/test-$N_RP.h5" --mask "$OUT/mask-$m.h5" \
            --sweep "$OUT/repaint.ini" --grid "$OUT/repaint-$m.png"
        ev "$OUT/repaint-$m.h5"
    done
    ev "$OUT/test-$N_RP.h5"
fi

if has ilvr; then
    step "ILVR: $N_IL references x 2 seeds, N = 4 and 8, DDPM 50, null label"
    test_n "$N_IL"
    : >"$OUT/ilvr.ini"
    for n in 4 8; do
        printf '[N%s]\ntask = ilvr\nsampler = ddpm\nsteps = 50\nfactor = %s\n\n' "$n" "$n" >>"$OUT/ilvr.ini"
    done
    S --out "$OUT/ilvr.h5" --seeds 0-1 --input "$OUT/test-$N_IL.h5" --sweep "$OUT/ilvr.ini" --grid "$OUT/ilvr.png"
    ev "$OUT/ilvr.h5"
fi

if has ddib; then
    step "DDIB: $N_REC test images encoded and decoded with their class (DDIM 50 and 100); $N_DB translated to every class (DDIM 50)"
    test_n "$N_REC"
    test_n "$N_DB"
    cat >"$OUT/ddib-rec.ini" <<EOF
[rec-50]
task = ddib
sampler = ddim
steps = 50
class = input

[rec-100]
task = ddib
sampler = ddim
steps = 100
class = input
EOF
    S --out "$OUT/ddib-rec.h5" --seeds 0 --input "$OUT/test-$N_REC.h5" --sweep "$OUT/ddib-rec.ini" --grid "$OUT/ddib-rec.png"
    # seeds 0-9 with one class per seed: every input to every class (the seed itself does
    # not matter to the deterministic encoder and decoder)
    S --out "$OUT/ddib.h5" --seeds 0-9 --input "$OUT/test-$N_DB.h5" --task ddib --sampler ddim --steps 50 \
        --class-per-seed --grid "$OUT/ddib.png"
    ev "$OUT/ddib-rec.h5"
    ev "$OUT/ddib.h5"
fi

if has sr3; then
    step "SR3: $N_SR test images, x2 and x4 by $(basename "$SR") (DDIM 50) against bicubic upsampling"
    test_n "$N_SR"
    for f in 2 4; do
        [ -f "$OUT/bicubic$f.h5" ] || "$DDM" prep --from fashion-mnist --split test --pad 2 --limit "$N_SR" \
            --degrade "$f" --out "$OUT/bicubic$f.h5"
    done
    printf '[x2]\ntask = superres\nsampler = ddim\nsteps = 50\nscale = 2\n\n[x4]\ntask = superres\nsampler = ddim\nsteps = 50\nscale = 4\n' \
        >"$OUT/sr3.ini"
    $MPIRUN "$DDM" sample --ckpt "$SR" --progress-every 60 --batch 16 --out "$OUT/sr3.h5" --seeds 0 \
        --input "$OUT/test-$N_SR.h5" --sweep "$OUT/sr3.ini" --grid "$OUT/sr3.png"
    ev "$OUT/test-$N_SR.h5"
    ev "$OUT/bicubic2.h5"
    ev "$OUT/bicubic4.h5"
    ev "$OUT/sr3.h5"
fi

step "bad input: one clear line each, no output left"
test_n 16
[ -f "$OUT/mask-centre.h5" ] || "$DDM" prep --from mask:centre,1 --out "$OUT/mask-centre.h5"
[ -f "$OUT/small-16.h5" ] || "$DDM" prep --from fashion-mnist --split test --limit 16 --resize 20 --out "$OUT/small-16.h5"
[ -f "$OUT/rgb-4.h5" ] || "$DDM" prep --from noise:4,3x32x32 --out "$OUT/rgb-4.h5"
[ -f "$OUT/mask-16.h5" ] || "$DDM" prep --from mask:centre,1,1x16x16 --out "$OUT/mask-16.h5"
: >"$OUT/errors.tsv"
bad() { # what, then the command (its --out is $OUT/bad.h5)
    local what=$1; shift
    rm -f "$OUT/bad.h5"
    local rc=0 line
    "$@" >"$OUT/bad.log" 2>&1 || rc=$?
    line=$(grep -m1 'ddm: error' "$OUT/bad.log" || true)
    printf '%s\t%s\t%s\t%s\t%s\n' "$what" "${*:2}" "$rc" "$([ -e "$OUT/bad.h5" ] && echo left || echo none)" "$line" >>"$OUT/errors.tsv"
}
B() { "$DDM" sample --ckpt "$MODEL" --out "$OUT/bad.h5" --seeds 0 --steps 10 --progress-every 0 "$@"; }
bad "a mask of another size" B --task repaint --resample 1 --input "$OUT/test-16.h5" --mask "$OUT/mask-16.h5"
bad "inputs of another size" B --task sdedit --input "$OUT/small-16.h5"
bad "inputs of another channel count" B --task ilvr --input "$OUT/rgb-4.h5"
bad "t0 outside (0, 1]" B --task sdedit --t0 1.5 --input "$OUT/test-16.h5"
bad "ddib on a sampler that cannot run backwards" B --task ddib --sampler ddpm --class 1 --input "$OUT/test-16.h5"
bad "superres on a model without a condition" B --task superres --input "$OUT/test-16.h5"
bad "ddib on the SR3 model (no classes; it needs its condition)" "$DDM" sample --ckpt "$SR" --out "$OUT/bad.h5" --seeds 0 --task ddib --class 1 --input "$OUT/test-16.h5"
bad "encode with DDIM eta 1" "$DDM" encode --ckpt "$MODEL" --input "$OUT/test-16.h5" --eta 1 --out "$OUT/bad.h5"

step "tables and pictures"
"$PY" "$ROOT/scripts/tasks_table.py" "$OUT" ${README:+--readme "$README"} --docs "$ROOT/docs" \
    --run "N_SD=$N_SD N_RP=$N_RP N_IL=$N_IL N_REC=$N_REC N_DB=$N_DB N_SR=$N_SR scripts/tasks_results.sh, $RANKS ranks x $OMP_NUM_THREADS thread(s)"
echo "done in $(( $(date +%s) - t0 ))s: $OUT/tasks.md"
