#!/usr/bin/env bash
# Slurm tests on a real one-node Slurm started here (tests/slurm/cluster.sh: munge,
# slurmctld, slurmd as root, everything in a temporary folder, stopped on exit).
#   1. the cluster comes up; a 2-task MPI job runs under srun --mpi=pmix and under mpirun
#   2. signals: scancel --signal=USR1 --batch and --signal=B:USR1@... at a time limit
#      reach the batch script's trap
#   3. the slurm/ scripts with a stand-in for bin/ddm (same CLI and exit statuses):
#      train.sbatch checkpoints on USR1, exits 99, requeues itself and resumes to the
#      end; a 2-element sample.sbatch array gives the single job's file after merging;
#      pipeline.sh chains train -> sample (array) -> eval with afterok
#   4. the real bin/ddm on a tiny configuration: train.sbatch preempted by USR1 ends
#      with the weights of an uninterrupted run; pipeline.sh end to end (each part is a
#      FAILED check naming the job while that ddm job is not built yet; never skipped)
# If the daemons cannot run here, the first check fails saying why.
# KEEP_TMP=1 keeps the temporary folder (logs, run folders) for a look afterwards.
. "$(dirname "$0")/lib.sh"
CLUSTER=$ROOT/tests/slurm/cluster.sh
SD=$TMP/slurm
T_START=$(date +%s)
cleanup() { "$CLUSTER" stop "$SD" >/dev/null 2>&1; [ -n "${KEEP_TMP:-}" ] && { echo "kept $TMP"; return; }; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---- helpers ---------------------------------------------------------------------------
# wait_jobs SECONDS ID...: until none of the jobs is pending/running; 1 on timeout
wait_jobs() {
    local limit=$1 t0; shift
    local ids; ids=$(IFS=,; echo "$*")
    t0=$(date +%s)
    while [ -n "$(squeue -h -j "$ids" -o %i 2>/dev/null)" ]; do
        if [ $(( $(date +%s) - t0 )) -ge "$limit" ]; then
            echo "    | still queued after ${limit}s:"; squeue -j "$ids" 2>&1 | sed 's/^/    | /'
            return 1
        fi
        sleep 0.5
    done
}
# wait_file SECONDS FILE
wait_file() { local i; for ((i = 0; i < $1 * 10; i++)); do [ -e "$2" ] && return 0; sleep 0.1; done; return 1; }
# job_field ID FIELD: e.g. job_field 12 JobState (first element for an array)
job_field() { scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }
# all_completed ID: every element COMPLETED with exit code 0:0
all_completed() {
    local states
    states=$(scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | grep -E '^(JobState|ExitCode)=' | sort | uniq -c)
    [ -n "$states" ] && ! grep -vqE 'JobState=COMPLETED|ExitCode=0:0' <<<"$states"
}
show_log() { [ -f "$1" ] && sed 's/^/    | /' "$1" | tail -"${2:-15}"; }

# ---- 1. the cluster --------------------------------------------------------------------
orph=$("$CLUSTER" orphans)
[ -n "$orph" ] && { echo "note: daemons of earlier runs whose folder is gone (tests/slurm/cluster.sh reap stops them):"; echo "$orph" | sed 's/^/    /'; }
if "$CLUSTER" start "$SD" >"$TMP/start.out" 2>&1; then
    ok "slurm cluster up: $(grep -m1 '^cluster: up' "$TMP/start.out" | sed 's/^cluster: //')"
else
    fail "slurm cluster starts: $(grep -m1 '^cluster: ' "$TMP/start.out" | sed 's/^cluster: //')"
    sed 's/^/    | /' "$TMP/start.out" | tail -40
    summary; exit
fi
eval "$("$CLUSTER" env "$SD")"
export SLURM_CONF
NODE=$(hostname -s)
NCPU=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
check "sinfo: $NODE idle with $NCPU CPUs" \
    bash -c "sinfo -h -n $NODE -o '%T %c' | grep -qx 'idle $NCPU'"

# a job that runs into a 1-minute time limit with --signal=B:USR1@58: runs in the
# background while the rest goes on (Slurm checks time limits every ~30 s)
cat >"$TMP/tl.sh" <<'EOF'
#!/bin/bash
t0=$(date +%s)
trap 'echo "USR1 after $(( $(date +%s) - t0 ))s" >"$1"; exit 0' USR1
for i in $(seq 1 1200); do sleep 0.1; done
EOF
TL_ID=$(sbatch --parsable -n1 --time=1 --signal=B:USR1@58 -o "$TMP/tl.out" "$TMP/tl.sh" "$TMP/tl.mark")

cat >"$TMP/hello.c" <<'EOF'
#include <mpi.h>
#include <stdio.h>
int main(int argc, char **argv)
{
    int rank, size, sum = 0;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    printf("rank %d of %d, rank sum %d\n", rank, size, sum);
    MPI_Finalize();
    return 0;
}
EOF
if mpicc -o "$TMP/hello" "$TMP/hello.c" >"$TMP/mpicc.out" 2>&1; then
    cat >"$TMP/hello.sh" <<EOF
#!/bin/bash
echo "== srun"
srun --mpi=pmix $TMP/hello
echo "== mpirun"
mpirun --allow-run-as-root --bind-to none $TMP/hello
EOF
    j=$(sbatch --parsable -n 2 -o "$TMP/hello.out" "$TMP/hello.sh")
    wait_jobs 60 "$j"
    sed -n '/== srun/,/== mpirun/p' "$TMP/hello.out" >"$TMP/hello.srun"
    sed -n '/== mpirun/,$p' "$TMP/hello.out" >"$TMP/hello.mpirun"
    for l in srun mpirun; do
        if grep -q 'rank 0 of 2, rank sum 1' "$TMP/hello.$l" && grep -q 'rank 1 of 2, rank sum 1' "$TMP/hello.$l"; then
            ok "2-task MPI job in sbatch: both ranks report under $( [ $l = srun ] && echo 'srun --mpi=pmix' || echo 'mpirun (Slurm launcher)')"
        else
            fail "2-task MPI job in sbatch under $l"; show_log "$TMP/hello.out" 20
        fi
    done
else
    fail "mpicc builds a test program"; show_log "$TMP/mpicc.out"
fi

# ---- 2. signals to the batch script ----------------------------------------------------
cat >"$TMP/trap.sh" <<'EOF'
#!/bin/bash
trap 'echo "batch script got USR1" >"$1"; exit 0' USR1
touch "$1.ready"
for i in $(seq 1 600); do sleep 0.1; done
EOF
j=$(sbatch --parsable -n1 -o "$TMP/trap.out" "$TMP/trap.sh" "$TMP/trap.mark")
if wait_file 30 "$TMP/trap.mark.ready"; then
    scancel --signal=USR1 --batch "$j"
    if wait_file 10 "$TMP/trap.mark"; then ok "scancel --signal=USR1 --batch reaches the batch script's trap"
    else fail "scancel --signal=USR1 --batch: no marker from the trap"; show_log "$TMP/trap.out"; fi
else
    fail "trap job did not start within 30s"; squeue
fi
wait_jobs 20 "$j" >/dev/null || scancel "$j"

# ---- 3. the slurm/ scripts with a stand-in for bin/ddm -----------------------------------
# Same CLI as ddm; rank 0 does the writing. train: one step per 0.1 s up to
# train.max_steps; on USR1/TERM it "checkpoints" (RUN/ckpt holds the step) and exits 99;
# it resumes from RUN/ckpt. sample: one line per seed. merge: lines sorted by seed.
# eval: one JSON line.
FAKE=$TMP/fake-ddm
cat >"$FAKE" <<'EOF'
#!/bin/bash
cmd=$1; shift
rank=${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-${SLURM_PROCID:-0}}}
size=${OMPI_COMM_WORLD_SIZE:-${SLURM_NTASKS:-1}}
opt() { local k=$1; shift; while [ $# -gt 0 ]; do [ "$1" = "$k" ] && { echo "$2"; return; }; shift; done; }
case $cmd in
train)
    run=$(opt --out "$@"); max=30
    for a in "$@"; do [[ $a == train.max_steps=* ]] && max=${a#*=}; done
    got=0; trap 'got=1' USR1 TERM
    step=$(cat "$run/ckpt" 2>/dev/null || echo 0)
    [ "$rank" = 0 ] && echo "start at step $step, $size ranks, threads ${OMP_NUM_THREADS:-?}" >>"$run/train.log"
    [ "$rank" = 0 ] && touch "$run/running"
    while [ "$step" -lt "$max" ]; do
        if [ $got = 1 ]; then
            if [ "$rank" = 0 ]; then
                echo "$step" >"$run/ckpt.tmp" && mv "$run/ckpt.tmp" "$run/ckpt"
                echo "checkpoint at step $step" >>"$run/train.log"
            fi
            exit 99
        fi
        sleep 0.1 & wait $!
        step=$((step + 1))
    done
    [ "$rank" = 0 ] && { echo "$step" >"$run/ckpt"; echo "done at step $step" >>"$run/train.log"; }
    exit 0 ;;
sample)
    out=$(opt --out "$@"); seeds=$(opt --seeds "$@")
    [ "$rank" = 0 ] || exit 0
    for ((s = ${seeds%-*}; s <= ${seeds#*-}; s++)); do
        echo "seed $s image $(echo "ckpt=$(opt --ckpt "$@") seed=$s" | md5sum | cut -c1-16)"
    done >"$out.tmp" && mv "$out.tmp" "$out" ;;
merge)
    out=$(opt --out "$@"); shift 2
    sort -n -k2 "$@" >"$out" ;;
eval)
    [ "$rank" = 0 ] || exit 0
    echo "{\"n\": $(wc -l <"$(opt --samples "$@")"), \"fid\": 0.0}" >>"$(opt --out "$@")" ;;
*) echo "fake ddm: $cmd not faked" >&2; exit 2 ;;
esac
EOF
chmod +x "$FAKE"
echo "[model]" >"$TMP/fake.ini"
: >"$TMP/fake-data.h5"

# train.sbatch: preempted by USR1 to the batch script, requeued, resumed, finished
RUN=$TMP/run-train; mkdir -p "$RUN"
j=$(DDM=$FAKE sbatch --parsable -o "$RUN/train.out" "$ROOT/slurm/train.sbatch" \
    --data "$TMP/fake-data.h5" --out "$RUN" --set train.max_steps=60)
if wait_file 30 "$RUN/running"; then
    sleep 1.5
    scancel --signal=USR1 --batch "$j"
    wait_jobs 60 "$j"
    restarts=$(job_field "$j" Restarts)
    if all_completed "$j" && [ "$(cat "$RUN/ckpt" 2>/dev/null)" = 60 ] \
        && grep -q '^checkpoint at step [1-9]' "$RUN/train.log" \
        && grep -q '^start at step [1-9]' "$RUN/train.log" && [ "${restarts:-0}" -ge 1 ]; then
        ok "train.sbatch: USR1 -> checkpoint, exit 99, requeue (Restarts=$restarts), resumed: $(grep -E '^(checkpoint|start at step [1-9])' "$RUN/train.log" | tr '\n' ';' | sed 's/;$//; s/;/; /g'), final step 60"
    else
        fail "train.sbatch preempt/requeue/resume (state $(job_field "$j" JobState), restarts ${restarts:-?})"
        show_log "$RUN/train.log"; show_log "$RUN/train.out" 25
    fi
    launcher=$(grep -m1 -o 'launch ([a-z]*' "$RUN/train.out" | sed 's/launch (//')
    check "train.sbatch picks srun (Slurm and Open MPI both have PMIx here): '$launcher'" test "$launcher" = srun
    check "train.sbatch: threads per rank from SLURM_CPUS_PER_TASK" grep -q 'threads 1$' "$RUN/train.log"
else
    fail "train.sbatch did not start within 30s"; squeue; show_log "$RUN/train.out"
fi

# without DDM, a job script finds bin/ddm beside the slurm/ folder it was submitted from
j=$(cd "$TMP" && env -u DDM sbatch --parsable -n1 -o "$TMP/find.out" "$ROOT/slurm/eval.sbatch" --samples x.h5 --help)
wait_jobs 30 "$j"
check "a job script submitted without DDM runs $ROOT/bin/ddm" grep -qF "): $ROOT/bin/ddm eval" "$TMP/find.out"

# sample.sbatch: a 2-element array slices the seeds; merged, it equals one job's file
RUN=$TMP/run-sample; mkdir -p "$RUN"
ja=$(DDM=$FAKE sbatch --parsable --array=0-1 --ntasks-per-node=1 -o "$RUN/array-%A_%a.out" \
     "$ROOT/slurm/sample.sbatch" --ckpt "$RUN" --out "$RUN/s.h5" --seeds 3-12)
js=$(DDM=$FAKE sbatch --parsable -o "$RUN/single.out" \
     "$ROOT/slurm/sample.sbatch" --ckpt "$RUN" --out "$RUN/single.h5" --seeds=3-12)
wait_jobs 60 "$ja" "$js"
if all_completed "$ja" && all_completed "$js" && [ -s "$RUN/s.part-0.h5" ] && [ -s "$RUN/s.part-1.h5" ]; then
    r0=$(awk 'NR == 1 {a = $2} END {print a "-" $2}' "$RUN/s.part-0.h5")
    r1=$(awk 'NR == 1 {a = $2} END {print a "-" $2}' "$RUN/s.part-1.h5")
    check "sample.sbatch --array=0-1: disjoint seed slices ($r0, $r1) of 3-12" test "$r0 $r1" = "3-7 8-12"
    "$FAKE" merge --out "$RUN/merged.h5" "$RUN/s.part-1.h5" "$RUN/s.part-0.h5"
    check "array parts merged equal the single job's file" cmp "$RUN/merged.h5" "$RUN/single.h5"
else
    fail "sample.sbatch array and single job complete"
    for f in "$RUN"/*.out; do echo "    | -- $f"; show_log "$f" 8; done
fi

# pipeline.sh: train -> sample (2-element array) -> eval (merges first), mpirun launcher
RUN=$TMP/run-pipe
if DDM=$FAKE DDM_LAUNCHER=mpirun DDM_TRAIN_TIME=5 DDM_SAMPLE_TIME=5 DDM_EVAL_TIME=5 \
    "$ROOT/slurm/pipeline.sh" --seeds 0-9 --array 2 --set train.max_steps=10 \
    "$TMP/fake.ini" "$TMP/fake-data.h5" "$RUN" >"$TMP/pipe.ids" 2>"$TMP/pipe.err"; then
    ids=$(awk '{print $2}' "$TMP/pipe.ids" | tr '\n' ' ')
    check "pipeline.sh prints the job ids: $(tr '\n' ' ' <"$TMP/pipe.ids")" \
        test "$(awk '{print $1 ($2 ~ /^[0-9]+$/ ? "=id" : "=?")}' "$TMP/pipe.ids" | tr '\n' ' ')" = "train=id sample=id eval=id "
    dep=$(job_field "$(awk '$1 == "eval" {print $2}' "$TMP/pipe.ids")" Dependency)
    wait_jobs 90 $ids
    ok_all=1; for i in $ids; do all_completed "$i" || ok_all=0; done
    if [ $ok_all = 1 ] && grep -qx '{"n": 10, "fid": 0.0}' "$RUN/results.jsonl" 2>/dev/null \
        && [ "$(cat "$RUN/ckpt" 2>/dev/null)" = 10 ]; then
        ok "pipeline.sh (stand-in ddm, mpirun): train, 2-element sample array, merge, eval all COMPLETED; results line written"
    else
        fail "pipeline.sh with the stand-in ddm"
        for i in $ids; do scontrol show job "$i" | grep -E 'JobId|JobState' | sed 's/^/    | /'; done
        for f in "$RUN"/slurm-*.out; do echo "    | -- $f"; show_log "$f" 8; done
    fi
    check "eval waits on the sample array with afterok ($dep)" grep -q 'afterok:' <<<"$dep"
    check "mpirun launcher used as asked" grep -q 'launch (mpirun' "$RUN/slurm-ddm-train-"*.out
else
    fail "pipeline.sh submits"; show_log "$TMP/pipe.err"
fi

# the time-limit signal job started at the beginning
wait_jobs 60 "$TL_ID"
if [ -s "$TMP/tl.mark" ]; then ok "--time=1 --signal=B:USR1@58: batch script trapped USR1 ($(cat "$TMP/tl.mark"))"
else fail "--signal=B:USR1@58 before a 1-minute limit: no USR1 reached the batch script"; show_log "$TMP/tl.out"; fi

# ---- 4. the real ddm -------------------------------------------------------------------
# each part runs once the jobs it needs are built; until then it is a FAILED check
# naming what is missing (never a skip)
built() { local out; out=$("$DDM" "$1" --help 2>&1) && ! grep -q 'not built yet' <<<"$out"; }
need() {  # need WHAT JOB...: true when all are built, else one failed check
    local what=$1 m=() c; shift
    for c in "$@"; do built "$c" || m+=("$c"); done
    [ ${#m[@]} -eq 0 ] && return 0
    fail "$what: ddm ${m[0]} not built yet${m[1]:+ (nor ddm ${m[*]:1})}"
    return 1
}
cat >"$TMP/tiny.ini" <<'EOF'
[model]
ch = 8
ch_mult = 1,2
num_res_blocks = 1
attn_resolutions =
groups = 4
image_size = 32
[train]
batch = 8
max_steps = 20
ckpt_every = 10
[diffusion]
timesteps = 100
EOF
have_data=0
if need "tiny dataset" prep; then
    if "$DDM" prep --from fashion-mnist --out "$TMP/data.h5" --pad 2 --limit 256 >"$TMP/prep.out" 2>&1; then
        ok "ddm prep: tiny fashion-mnist set (256 images)"; have_data=1
    else
        fail "ddm prep --from fashion-mnist --limit 256"; show_log "$TMP/prep.out"
    fi
fi
newest() { find "$1" -maxdepth 1 -name 'ckpt-*.h5' 2>/dev/null | sort | tail -1; }

# 'scontrol requeue' of a running train job (the path of PreemptMode=REQUEUE): Slurm
# signals the batch script, ddm checkpoints and exits 99, the script's own requeue request
# is refused because Slurm is requeueing it already; issue 17: that printed an error line
if need "scontrol requeue of a running train job" train && [ $have_data = 1 ]; then
    RQ=$TMP/real-rq
    mkdir -p "$RQ"
    j=$(sbatch --parsable -o "$RQ/train.out" "$ROOT/slurm/train.sbatch" \
        --data "$TMP/data.h5" --out "$RQ" --config "$TMP/tiny.ini" --set train.max_steps=80)
    for _ in $(seq 1 300); do [ -n "$(newest "$RQ")" ] && break; sleep 0.1; done
    scontrol requeue "$j"
    wait_jobs 180 "$j" || scancel "$j"
    restarts=$(job_field "$j" Restarts)
    # Slurm's own lines (slurmstepd's "CANCELLED ... DUE TO JOB REQUEUE", srun's exit code) are
    # not the script's: no error line of train.sbatch or ddm
    if all_completed "$j" && [ "${restarts:-0}" -ge 1 ] && ! grep -Eq 'ddm-train [0-9]+: error|ddm: error' "$RQ/train.out" &&
       [ "$(basename "$(newest "$RQ")")" = ckpt-00000080.h5 ]; then
        ok "scontrol requeue of a running train job: requeued (Restarts=$restarts), resumed, finished, no error line of train.sbatch or ddm: $(grep -m1 -o 'Slurm is requeueing the job already[^:]*\|exit 99): requeueing' "$RQ/train.out")"
    else
        fail "scontrol requeue of a running train job (state $(job_field "$j" JobState), restarts ${restarts:-?})"
        show_log "$RQ/train.out" 25
    fi
fi

# preemption: train.sbatch gets USR1 mid-run, checkpoints, is requeued and finishes; the
# weights equal those of an uninterrupted run at the same rank count
if need "preemption with the real ddm train" train && [ $have_data = 1 ]; then
    STEPS=80
    REF=$TMP/real-ref PRE=$TMP/real-pre
    mkdir -p "$PRE"
    j=$(sbatch --parsable -o "$PRE/train.out" "$ROOT/slurm/train.sbatch" \
        --data "$TMP/data.h5" --out "$PRE" --config "$TMP/tiny.ini" --set train.max_steps=$STEPS)
    # signal once the first checkpoint (step 10) is there, well before step $STEPS
    for _ in $(seq 1 300); do [ -n "$(newest "$PRE")" ] && break; sleep 0.1; done
    scancel --signal=USR1 --batch "$j"
    wait_jobs 120 "$j" || scancel "$j"
    restarts=$(job_field "$j" Restarts)
    if all_completed "$j" && [ "${restarts:-0}" -ge 1 ] && grep -q 'exit 99): requeueing' "$PRE/train.out"; then
        ok "real ddm train under train.sbatch: USR1 -> $(grep -o -m1 'checkpoint at step [0-9]*' "$PRE/train.out"), exit 99, requeued (Restarts=$restarts), resumed, finished"
    else
        fail "real ddm train preempted by USR1 (state $(job_field "$j" JobState), exit $(job_field "$j" ExitCode), restarts ${restarts:-?})"
        show_log "$PRE/train.out" 25
    fi
    # the same run uninterrupted, outside Slurm, with the same 2 ranks x 1 thread (the
    # thread count changes the float sums, tests/run.sh exports OMP_NUM_THREADS=2)
    if OMP_NUM_THREADS=1 mpirun2 2 "$DDM" train --data "$TMP/data.h5" --out "$REF" --config "$TMP/tiny.ini" \
        --set train.max_steps=$STEPS >"$TMP/ref-train.out" 2>&1; then
        check "preempted run ends at step $STEPS with the weights of an uninterrupted run" \
            "$PYTHON" - "$(newest "$PRE")" "$(newest "$REF")" "$STEPS" <<'EOF'
import sys, h5py, numpy as np
a, b, steps = h5py.File(sys.argv[1], 'r'), h5py.File(sys.argv[2], 'r'), int(sys.argv[3])
assert int(a.attrs['step']) == steps, f"{sys.argv[1]}: step {a.attrs['step']}, want {steps}"
names = []
b.visit(lambda k: names.append(k) if isinstance(b[k], h5py.Dataset) else None)
assert names, "no tensors in the reference checkpoint"
bad = [k for k in names if k not in a or not np.array_equal(a[k][()], b[k][()])]
assert not bad, f"{len(bad)} of {len(names)} tensors differ, e.g. {bad[:3]}"
print(f"{len(names)} tensors equal at step {steps}")
EOF
    else
        fail "uninterrupted reference run (mpirun -n 2 ddm train)"; show_log "$TMP/ref-train.out"
    fi
fi

# a 2-element sample.sbatch array: disjoint seed slices; merged, the same bytes as one job
SEEDS_PY='
import sys, h5py
def seeds(path):
    f = h5py.File(path, "r"); out = {}
    def visit(name, obj):
        if isinstance(obj, h5py.Group) and "seeds" in obj:
            assert obj["done"][:].all(), f"{path}:{name}: unfinished images"
            out[name] = sorted(int(s) for s in obj["seeds"][:])
    f.visititems(visit)
    assert out, f"{path}: no group with seeds"
    return out
'
CKPT=$( [ -n "${PRE:-}" ] && newest "$PRE")
if need "sample array with the real ddm" sample && [ -n "$CKPT" ]; then
    RUN=$TMP/real-array; mkdir -p "$RUN"
    ja=$(sbatch --parsable --array=0-1 --ntasks-per-node=1 -o "$RUN/array-%A_%a.out" \
         "$ROOT/slurm/sample.sbatch" --ckpt "$CKPT" --out "$RUN/s.h5" --seeds 0-7 --steps 10)
    js=$(sbatch --parsable -o "$RUN/single.out" \
         "$ROOT/slurm/sample.sbatch" --ckpt "$CKPT" --out "$RUN/single.h5" --seeds 0-7 --steps 10)
    wait_jobs 120 "$ja" "$js" || scancel "$ja" "$js"
    if all_completed "$ja" && all_completed "$js"; then
        check "real ddm sample array: element 0 made seeds 0-3, element 1 seeds 4-7" "$PYTHON" -c "$SEEDS_PY
a, b = seeds(sys.argv[1]), seeds(sys.argv[2])
assert all(v == [0, 1, 2, 3] for v in a.values()), a
assert all(v == [4, 5, 6, 7] for v in b.values()), b" "$RUN/s.part-0.h5" "$RUN/s.part-1.h5"
        if need "merged sample array equals a single job's file" merge; then
            "$DDM" merge --out "$RUN/merged.h5" "$RUN/s.part-0.h5" "$RUN/s.part-1.h5" >"$RUN/merge.out" 2>&1
            check "real ddm: merged 2-element array equals the single job's file byte for byte" \
                cmp "$RUN/merged.h5" "$RUN/single.h5"
        fi
        # a stale merge (issue 17): eval.sbatch merges the parts and scores; then the parts get
        # a new group (another sampler setting in the same folder) and eval.sbatch runs again:
        # it must merge again and score the new group too
        if need "eval.sbatch re-merges changed parts" merge eval; then
            EV=(--merge-from "$RUN/s.part-0.h5" --merge-from "$RUN/s.part-1.h5" --samples "$RUN/m.h5"
                --ref "$TMP/data.h5" --features pixels --metrics fid --out "$RUN/res.jsonl")
            je=$(sbatch --parsable -o "$RUN/eval1.out" "$ROOT/slurm/eval.sbatch" "${EV[@]}")
            wait_jobs 60 "$je" || scancel "$je"
            "$DDM" sample --ckpt "$CKPT" --out "$RUN/s.part-0.h5" --seeds 0-3 --steps 5 >/dev/null 2>&1 &&
            "$DDM" sample --ckpt "$CKPT" --out "$RUN/s.part-1.h5" --seeds 4-7 --steps 5 >/dev/null 2>&1
            je2=$(sbatch --parsable -o "$RUN/eval2.out" "$ROOT/slurm/eval.sbatch" "${EV[@]}")
            wait_jobs 60 "$je2" || scancel "$je2"
            if all_completed "$je" && all_completed "$je2" && grep -q '"group": "ddim-5-eta0"' "$RUN/res.jsonl" &&
               grep -q 'merge 2 parts again' "$RUN/eval2.out"; then
                ok "eval.sbatch in a re-run: merged the parts again and scored the new group ($(grep -c '"group"' "$RUN/res.jsonl") results lines)"
            else
                fail "eval.sbatch re-merge of changed parts"; show_log "$RUN/eval2.out" 15
            fi
        fi
    else
        fail "real ddm sample array and single job complete"
        for f in "$RUN"/*.out; do echo "    | -- $f"; show_log "$f" 8; done
    fi
fi

# the whole pipeline on a tiny configuration
if need "pipeline with the real ddm" train sample eval && [ $have_data = 1 ]; then
    RUN=$TMP/run-real
    if DDM_TRAIN_TIME=10 DDM_SAMPLE_TIME=10 DDM_EVAL_TIME=10 \
        "$ROOT/slurm/pipeline.sh" --seeds 0-7 --sample-opt "--steps 10" "$TMP/tiny.ini" "$TMP/data.h5" "$RUN" \
        >"$TMP/real.ids" 2>"$TMP/real.err"; then
        ids=$(awk '{print $2}' "$TMP/real.ids" | tr '\n' ' ')
        wait_jobs 150 $ids || scancel $ids
        for i in $ids; do
            name=$(job_field "$i" JobName)
            if all_completed "$i"; then ok "real pipeline: $name job $i COMPLETED"
            else fail "real pipeline: $name job $i $(job_field "$i" JobState) $(job_field "$i" ExitCode)"
                for f in "$RUN"/slurm-"$name"-*.out; do show_log "$f" 15; done; fi
        done
        check "real pipeline: a checkpoint in the run folder" test -n "$(newest "$RUN")"
        check "real pipeline: samples.h5 holds seeds 0-7, all done" "$PYTHON" -c "$SEEDS_PY
s = seeds(sys.argv[1])
assert all(v == list(range(8)) for v in s.values()), s" "$RUN/samples.h5"
        check "real pipeline: a results line" grep -q '"fid"' "$RUN/results.jsonl"
    else
        fail "real pipeline.sh submits"; show_log "$TMP/real.err"
    fi
fi

# ---- stop ------------------------------------------------------------------------------
"$CLUSTER" stop "$SD"
left=$(grep -lzxF "DDM_SLURM_TEST_DIR=$(cd "$SD" && pwd)" /proc/[0-9]*/environ 2>/dev/null)
check "cluster stopped: no daemon of this run left" test -z "$left"
echo "slurm tests: $(( $(date +%s) - T_START ))s"
summary
