#!/usr/bin/env bash
# The README's walk-through block (after <!-- readme-session -->) runs as written, with
# bin/ on PATH, from a folder holding configs/. (make demo runs the demo; tests/t_slurm.sh
# runs slurm/pipeline.sh.)
source "$(dirname "$0")/lib.sh"
export PATH="$ROOT/bin:$PATH" OMP_NUM_THREADS=1
mkdir -p "$TMP/w" && ln -s "$ROOT/configs" "$TMP/w/configs"
cd "$TMP/w"
n=0
while IFS= read -r line; do
    [ -z "$line" ] && continue
    n=$((n + 1))
    # mpirun as root here needs the flags tests/lib.sh exports as OMPI_* variables
    check "README command $n: $line" bash -c "$line < /dev/null"
done < <(awk '/<!-- readme-session -->/ {f=1; next} f && /^```sh/ {g=1; next} g && /^```/ {exit} g' "$ROOT/README.md")
check "the block had its 8 commands" test "$n" -eq 8
check "samples.h5 is complete" bash -c "ddm info samples.h5 | grep -q '64 of 64'"
check "results line written" test -s results.jsonl
check "64 PNGs exported" test "$(ls pngs | wc -l)" -eq 64
summary
