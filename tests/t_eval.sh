#!/usr/bin/env bash
# ddm eval end to end on Fashion-MNIST: a briefly trained classifier (its accuracy printed),
# FID/KID/IS/precision-recall of real test images and of uniform noise against the train
# split, the reference statistics cache (made, then reused), 1 rank == 2 ranks, pixel FID
# of a set with itself and its symmetry, a stats file as --ref, the pytorch-fid .npz, a
# 2-group sweep (Markdown/CSV table, gnuplot PNG), and the bad inputs.
# The classifier here is small (model.ch=16) and short (400 steps of 64) to keep this under
# ~3 minutes on 2 busy cores; scripts/train_classifier.sh trains the full one (>= 90%).
source "$(dirname "$0")/lib.sh"
t00=$(date +%s)
export OMP_NUM_THREADS=2
H="$ROOT/tests/ref/eval_files.py"
D=$TMP
PY() { "$PYTHON" "$H" "$@"; }
ev1() { OMP_NUM_THREADS=2 $DDM eval "$@"; }             # 1 rank, 2 threads
ev2() { OMP_NUM_THREADS=1 mpirun2 2 $DDM eval "$@"; }    # 2 ranks, 1 thread each
# close A B RTOL [ATOL]: |A - B| <= ATOL + RTOL |B|
close() { awk -v a="$1" -v b="$2" -v t="$3" -v at="${4:-0}" 'BEGIN { d = a - b; if (d < 0) d = -d; m = (b < 0 ? -b : b); exit !(d <= at + t * m) }'; }
gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }

# ---- data and the classifier
check "prep train split (12000 images, --pad 2)" $DDM prep --from fashion-mnist --split train --limit 12000 --pad 2 --out "$D/train.h5"
check "prep test split (--pad 2)" $DDM prep --from fashion-mnist --split test --pad 2 --out "$D/test.h5"
if [ ! -f "$D/train.h5" ] || [ ! -f "$D/test.h5" ]; then summary; exit 1; fi
t=$(date +%s)
check "train the classifier (ch 16, 400 steps of 64)" $DDM train --task classifier --data "$D/train.h5" --out "$D/clf" \
    --set model.num_classes=10 --set model.ch=16 --set train.batch=64 --set train.max_steps=400 --set train.lr=3e-3 \
    --set train.warmup=30 --set train.log_every=100 --set train.ckpt_every=400
echo "    (classifier training: $(( $(date +%s) - t ))s)"
CLF="classifier:$D/clf"
ev1 --task accuracy --features "$CLF" --ref "$D/test.h5" >"$D/acc.log" 2>&1
acc=$(grep -o '"accuracy": [0-9.e-]*' "$D/acc.log" | awk '{print $2}')
echo "    accuracy on the 10000 test images: ${acc:-?}  ($(grep -o '([0-9]* of [0-9]*)' "$D/acc.log"))"
if [ -n "$acc" ] && gt "$acc" 0.6; then ok "eval --task accuracy: $acc (> 0.6 for 400 steps; the full classifier: scripts/train_classifier.sh)"
else fail "eval --task accuracy: '${acc:-none}'"; sed 's/^/    | /' "$D/acc.log" | tail -5; fi
check "files to score (tests/ref/eval_files.py)" PY make "$D" "$D/test.h5"

# ---- real test images and noise against the train split (classifier features)
R=$D/results.jsonl
t=$(date +%s)
# KID and P/R on at most 2000 rows a side (--max-n; P/R is O(N^2)), FID on all 5000
check "eval test images vs train (computes the reference cache)" ev1 --samples "$D/s_test.h5" --ref "$D/train.h5" --features "$CLF" --metrics fid,is --out "$R"
cp "$TMP/last.out" "$D/first.log"
grep -q "computing the reference statistics" "$D/first.log" && ok "first run computes the reference statistics" || fail "first run: no 'computing' line"
cache=$(ls "$D"/train.stats-classifier-*.h5 2>/dev/null | head -1)
[ -n "$cache" ] && ok "cache written: $(basename "$cache")" || fail "no train.stats-classifier-*.h5 beside the reference"
fid_t=$(PY get "$R" fid); is_t=$(PY get "$R" is)
check "eval test images vs train: KID, P/R (2000 rows a side)" ev1 --samples "$D/s_test.h5" --ref "$D/train.h5" --features "$CLF" --kid-subsets 20 --max-n 2000 --out "$R"
kid_t=$(PY get "$R" kid); p_t=$(PY get "$R" precision); r_t=$(PY get "$R" recall); fid_t2k=$(PY get "$R" fid)
check "results line: every field present" PY fields "$R"
check "eval noise vs train (reuses the cache)" ev1 --samples "$D/s_noise.h5" --ref "$D/train.h5" --features "$CLF" --kid-subsets 20 --max-n 2000 --out "$R"
cp "$TMP/last.out" "$D/second.log"
fid_n=$(PY get "$R" fid); kid_n=$(PY get "$R" kid); is_n=$(PY get "$R" is); p_n=$(PY get "$R" precision)
echo "    FID test vs train: $fid_t (5000 images; $fid_t2k with 2000)    FID noise vs train: $fid_n (2000 images)"
echo "    KID test $kid_t, noise $kid_n;  IS test $is_t, noise $is_n;  P/R test $p_t/$r_t, noise P $p_n"
s1=$(grep -o 'computed: .*, [0-9.]* s' "$D/first.log" | grep -o '[0-9.]* s$' | awk '{print $1}')
s2=$(grep -o 'reused from the cache .*, [0-9.]* s' "$D/second.log" | grep -o '[0-9.]* s$' | awk '{print $1}')
if [ -n "$s2" ] && [ -n "$s1" ] && gt "$s1" "$s2"; then ok "second run reuses the cache: reference ${s2}s instead of ${s1}s"
else fail "cache reuse (first '${s1:-?}' s, second '${s2:-?}' s)"; grep reference "$D/second.log" | sed 's/^/    | /'; fi
gt "$fid_n" "$(awk -v a="$fid_t" 'BEGIN{print 10*a}')" && ok "FID noise ($fid_n) >> FID test ($fid_t) (> 10x)" || fail "FID noise $fid_n vs test $fid_t"
gt 5 "$fid_t" && ok "FID test vs train is small: $fid_t" || fail "FID test vs train not small: $fid_t"
gt "$(awk -v a="$kid_n" 'BEGIN{print a/20}')" "$kid_t" && ok "KID test ($kid_t) << KID noise ($kid_n)" || fail "KID test $kid_t vs noise $kid_n"
gt "$is_t" 3 && gt 1.5 "$is_n" && ok "IS test $is_t (> 3), noise $is_n (~1)" || fail "IS test $is_t noise $is_n"
gt "$p_t" 0.7 && gt "$r_t" 0.7 && gt 0.1 "$p_n" && ok "precision/recall test $p_t/$r_t (> 0.7), noise precision $p_n (< 0.1)" || fail "P/R test $p_t/$r_t noise $p_n"

# 28x28 samples: the classifier pads them to 32 exactly as prep --pad 2 did
check "28x28 samples vs the 32x32 reference (classifier pads)" ev1 --samples "$D/s_test28.h5" --ref "$D/train.h5" --features "$CLF" --metrics fid --out "$R"
fid_28=$(PY get "$R" fid)
close "$fid_28" "$fid_t" 1e-9 && ok "FID of the 28x28 samples = FID of the padded ones ($fid_28)" || fail "28x28 FID $fid_28 vs $fid_t"

# ---- 1 rank == 2 ranks
# Features are the same bits at any rank count (each image goes through the classifier in
# the same batch of 256); the thread count changes them by ~1e-8 (float32 GEMM order).
# Noise vs train (FID ~ 100+), with the reference recomputed at 2 ranks (--no-cache): 1e-6.
check "2 ranks: noise vs train, reference computed in parallel (--no-cache)" ev2 --samples "$D/s_noise.h5" --ref "$D/train.h5" --features "$CLF" --metrics fid,is --no-cache --out "$R"
fid_2=$(PY get "$R" fid); is_2=$(PY get "$R" is)
close "$fid_2" "$fid_n" 1e-6 && ok "FID noise: 2 ranks $fid_2 = 1 rank $fid_n (1e-6 rel)" || fail "FID noise 2 ranks $fid_2 vs 1 rank $fid_n"
close "$is_2" "$is_n" 1e-6 && ok "IS noise: 2 ranks $is_2 = 1 rank $is_n (1e-6 rel)" || fail "IS noise 2 ranks $is_2 vs $is_n"
# Test vs train: the FID (~0.02) is what is left of tr S1 + tr S2 - 2 tr sqrt(..) ~ 90 - 90,
# and the near-zero eigenvalues of the bracket pass their float64 rounding (~eps * max) through
# a square root: the 1x1 and 1x2 ScaLAPACK grids differ by ~1e-7 absolute (~5e-6 of the FID,
# ~1e-9 of the terms) from statistics equal to 1e-15. Held to 1e-6 absolute, 1e-4 relative.
check "2 ranks: test vs train, KID and P/R spread over ranks" ev2 --samples "$D/s_test.h5" --ref "$D/train.h5" --features "$CLF" --kid-subsets 20 --max-n 2000 --out "$R"
f2=$(PY get "$R" fid); k2=$(PY get "$R" kid); p2=$(PY get "$R" precision)
close "$f2" "$fid_t2k" 0 1e-6 \
    && ok "FID test: 2 ranks $f2 = 1 rank $fid_t2k (|diff| <= 1e-6)" || fail "FID test: 2 ranks $f2 vs 1 rank $fid_t2k"
close "$k2" "$kid_t" 1e-4 1e-7 && close "$p2" "$p_t" 0 1e-3 \
    && ok "KID, precision at 2 ranks = 1 rank ($k2, $p2)" || fail "2 ranks: kid $k2 p $p2 vs $kid_t $p_t"

# ---- a stats file as --ref
check "the cache file itself as --ref" ev1 --samples "$D/s_test.h5" --ref "$cache" --features "$CLF" --metrics fid --out "$R"
close "$(PY get "$R" fid)" "$fid_t" 1e-12 && ok "stats-file reference gives the same FID" || fail "stats-file FID $(PY get "$R" fid) vs $fid_t"
[ "$(PY get "$R" class_match)" = None ] && ok "unconditional samples (label -1): class match null" \
    || fail "unconditional class match: $(PY get "$R" class_match)"

# ---- class match: the share of samples the classifier puts in their requested class
check "class match: test images requested as their true / the next class" ev1 --samples "$D/s_testlab.h5" --ref "$D/train.h5" --features "$CLF" --metrics fid --out "$R"
cm_true=$(PY getg "$R" ddim-50-eta0-true class_match); cm_next=$(PY getg "$R" ddim-50-eta0-next class_match)
ev1 --task accuracy --features "$CLF" --ref "$D/test5klab.h5" >"$D/acc5k.log" 2>&1
acc5k=$(grep -o '"accuracy": [0-9.e-]*' "$D/acc5k.log" | awk '{print $2}')
close "$cm_true" "${acc5k:-nan}" 0 2e-4 && ok "class match with the true labels $cm_true = the accuracy on those 5000 images ${acc5k}" \
    || fail "class match $cm_true vs accuracy '${acc5k}'"
gt 0.2 "$cm_next" && ok "class match with the next class as request: $cm_next (< 0.2)" || fail "class match next: $cm_next"
check "a dataset file as --samples: one group 'data'" ev1 --samples "$D/test5klab.h5" --ref "$D/train.h5" --features "$CLF" --metrics fid --out "$R"
close "$(PY getg "$R" data fid)" "$fid_t" 1e-9 && [ "$(PY getg "$R" data class_match)" = "$cm_true" ] \
    && ok "the dataset file scores as the same images in a samples file (FID $(PY getg "$R" data fid), class match $cm_true)" \
    || fail "dataset as samples: FID $(PY getg "$R" data fid) vs $fid_t, class match $(PY getg "$R" data class_match) vs $cm_true"
cp "$D/test5klab.h5" "$D/own.h5"; cksum "$D/own.h5" >"$D/own.sum"
check_fails "eval --out naming the samples file is refused (issue 16)" "--out .*own.h5 is also the --samples file" ev1 --samples "$D/own.h5" --ref "$D/train.h5" --features "$CLF" --metrics fid --out "$D/own.h5"
check_fails "eval --out naming the reference file is refused" "is also the --ref file" ev1 --samples "$D/test5klab.h5" --ref "$D/own.h5" --features "$CLF" --metrics fid --out "$D/own.h5"
check "eval: ... and that file is unchanged" bash -c "cksum '$D/own.h5' | cmp -s - '$D/own.sum'"
check_fails "a dataset file as --samples with another --group" "a dataset file has one group, 'data', not 'x'" ev1 --samples "$D/test5klab.h5" --ref "$D/train.h5" --features "$CLF" --group x
grep -q "class match" "$D/s_testlab-eval.md" && ok "the sweep table has the class match column" || fail "no class match column in the table"

# ---- pixels: FID(X, X) = 0, symmetry; the .npz
check "pixels: test images vs the same images (npz)" ev1 --samples "$D/s_test.h5" --ref "$D/test5k.h5" --features pixels --metrics fid --npz "$D/s_test.npz" --out "$R"
fid_xx=$(PY get "$R" fid)
gt 1e-4 "$(awk -v a="$fid_xx" 'BEGIN{print (a<0?-a:a)}')" && ok "FID(X, X) = $fid_xx (0 to rounding)" || fail "FID(X, X) = $fid_xx"
if out=$(PY npz "$D/s_test.npz" "$D/test5k.stats-pixels.h5" "$D/s_test.h5" 2>&1); then ok "$out"
else fail "npz: $out"; fi
check "pixels: test images vs noise" ev1 --samples "$D/s_test.h5" --ref "$D/noise_ds.h5" --features pixels --metrics fid --out "$R"
fab=$(PY get "$R" fid)
check "pixels: noise vs test images" ev1 --samples "$D/s_noise.h5" --ref "$D/test5k.h5" --features pixels --metrics fid --out "$R"
fba=$(PY get "$R" fid)
close "$fab" "$fba" 1e-6 && ok "FID symmetric: $fab / $fba" || fail "FID not symmetric: $fab vs $fba"

# ---- a sweep: table and plot
check "sweep file (2 groups): table and plot" ev1 --samples "$D/s_sweep.h5" --ref "$D/train.h5" --features "$CLF" --kid-subsets 5 --max-n 1000 --out "$R"
[ "$(grep -c '^| ddim' "$D/s_sweep-eval.md" 2>/dev/null)" = 2 ] && ok "Markdown table: 2 rows" || fail "s_sweep-eval.md"
head -1 "$D/s_sweep-eval.csv" 2>/dev/null | grep -qx 'group,sampler,steps,eta,guidance,NFE,n,FID,KID,IS,P,R,class_match' && [ "$(wc -l <"$D/s_sweep-eval.csv")" = 3 ] \
    && ok "CSV table: header + 2 rows" || fail "s_sweep-eval.csv"
sed 's/^/    /' "$D/s_sweep-eval.md"
[ "$(head -c 4 "$D/s_sweep-eval.png" 2>/dev/null | od -An -c | tr -d ' ')" = '211PNG' ] && ok "FID vs NFE plot is a PNG ($(stat -c %s "$D/s_sweep-eval.png") bytes)" || fail "no PNG plot"
DDM_GNUPLOT=/nonexistent/gnuplot ev1 --samples "$D/s_sweep.h5" --ref "$D/train.h5" --features "$CLF" --metrics fid --table "$D/ng" --out "$R" >"$D/ng.log" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q "gnuplot not found" "$D/ng.log" && [ ! -e "$D/ng.png" ] && [ -f "$D/ng.md" ] \
    && ok "gnuplot missing: a warning, no plot, the table still written" || fail "gnuplot missing (exit $rc)"
grep -m1 "gnuplot not found" "$D/ng.log" | sed "s/^/    /"

# ---- partial files
check_fails "unfinished samples file" "37 of 100 rows done" ev1 --samples "$D/s_partial.h5" --ref "$D/train.h5" --features "$CLF"
check "--allow-partial scores the 37 finished rows" ev1 --samples "$D/s_partial.h5" --ref "$D/train.h5" --features "$CLF" --allow-partial --metrics fid,is --out "$R"
[ "$(PY get "$R" n)" = 37 ] && ok "--allow-partial: n = 37" || fail "--allow-partial: n = $(PY get "$R" n)"

# ---- bad input
check_fails "samples and reference with different channels" "3-channel images, the reference .* 1-channel" ev1 --samples "$D/s_rgb.h5" --ref "$D/train.h5" --features pixels
check_fails "classifier and 3-channel samples" "3-channel images, the reference|images have 3 channels" ev1 --samples "$D/s_rgb.h5" --ref "$D/train.h5" --features "$CLF"
check_fails "pixels: 28x28 samples vs 32x32 reference" "28x28 images, the reference .* 32x32: --features pixels needs equal sizes" ev1 --samples "$D/s_test28.h5" --ref "$D/train.h5" --features pixels
check_fails "a stats file made with another extractor" "statistics of other features \(the file's: pixels" ev1 --samples "$D/s_test.h5" --ref "$D/test5k.stats-pixels.h5" --features "$CLF"
check "... in one line (issue 16: it printed four)" test "$(grep -c . "$TMP/last.out")" -eq 1
check_fails "missing samples file" "nonexistent.h5: No such file" ev1 --samples "$D/nonexistent.h5" --ref "$D/train.h5"
check_fails "missing reference file" "nope.h5: No such file" ev1 --samples "$D/s_test.h5" --ref "$D/nope.h5"
check_fails "missing classifier checkpoint" "noclf: No such file" ev1 --samples "$D/s_test.h5" --ref "$D/train.h5" --features "classifier:$D/noclf"
check_fails "unknown metric" "unknown metric 'fdi'" ev1 --samples "$D/s_test.h5" --ref "$D/train.h5" --metrics fid,fdi
check_fails "unknown --features scheme" "unknown feature scheme 'clip'" ev1 --samples "$D/s_test.h5" --ref "$D/train.h5" --features clip:x.h5
check_fails "inception: missing weights file" "w.h5: No such file" ev1 --samples "$D/s_test.h5" --ref "$D/train.h5" --features inception:"$D/w.h5"
check_fails "inception: not a weights file" "is a ddm 'dataset' file, expected a 'inception_weights' file" ev1 --samples "$D/s_test.h5" --ref "$D/train.h5" --features inception:"$D/train.h5"
check_fails "IS with pixel features" "Inception Score needs class probabilities" ev1 --samples "$D/s_test.h5" --ref "$D/train.h5" --features pixels --metrics fid,is
check_fails "a checkpoint as --samples" "is a ddm 'checkpoint' file, expected a 'samples' file" ev1 --samples "$(ls "$D"/clf/ckpt-*.h5 | tail -1)" --ref "$D/train.h5"
check_fails "unknown group" "has no sampler group 'ddim-99'" ev1 --samples "$D/s_sweep.h5" --ref "$D/train.h5" --group ddim-99
check_fails "bad input at 2 ranks: one clear error" "unknown metric 'xx'" ev2 --samples "$D/s_test.h5" --ref "$D/train.h5" --metrics xx
[ "$(grep -c "unknown metric 'xx'" "$TMP/last.out")" = 1 ] && ok "2 ranks: the error is printed once" || fail "2 ranks: error printed $(grep -c "unknown metric" "$TMP/last.out") times"

# ---- the Inception extractor on random weights (slow on CPU, ~0.2 s an image a core, and
# an 87 MB weights file: only with T_EVAL_INCEPTION=1). 12 samples (28x28, resized to 299)
# against 16 reference images, at 1 and 2 ranks.
if [ "${T_EVAL_INCEPTION:-0}" = 1 ]; then
    t=$(date +%s)
    if "$PYTHON" "$ROOT/tests/ref/convert_inception.py" --random 1 "$D/inc.h5" >"$D/inc.log" 2>&1 && PY tiny "$D" "$D/test.h5"; then
        # 1 thread a rank both times: the features are then the same bits (threads change them
        # by ~1e-7: float32 GEMM order)
        check "inception: 12 samples vs 16 images, 1 rank" env OMP_NUM_THREADS=1 $DDM eval --samples "$D/s_test28.h5" --ref "$D/tiny_ds.h5" --features "inception:$D/inc.h5" --max-n 12 --metrics fid,kid,pr --kid-subsets 5 --npz "$D/inc1.npz" --out "$R"
        fi1=$(PY get "$R" fid)
        check "inception: the same at 2 ranks (--no-cache)" ev2 --samples "$D/s_test28.h5" --ref "$D/tiny_ds.h5" --features "inception:$D/inc.h5" --max-n 12 --metrics fid,kid,pr --kid-subsets 5 --no-cache --npz "$D/inc2.npz" --out "$R"
        fi2=$(PY get "$R" fid)
        # the statistics agree to rounding; the FID of 12 points in 2048-D (2037 zero
        # eigenvalues, their rounding through a square root; 1x1 vs 1x2 grid) to 1e-5
        if out=$(PY cmpnpz "$D/inc1.npz" "$D/inc2.npz" 1e-9 2>&1); then ok "inception statistics at 2 ranks = 1 rank: $out"; else fail "inception statistics: $out"; fi
        close "$fi2" "$fi1" 1e-5 && ok "inception FID 2 ranks $fi2 = 1 rank $fi1 ($(( $(date +%s) - t ))s)" || fail "inception FID $fi2 vs $fi1"
    else
        fail "random Inception weights (tests/ref/convert_inception.py --random)"; tail -5 "$D/inc.log" | sed 's/^/    | /'
    fi
fi

echo "(t_eval: $(( $(date +%s) - t00 ))s)"
summary
