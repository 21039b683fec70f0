# Shell test helpers, sourced by tests/t_*.sh. One line per check, then
# "N passed, M failed" from summary; the script's exit status follows.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DDM="$ROOT/bin/ddm"
PYTHON=${PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# quiet Open MPI's warnings about the missing high-speed transports of a laptop or VM
export OMPI_MCA_btl=self,vader,tcp OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_pml=ob1
# ranks on oversubscribed cores yield instead of spinning (else 2 ranks on 2 busy cores stall)
export OMPI_MCA_mpi_yield_when_idle=1
export OMPI_MCA_btl_base_warn_component_unused=0
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
_PASS=0
_FAIL=0
TMP=$(mktemp -d /tmp/ddm-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

ok()   { echo "ok   $*"; _PASS=$((_PASS + 1)); }
fail() { echo "FAIL $*"; _FAIL=$((_FAIL + 1)); }
# check "what" command...: passes when the command exits 0
check() { local what=$1; shift; if "$@" >"$TMP/last.out" 2>&1; then ok "$what"; else fail "$what"; sed 's/^/    | /' "$TMP/last.out" | tail -20; fi; }
# check_fails "what" pattern command...: passes when the command exits non-zero and its
# output contains the pattern (grep -E)
check_fails() {
    local what=$1 pat=$2; shift 2
    if "$@" >"$TMP/last.out" 2>&1; then fail "$what (exited 0)"; sed 's/^/    | /' "$TMP/last.out" | tail -5
    elif grep -Eq -- "$pat" "$TMP/last.out"; then ok "$what: $(grep -E -m1 -- "$pat" "$TMP/last.out")"
    else fail "$what (no '$pat' in output)"; sed 's/^/    | /' "$TMP/last.out" | tail -5; fi
}
# tiny_ini FILE [LINE...]: the tests' tiny class-conditional model (ch 8, two levels, 10
# classes, T = 100, EMA 0.9); the LINEs ("batch = 8", ...) complete its [train] section
tiny_ini() {
    local f=$1; shift
    { printf '[model]\nch = 8\nch_mult = 1,2\nnum_res_blocks = 1\nattn_resolutions = 16\ngroups = 4\n'
      printf 'num_classes = 10\n[diffusion]\ntimesteps = 100\n[train]\nema = 0.9\n'
      [ $# -gt 0 ] && printf '%s\n' "$@"; } > "$f"
}
mpirun2() { mpirun -n "$1" --oversubscribe --bind-to none "${@:2}"; }
summary() { echo "$_PASS passed, $_FAIL failed"; [ "$_FAIL" -eq 0 ]; }
