#!/usr/bin/env bash
# ddm train on a Fashion-MNIST subset: the loss falls, 1 rank == 2 ranks, exact resume,
# SIGUSR1 checkpoint + requeue status + resume, NaN stop, and bad options.
source "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=1
D=$TMP/fm.h5
$DDM prep --from fashion-mnist --split test --pad 2 --limit 512 --out "$D" >/dev/null || { fail "prep"; summary; exit 1; }
cat > "$TMP/tiny.ini" <<'INI'
[model]
ch = 8
ch_mult = 1,2
num_res_blocks = 1
attn_resolutions = 16
groups = 4
[diffusion]
timesteps = 100
[train]
batch = 16
lr = 1e-3
warmup = 10
max_steps = 40
log_every = 1
ckpt_every = 20
ema = 0.99,0.999
INI
train() { $DDM train --data "$D" --config "$TMP/tiny.ini" "$@"; }
losses() { grep -o '"loss": [^,]*' "$1/metrics.jsonl" | awk '{print $2}'; }

# 1. the loss falls
check "1-rank tiny run finishes" train --out "$TMP/r1"
first=$(losses "$TMP/r1" | head -5 | awk '{s+=$1} END {print s/NR}')
last=$(losses "$TMP/r1" | tail -5 | awk '{s+=$1} END {print s/NR}')
if awk -v a="$first" -v b="$last" 'BEGIN {exit !(b < 0.6 * a)}'; then
    ok "loss falls: mean of first 5 steps $first, of last 5 $last"
else fail "loss does not fall enough: first $first last $last"; fi
check "metrics.jsonl has 40 lines with images_per_s and loss quartiles" \
    bash -c "[ \$(grep -c images_per_s '$TMP/r1/metrics.jsonl') -eq 40 ] && grep -q loss_q4 '$TMP/r1/metrics.jsonl'"
check "config.ini written and re-readable" grep -q "max_steps = 40" "$TMP/r1/config.ini"
check "preview grid from the EMA weights at step 20 and 40 (--set train.preview_every=20)" bash -c "$DDM train --data '$D' --config '$TMP/tiny.ini' --out '$TMP/rp' --set train.max_steps=40 --set train.preview_every=20 >/dev/null && [ \"\$(head -c 4 '$TMP/rp/preview-00000040.png' | tail -c 3)\" = PNG ] && test -f '$TMP/rp/preview-00000020.png'"
check "checkpoints at 20 and 40" test -f "$TMP/r1/ckpt-00000020.h5" -a -f "$TMP/r1/ckpt-00000040.h5"

# 2. invariance: 2 ranks at the same global batch take the same steps
check "2-rank run with the weight checksum check every 5 steps" mpirun2 2 $DDM train --data "$D" --config "$TMP/tiny.ini" --out "$TMP/r2" --check-weights 5
if diff <(losses "$TMP/r1") <(losses "$TMP/r2") >/dev/null; then
    ok "1 rank and 2 ranks: identical loss at every one of 40 steps"
else
    # float sums may differ in the last digits: compare to a tolerance
    if paste <(losses "$TMP/r1") <(losses "$TMP/r2") | awk '{d=$1-$2; if (d<0) d=-d; if (d > 1e-5*($1+1e-12)) bad++} END {exit bad>0}'; then
        ok "1 rank and 2 ranks: loss equal to 1e-5 relative at every step"
    else fail "1 rank and 2 ranks: losses differ"; paste <(losses "$TMP/r1") <(losses "$TMP/r2") | head; fi
fi
check "1 rank and 2 ranks: same final weights (atol 1e-5 + rtol 1e-4)" $PYTHON "$ROOT/tests/ref/ckpt_compare.py" "$TMP/r1/ckpt-00000040.h5" "$TMP/r2/ckpt-00000040.h5"
cat "$TMP/last.out"

# 3. exact resume: 20 steps, stop, resume to 40 == 40 straight
check "run to step 20" train --out "$TMP/r3" --set train.max_steps=20
train --out "$TMP/r3" > "$TMP/resume.out" 2>&1
check "resume from step 20 to 40" grep -q 'resuming from .*ckpt-00000020.h5' "$TMP/resume.out"
check "resumed weights bit-identical to the uninterrupted run (model, EMA, moments)" \
    bash -c "h5diff '$TMP/r1/ckpt-00000040.h5' '$TMP/r3/ckpt-00000040.h5' /model /model && h5diff '$TMP/r1/ckpt-00000040.h5' '$TMP/r3/ckpt-00000040.h5' /ema /ema && h5diff '$TMP/r1/ckpt-00000040.h5' '$TMP/r3/ckpt-00000040.h5' /optim /optim"

# 4. SIGUSR1 to ONE rank of a 2-rank job: all ranks checkpoint, exit 99, resume finishes
mpirun2 2 $DDM train --data "$D" --config "$TMP/tiny.ini" --out "$TMP/r4" --set train.max_steps=200 --set train.ckpt_every=1000 > "$TMP/sig.out" 2>&1 &
mpid=$!
for _ in $(seq 100); do [ -s "$TMP/r4/metrics.jsonl" ] && [ "$(wc -l < "$TMP/r4/metrics.jsonl")" -ge 5 ] && break; sleep 0.2; done
victim=$(pgrep -f "ddm train .*$TMP/r4" | tail -1)
kill -USR1 "$victim"
wait $mpid; rc=$?
if [ $rc -eq 99 ] && grep -q "signal received" "$TMP/sig.out"; then ok "SIGUSR1 to one rank: checkpoint written, exit status 99"
else fail "SIGUSR1: exit $rc"; tail -5 "$TMP/sig.out" | sed 's/^/    | /'; fi
sigstep=$(ls "$TMP/r4" | grep -o 'ckpt-[0-9]*' | tail -1)
check "the signal checkpoint is not the end ($sigstep < 200)" test "$sigstep" != "ckpt-00000200"
check "resume after the signal finishes 200 steps" mpirun2 2 $DDM train --data "$D" --config "$TMP/tiny.ini" --out "$TMP/r4" --set train.max_steps=200 --set train.ckpt_every=1000
mpirun2 2 $DDM train --data "$D" --config "$TMP/tiny.ini" --out "$TMP/r5" --set train.max_steps=200 --set train.ckpt_every=1000 >/dev/null 2>&1
check "interrupted + resumed == uninterrupted (bit-identical /model)" h5diff "$TMP/r4/ckpt-00000200.h5" "$TMP/r5/ckpt-00000200.h5" /model /model
# ddm info RUN_DIR (issue 17): the run summed up
check "ddm info RUN_DIR: task, steps done of max, checkpoints, EMA rates, ETA done" bash -c "
    $DDM info '$TMP/r4' > '$TMP/info.txt' && grep -q 'task: diffusion U-Net; train.max_steps 200' '$TMP/info.txt' &&
    grep -q 'progress: step 200 of 200 (100.0%)' '$TMP/info.txt' && grep -q 'ETA done' '$TMP/info.txt' &&
    grep -qE 'checkpoints: [0-9]+ \(steps .*200\); newest .*ckpt-00000200.h5: step 200' '$TMP/info.txt' &&
    grep -q 'EMA rates: ' '$TMP/info.txt'"
check "curves.png written by ddm train (a PNG, 3 panels tall) and redrawn by ddm info" "$PYTHON" -c "
from PIL import Image; im = Image.open('$TMP/r4/curves.png'); assert im.format == 'PNG' and im.size[1] >= 800, im.size
import subprocess; out = subprocess.run(['$DDM', 'info', '$TMP/r5'], capture_output=True, text=True).stdout
assert 'curves.png (redrawn now)' in out, out"
check "ddm info of a Slurm-requeued run: its job and requeues, from metrics.jsonl" bash -c "
    SLURM_JOB_ID=4242 SLURM_RESTART_COUNT=2 $DDM train --data '$D' --config '$TMP/tiny.ini' --out '$TMP/rs' --set train.max_steps=4 --set train.log_every=2 >/dev/null &&
    $DDM info '$TMP/rs' | grep -q 'Slurm job 4242, requeued 2 times'"
check_fails "ddm info of a folder that is no run" "a folder without config.ini: not a ddm train run folder" $DDM info "$TMP"

# 5. NaN loss stops with a clear message and keeps the last good checkpoint
check_fails "a diverging run stops naming the step" "step [0-9]+: the loss is" train --out "$TMP/r6" --set train.lr=1e30 --set train.warmup=0 --set train.grad_clip=0 --set train.ckpt_every=1
# an update that overflows (lr beyond float range) with a finite loss: stopped before any
# checkpoint holds the Inf weights (issue 16: one was named "the last good checkpoint")
check_fails "an overflowing update stops before its weights are saved" "step 1: the update made a weight NaN or Inf" \
    train --out "$TMP/r6b" --set train.lr=1e39 --set train.warmup=0 --set train.grad_clip=0 --set train.ckpt_every=1
check "no checkpoint of the overflowed weights" bash -c "! ls $TMP/r6b/ckpt-*.h5 2>/dev/null | grep -q ."
# 6. bad options
check_fails "global batch the ranks do not divide" "does not split over 2 ranks" mpirun2 2 $DDM train --data "$D" --config "$TMP/tiny.ini" --out "$TMP/r7" --set train.batch=15
check_fails "unknown key" "unknown key" train --out "$TMP/r7" --set train.nonsense=1
check "a failed setup leaves no RUN_DIR it created (issue 16: an empty one was left)" bash -c "! ls -d '$TMP/r7' 2>/dev/null"
mkdir -p "$TMP/r7b"
check_fails "a setup error in an existing folder" "model.groups = 3 does not divide" train --out "$TMP/r7b" --set model.groups=3
check "... keeps that folder" test -d "$TMP/r7b"
check_fails "negative learning rate" "train.lr" train --out "$TMP/r7" --set train.lr=-1
check_fails "missing dataset" "nope.h5" $DDM train --data "$TMP/nope.h5" --out "$TMP/r7"
check "2 ranks: an error every rank meets is printed once, whole (issue 16: 'ddm: error: ddm: error: ...')" bash -c "
    mpirun -n 2 --oversubscribe --bind-to none $DDM train --data '$TMP/nope.h5' --out '$TMP/r9' > '$TMP/two.err' 2>&1
    test \$(grep -c 'ddm: error' '$TMP/two.err') -eq 1 && grep -qx 'ddm: error: $TMP/nope.h5: No such file or directory' '$TMP/two.err'"
check_fails "unknown option" "unknown option" $DDM train --data "$D" --out "$TMP/r7" --bogus
check "--help lists the config keys with defaults" bash -c "$DDM train --help | grep -q 'max_steps'"
# 7. the classifier task trains too
check "classifier task: 30 steps" $DDM train --task classifier --data "$D" --out "$TMP/c1" --set model.num_classes=10 --set train.batch=32 --set train.max_steps=30 --set train.lr=2e-3 --set train.log_every=10 --set train.warmup=0
summary
