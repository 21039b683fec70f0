#!/usr/bin/env bash
# Submit the whole pipeline: train, then sample (afterok train), then eval (afterok
# sample), and print the job ids.
#
#   slurm/pipeline.sh [options] CONFIG.ini DATASET.h5 RUN_DIR
#
# options:
#   --seeds A-B        seeds to sample (default $DDM_SEEDS)
#   --array K          sample as a job array of K elements, each a slice of the seeds;
#                      eval merges the K part files first (default $DDM_SAMPLE_ARRAY)
#   --ref FILE.h5      reference set for eval (default: the dataset)
#   --set key=value    passed to ddm train (repeatable)
#   --sample-opt "OPTS"  options for ddm sample, split on blanks (repeatable),
#                      e.g. --sample-opt "--sampler ddim --steps 50"
#   --eval-opt "OPTS"  options for ddm eval, the same way
#   --dry-run          print the sbatch commands instead of running them
#
# Writes into RUN_DIR: checkpoints (ddm train), samples.h5 (or samples.part-i.h5 and
# then samples.h5), results.jsonl, and the jobs' logs slurm-<job>-<id>.out.
# Prints one line per job, "train ID", "sample ID", "eval ID", and nothing else on stdout.
#
# ---- site settings: everything a site changes; each can also be set in the environment
DDM_PARTITION=${DDM_PARTITION:-}          # partition (-p); empty: the cluster's default
DDM_ACCOUNT=${DDM_ACCOUNT:-}              # account to charge (-A); empty: your default
DDM_QOS=${DDM_QOS:-}                      # QOS (-q); empty: the default
DDM_MODULES=${DDM_MODULES:-}              # modules the jobs load, e.g. "openmpi hdf5/1.10"
DDM_TRAIN_TIME=${DDM_TRAIN_TIME:-04:00:00}   # time limit of one train job (it requeues itself)
DDM_SAMPLE_TIME=${DDM_SAMPLE_TIME:-02:00:00}
DDM_EVAL_TIME=${DDM_EVAL_TIME:-01:00:00}
DDM_TRAIN_NODES=${DDM_TRAIN_NODES:-1}
DDM_TRAIN_TASKS_PER_NODE=${DDM_TRAIN_TASKS_PER_NODE:-2}   # MPI ranks per node
DDM_SAMPLE_NODES=${DDM_SAMPLE_NODES:-1}
DDM_SAMPLE_TASKS_PER_NODE=${DDM_SAMPLE_TASKS_PER_NODE:-2}
DDM_EVAL_NODES=${DDM_EVAL_NODES:-1}
DDM_EVAL_TASKS_PER_NODE=${DDM_EVAL_TASKS_PER_NODE:-2}
DDM_CPUS_PER_TASK=${DDM_CPUS_PER_TASK:-1}   # OpenMP threads per rank
DDM_SIGNAL_LEAD=${DDM_SIGNAL_LEAD:-120}     # seconds before the time limit to checkpoint
DDM_SEEDS=${DDM_SEEDS:-0-999}
DDM_SAMPLE_ARRAY=${DDM_SAMPLE_ARRAY:-1}     # >1: sample as a job array of that many elements
DDM_SBATCH_FLAGS=${DDM_SBATCH_FLAGS:-}      # more sbatch flags for every job, e.g. "--constraint=cpu"
DDM_LAUNCHER=${DDM_LAUNCHER:-auto}          # auto|srun|mpirun (see README)
# ---------------------------------------------------------------------------------------
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# the binary: $DDM, else bin/ddm of this tree, else the ddm on PATH (an installed ddm:
# PREFIX/share/ddm/slurm/pipeline.sh with PREFIX/bin on PATH, e.g. by 'module load ddm')
if [ -z "${DDM:-}" ]; then
    if [ -x "$ROOT/bin/ddm" ]; then DDM=$ROOT/bin/ddm
    else DDM=$(command -v ddm || echo "$ROOT/bin/ddm"); fi
fi

usage() { sed -n '2,/^# ---- site/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
die() { echo "pipeline: $*" >&2; exit 1; }

seeds=$DDM_SEEDS array=$DDM_SAMPLE_ARRAY ref="" dry=0
train_set=() sample_opts=() eval_opts=() pos=()
while [ $# -gt 0 ]; do
    case $1 in
        --seeds) seeds=${2:?--seeds needs A-B}; shift ;;
        --seeds=*) seeds=${1#*=} ;;
        --array) array=${2:?--array needs K}; shift ;;
        --array=*) array=${1#*=} ;;
        --ref) ref=${2:?--ref needs a file}; shift ;;
        --ref=*) ref=${1#*=} ;;
        --set) train_set+=(--set "${2:?--set needs key=value}"); shift ;;
        --set=*) train_set+=(--set "${1#*=}") ;;
        # split on blanks on purpose: --sample-opt "--sampler ddim --steps 50"
        --sample-opt) read -ra w <<<"${2:?--sample-opt needs options}"; sample_opts+=("${w[@]}"); shift ;;
        --eval-opt) read -ra w <<<"${2:?--eval-opt needs options}"; eval_opts+=("${w[@]}"); shift ;;
        --dry-run) dry=1 ;;
        -h|--help) usage ;;
        -*) die "unknown option $1 (--help lists them)" ;;
        *) pos+=("$1") ;;
    esac
    shift
done
[ ${#pos[@]} -eq 3 ] || usage
config=${pos[0]} data=${pos[1]} run=${pos[2]}
[ -r "$config" ] || die "config $config: not a readable file"
[ -r "$data" ] || die "dataset $data: not a readable file"
[ -z "$ref" ] && ref=$data
[ -r "$ref" ] || die "reference $ref: not a readable file"
[[ $seeds =~ ^([0-9]+)-([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -le "${BASH_REMATCH[2]}" ] \
    || die "--seeds $seeds: want A-B with A <= B"
nseeds=$(( BASH_REMATCH[2] - BASH_REMATCH[1] + 1 ))
[[ $array =~ ^[1-9][0-9]*$ ]] || die "--array $array: want a positive count"
[ "$array" -le "$nseeds" ] || die "--array $array: more elements than the $nseeds seeds"
[ -x "$DDM" ] || die "$DDM is not an executable (build with make, or set DDM)"
[ "$dry" -eq 1 ] || command -v sbatch >/dev/null || die "sbatch not found (is Slurm's client installed and in PATH?)"

mkdir -p "$run"
abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
config=$(abs "$config") data=$(abs "$data") ref=$(abs "$ref") run=$(cd "$run" && pwd)
samples=$run/samples.h5 results=$run/results.jsonl

# the job scripts read these from the environment they are submitted with
export DDM DDM_LAUNCHER DDM_MODULES
common=(--parsable --chdir="$run" --kill-on-invalid-dep=yes --export=ALL)
[ -n "$DDM_PARTITION" ] && common+=(--partition="$DDM_PARTITION")
[ -n "$DDM_ACCOUNT" ] && common+=(--account="$DDM_ACCOUNT")
[ -n "$DDM_QOS" ] && common+=(--qos="$DDM_QOS")
# shellcheck disable=SC2206 # the site's extra flags are split on spaces on purpose
[ -n "$DDM_SBATCH_FLAGS" ] && common+=($DDM_SBATCH_FLAGS)

submit() {  # submit WHAT sbatch-args...: prints the job id
    local what=$1; shift
    if [ "$dry" -eq 1 ]; then
        printf 'sbatch' >&2; printf ' %q' "$@" >&2; echo >&2
        echo "DRY-$what"
        return
    fi
    local out
    out=$(sbatch "$@") || die "sbatch of the $what job failed"
    echo "${out%%;*}"   # --parsable prints "id" or "id;cluster"
}

train_id=$(submit train "${common[@]}" --job-name=ddm-train \
    --nodes="$DDM_TRAIN_NODES" --ntasks-per-node="$DDM_TRAIN_TASKS_PER_NODE" \
    --cpus-per-task="$DDM_CPUS_PER_TASK" --time="$DDM_TRAIN_TIME" \
    --signal="B:USR1@$DDM_SIGNAL_LEAD" --requeue --open-mode=append \
    --output="$run/slurm-ddm-train-%j.out" \
    "$HERE/train.sbatch" --data "$data" --out "$run" --config "$config" "${train_set[@]}")
echo "train $train_id"

sample_flags=()
merge=()
if [ "$array" -gt 1 ]; then
    sample_flags=(--array="0-$((array - 1))" --output="$run/slurm-ddm-sample-%A_%a.out")
    for ((i = 0; i < array; i++)); do merge+=(--merge-from "$run/samples.part-$i.h5"); done
else
    sample_flags=(--output="$run/slurm-ddm-sample-%j.out")
fi
sample_id=$(submit sample "${common[@]}" --job-name=ddm-sample --dependency="afterok:$train_id" \
    --nodes="$DDM_SAMPLE_NODES" --ntasks-per-node="$DDM_SAMPLE_TASKS_PER_NODE" \
    --cpus-per-task="$DDM_CPUS_PER_TASK" --time="$DDM_SAMPLE_TIME" "${sample_flags[@]}" \
    "$HERE/sample.sbatch" --ckpt "$run" --out "$samples" --seeds "$seeds" "${sample_opts[@]}")
echo "sample $sample_id"

# afterok on an array job id waits for every element
eval_id=$(submit eval "${common[@]}" --job-name=ddm-eval --dependency="afterok:$sample_id" \
    --nodes="$DDM_EVAL_NODES" --ntasks-per-node="$DDM_EVAL_TASKS_PER_NODE" \
    --cpus-per-task="$DDM_CPUS_PER_TASK" --time="$DDM_EVAL_TIME" \
    --output="$run/slurm-ddm-eval-%j.out" \
    "$HERE/eval.sbatch" "${merge[@]}" --samples "$samples" --ref "$ref" --out "$results" "${eval_opts[@]}")
echo "eval $eval_id"
