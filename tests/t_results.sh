#!/usr/bin/env bash
# scripts/fmnist_results.sh (the script behind every figure of the README's "The shipped
# model" section) at toy size: the floor and the ceiling in full, a few samples of each
# sampler and guidance weight, the table; then a second run makes no new image.
source "$(dirname "$0")/lib.sh"
O=$TMP/res
export NS=30 NS_DDPM=10 DDPM_STEPS=10 NS_GUIDE=20 RANKS=2 THREADS=1
check "scripts/fmnist_results.sh at toy size (NS=$NS, DDPM $DDPM_STEPS steps)" "$ROOT/scripts/fmnist_results.sh" "$O"
cp "$TMP/last.out" "$TMP/run1.log"
sed -n '/^| images/,$p' "$TMP/run1.log" | sed 's/^/    /'
getg() { "$PYTHON" - "$O/results.jsonl" "$1" "$2" "$3" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sel = [r for r in rows if sys.argv[2] in r["samples"] and r["group"] == sys.argv[3]]
print(sel[0][sys.argv[4]] if sel else "missing")
EOF
}
gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }
floor=$(getg fmnist-test.h5 data fid); ceil=$(getg noise.h5 data fid); acc=$(getg fmnist-test.h5 data class_match)
gt 0.1 "$floor" && ok "the floor (test vs train) is small: FID $floor" || fail "floor FID $floor"
gt "$ceil" 30 && ok "the ceiling (noise vs train) is large: FID $ceil" || fail "ceiling FID $ceil"
[ "$acc" = 0.9019 ] && ok "class match of the test split = the classifier's test accuracy 0.9019" || fail "test class match $acc"
[ "$(getg ddim50.h5 ddim-50-eta0 n)" = 30 ] && [ "$(getg ddpm.h5 ddpm-10 n)" = 10 ] \
    && [ "$(getg guidance.h5 ddim-50-w3 nfe)" = 100 ] && ok "every sampler scored (n 30, 10; guided NFE 100)" \
    || fail "results: ddim $(getg ddim50.h5 ddim-50-eta0 n), ddpm $(getg ddpm.h5 ddpm-10 n), w3 nfe $(getg guidance.h5 ddim-50-w3 nfe)"
[ "$(grep -c '^| ' "$O/results.md" 2>/dev/null)" = 9 ] && ok "results.md: header + 8 rows" || fail "results.md rows: $(grep -c '^| ' "$O/results.md")"
[ "$(head -c 4 "$O/ddim50.png" | od -An -c | tr -d ' ')" = '211PNG' ] && ok "the DDIM-50 grid is a PNG" || fail "no ddim50.png"
# the README's accuracy command for the shipped classifier
check "the shipped classifier on the test split" "$DDM" eval --task accuracy --features classifier:"$ROOT/models/fmnist-classifier.h5" --ref "$O/fmnist-test.h5"
grep -q '"accuracy": 0.9019,' "$TMP/last.out" && ok "its accuracy is 0.9019 (the README's figure)" || fail "accuracy: $(grep -o '"accuracy": [0-9.]*' "$TMP/last.out")"
check "a second run resumes: no image made again" "$ROOT/scripts/fmnist_results.sh" "$O"
[ "$(grep -c 'nothing to do' "$TMP/last.out")" = 3 ] && ok "all 3 sampling steps had nothing to do" \
    || fail "second run sampled again: $(grep -c 'nothing to do' "$TMP/last.out") 'nothing to do' lines"

# scripts/train_fmnist.sh (how the shipped model was made) for 4 steps: prep, 2-rank
# training with configs/fmnist.ini, the slim EMA file, which ddm sample takes
check "scripts/train_fmnist.sh for 4 steps" env EMA=0.999 "$ROOT/scripts/train_fmnist.sh" "$TMP/tr" \
    --set train.max_steps=4 --set train.log_every=2
check "its slim model is a checkpoint with one EMA copy" bash -c "'$DDM' info '$TMP/tr/fmnist-ema.h5' | grep -q '/ema/0.999' && ! '$DDM' info '$TMP/tr/fmnist-ema.h5' | grep -q '/optim\|/model'"
check "its training log has the steps" test "$(grep -c '"step"' "$TMP/tr/fmnist-metrics.jsonl")" -eq 2
check "ddm sample takes it" "$DDM" sample --ckpt "$TMP/tr/fmnist-ema.h5" --out "$TMP/tr/s.h5" --seeds 0-7 --steps 2 --class-per-seed
summary
