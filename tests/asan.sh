#!/usr/bin/env bash
# make test-asan: the C unit tests and end-to-end runs (prep, 2-rank training with a resume,
# 2-rank sampling with a task and guidance, eval, export, info --verify, and a bad input)
# on the binaries built under AddressSanitizer + UndefinedBehaviorSanitizer (bin-asan/).
# Any sanitizer report fails it: ASan aborts on the first error; UBSan is built with
# -fno-sanitize-recover; leaks are not checked (MPI and HDF5 keep their own at exit).
source "$(dirname "$0")/lib.sh"
B=$ROOT/bin-asan
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:halt_on_error=1:exitcode=86
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=87
export OMP_NUM_THREADS=1
pass=0 failn=0
run() { # what, command...
    local what=$1; shift
    if "$@" >"$TMP/out" 2>&1 && ! grep -qE "ERROR: AddressSanitizer|runtime error:" "$TMP/out"; then
        echo "ok   $what"; pass=$((pass + 1))
    else
        echo "FAIL $what"; failn=$((failn + 1)); grep -E "ERROR|runtime error|SUMMARY|#[0-9] " "$TMP/out" | head -20 | sed 's/^/    | /'
    fi
}
cd "$ROOT"
for t in "$B"/tests/test_*; do
    run "$(basename "$t")" "$t"
done
cd "$TMP"
D=$B/ddm
run "prep" "$D" prep --from fashion-mnist --split test --pad 2 --limit 128 --out fm.h5
tiny_ini tiny.ini "batch = 8" "max_steps = 4" "ckpt_every = 2"
run "train, 2 ranks" mpirun -n 2 --bind-to none "$D" train --data fm.h5 --config tiny.ini --out run
run "train resumed, 2 ranks" mpirun -n 2 --bind-to none "$D" train --data fm.h5 --config tiny.ini --out run --set train.max_steps=6
run "noisy classifier" "$D" train --data fm.h5 --config tiny.ini --task noisy-classifier --out nc
run "classifier" "$D" train --data fm.h5 --config tiny.ini --task classifier --out clf
run "sample with classifier guidance, 2 ranks" mpirun -n 2 --bind-to none "$D" sample --ckpt run --out s.h5 --seeds 0-15 --steps 4 --class-per-seed --classifier nc --classifier-scale 2 --batch 8
run "sample pnp with a clean classifier" "$D" sample --ckpt run --out p.h5 --seeds 0-7 --sampler pnp --steps 3 --class 2 --prior-classifier clf --classifier-scale 1
"$D" prep --from mask:centre,1 --out centre.h5 >/dev/null 2>&1
run "sample repaint, 2 ranks" mpirun -n 2 --bind-to none "$D" sample --ckpt run --out r.h5 --seeds 0-1 --steps 8 --task repaint --jump-length 2 --resample 2 --input fm.h5 --mask centre.h5 --batch 8
run "eval, 2 ranks" mpirun -n 2 --bind-to none "$D" eval --samples s.h5 --ref fm.h5 --features classifier:clf --out e.jsonl
run "export" "$D" export --samples s.h5 --png-dir pngs
run "info --verify" "$D" info --verify run/ckpt-00000006.h5
run "info RUN_DIR" "$D" info run
run "a bad input fails cleanly" bash -c "! '$D' sample --ckpt nope.h5 --out x.h5 --seeds 0-3"
echo "$pass passed, $failn failed"
[ "$failn" -eq 0 ]
