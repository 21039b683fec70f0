#!/usr/bin/env bash
# No silent hang (issue 16): one rank of a 2-rank job stopped with SIGSTOP (as a dead node
# or link looks to the others) makes the job end within the watchdog's bound
# (DDM_HANG_TIMEOUT, here 5 s), with one clear line, exit status 4, and the last checkpoint
# (training) or the finished rows (sampling) intact and checksum-clean.
source "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=1 DDM_HANG_TIMEOUT=5
cd "$TMP"
$DDM prep --from fashion-mnist --split test --pad 2 --limit 256 --out fm.h5 >/dev/null || { fail "prep"; summary; exit 1; }
tiny_ini tiny.ini "batch = 16"
# stop_one LOG PATTERN READY: wait for READY (a file), SIGSTOP one rank matching PATTERN,
# wait for the job; sets rc and secs
stop_one() {
    local job=$1 pat=$2 ready=$3
    for _ in $(seq 300); do [ -e "$ready" ] && break; sleep 0.2; done
    local victim
    victim=$(pgrep -f "^$DDM $pat" | tail -1)
    local t0=$(date +%s)
    [ -n "$victim" ] && kill -STOP "$victim"
    wait "$job"; rc=$?
    secs=$(( $(date +%s) - t0 ))
}
mpirun2 2 -x DDM_HANG_TIMEOUT $DDM train --data fm.h5 --config tiny.ini --out run \
    --set train.max_steps=1000000 --set train.ckpt_every=5 >train.log 2>&1 &
stop_one $! "train .*--out run" run/ckpt-00000005.h5
check "training: a stopped rank ends the job within the bound (exit $rc after ${secs}s; bound 5s + 25s slack)" \
    test "$rc" -ne 0 -a "$secs" -le 30
check "... with the watchdog's line" grep -q "no progress for [0-9]* s (DDM_HANG_TIMEOUT = 5): another rank stopped or the network failed" train.log
check "... the last checkpoint intact (every checksum matched)" bash -c "$DDM info --verify \$(ls run/ckpt-*.h5 | tail -1) | grep -q 'every checksum matched'"
last=$(ls run/ckpt-*.h5 | tail -1); last=${last##*ckpt-}; last=$((10#${last%.h5}))
check "... and training resumes from it (step $last)" bash -c "DDM_HANG_TIMEOUT=0 $DDM train --data fm.h5 --config tiny.ini --out run --set train.max_steps=$((last + 2)) | grep -q 'resuming from .*(step $last)'"

check "a model to sample from" bash -c "DDM_HANG_TIMEOUT=0 $DDM train --data fm.h5 --config tiny.ini --out m --set train.max_steps=2 >/dev/null"
mpirun2 2 -x DDM_HANG_TIMEOUT $DDM sample --ckpt m --out s.h5 --seeds 0-99999 --steps 50 --batch 8 \
    --items-per-rank 1 >sample.log 2>&1 &
stop_one $! "sample .*--out s.h5" s.h5
check "sampling: a stopped rank ends the job within the bound (exit $rc after ${secs}s)" test "$rc" -ne 0 -a "$secs" -le 30
check "... with the watchdog's line" grep -q "no progress for [0-9]* s (DDM_HANG_TIMEOUT = 5)" sample.log
check_fails "DDM_HANG_TIMEOUT nonsense" "DDM_HANG_TIMEOUT=abc: want seconds >= 0" \
    bash -c "DDM_HANG_TIMEOUT=abc mpirun -n 2 --oversubscribe --bind-to none -x DDM_HANG_TIMEOUT $DDM info fm.h5"
summary
