#!/usr/bin/env bash
# Run every test: the C unit tests (bin/tests/test_*) and the shell tests (tests/t_*.sh).
# Each ends with "N passed, M failed"; this sums them into one closing line.
#   tests/run.sh            all
#   tests/run.sh WORD       only tests whose name contains WORD
set -u
cd "$(dirname "$0")/.."
filter=${1:-}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
mkdir -p build/test-logs
total_pass=0 total_fail=0 broken=()
start=$(date +%s)
run_one() {
    local name=$1; shift
    local log="build/test-logs/$name.log" t0=$(date +%s)
    echo "== $name"
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    local line
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
    if [ -z "$line" ]; then
        echo "FAIL $name: ended (exit $rc) without its closing line"
        total_fail=$((total_fail + 1)); broken+=("$name"); return
    fi
    local p f
    p=$(echo "$line" | awk '{print $1}'); f=$(echo "$line" | awk '{print $3}')
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $name: exit $rc"; total_fail=$((total_fail + 1))
    fi
    { [ "$f" -ne 0 ] || [ "$rc" -ne 0 ]; } && broken+=("$name")
    echo "-- $name: $line ($(( $(date +%s) - t0 ))s)"
}
for t in bin/tests/test_*; do
    [ -x "$t" ] || continue
    n=$(basename "$t")
    [ -n "$filter" ] && [[ $n != *"$filter"* ]] && continue
    run_one "$n" "$t"
done
for t in tests/t_*.sh; do
    [ -f "$t" ] || continue
    n=$(basename "$t" .sh)
    [ -n "$filter" ] && [[ $n != *"$filter"* ]] && continue
    run_one "$n" bash "$t"
done
echo
[ ${#broken[@]} -gt 0 ] && echo "failing: ${broken[*]}"
echo "all tests: $(( $(date +%s) - start ))s"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
