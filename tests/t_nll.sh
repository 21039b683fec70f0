#!/usr/bin/env bash
# ddm eval --metrics nll: the variational bound in bits/dim of tiny briefly trained models
# (T = 20 linear eps; T = 16 cosine v) on 16 Fashion-MNIST test images: 1 rank == 2 ranks ==
# 2 threads == other batch sizes, byte for byte (per-image noise, network outputs and terms);
# every term recomputed independently in numpy/scipy and the network rerun in PyTorch
# (tests/ref/nll_ref.py, 1e-6 relative on per-image bits/dim), which is shown to fail on a
# tampered dump; the --nll-steps estimate and --nll-var; scripts/nll_results.sh at toy
# size; the bad inputs, with no output written.
source "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=1
D=$TMP
REF="$ROOT/tests/ref/nll_ref.py"
# field NAME FILE: a number of the last JSON line of FILE
field() { tail -1 "$2" | grep -o "\"$1\": [^,}]*" | awk '{print $2}'; }
FIELDS="bpd_beta bpd_beta_se bpd_beta_tilde bpd_beta_tilde_se prior_bpd kl_beta_bpd kl_beta_tilde_bpd decoder_bpd"
# same_fields A B: every bound figure of the last lines of A and B equal as printed (%.17g)
same_fields() { for f in $FIELDS; do [ "$(field $f "$1")" = "$(field $f "$2")" ] && [ -n "$(field $f "$1")" ] || return 1; done; }

$DDM prep --from fashion-mnist --split test --pad 2 --limit 16 --out "$D/fm.h5" >/dev/null || { fail "prep"; summary; exit 1; }
$DDM prep --from fashion-mnist --split test --limit 4 --out "$D/fm28.h5" >/dev/null || { fail "prep 28x28"; summary; exit 1; }
cat > "$D/tiny.ini" <<'INI'
[model]
ch = 8
ch_mult = 1,2
num_res_blocks = 1
attn_resolutions = 16
groups = 4
[diffusion]
timesteps = 20
beta_end = 0.3
[train]
batch = 16
lr = 1e-3
warmup = 5
max_steps = 10
log_every = 10
ckpt_every = 10
ema = 0.9
INI
tr() { $DDM train --data "$D/fm.h5" --config "$D/tiny.ini" "$@" >/dev/null; }
check "train a tiny eps model (T = 20, linear, 10 steps)" tr --out "$D/eps"
check "train a tiny v model (T = 16, cosine, 10 steps)" tr --out "$D/v" --set diffusion.prediction=v \
    --set diffusion.schedule=cosine --set diffusion.timesteps=16
check "train a tiny ve model (1 step)" tr --out "$D/ve" --set diffusion.process=ve --set train.max_steps=1 --set train.ckpt_every=1
nll() { $DDM eval --metrics nll --data "$D/fm.h5" "$@"; }

# ---- the bound, and its invariance
check "1 rank: the whole bound (20 steps), with the test dump" nll --model "$D/eps" --out "$D/r1.jsonl" --nll-dump "$D/d1.h5"
cp "$TMP/last.out" "$D/r1.log"
grep -E "bits/dim|terms|cost" "$D/r1.log" | sed 's/^/    /'
check "2 ranks, batch 5" mpirun2 2 $DDM eval --metrics nll --data "$D/fm.h5" --model "$D/eps" --out "$D/r2.jsonl" --nll-dump "$D/d2.h5" --batch 5
check "1 rank x 2 threads, batch 16" env OMP_NUM_THREADS=2 $DDM eval --metrics nll --data "$D/fm.h5" --model "$D/eps" --out "$D/r3.jsonl" --batch 16
if same_fields "$D/r1.jsonl" "$D/r2.jsonl" && same_fields "$D/r1.jsonl" "$D/r3.jsonl"; then
    ok "1 rank, 2 ranks (batch 5) and 2 threads (batch 16): the same figures to the last digit (bpd_beta $(field bpd_beta "$D/r1.jsonl"))"
else fail "the figures depend on ranks/threads/batch"; for f in $FIELDS; do echo "    $f $(field $f "$D/r1.jsonl") $(field $f "$D/r2.jsonl") $(field $f "$D/r3.jsonl")"; done; fi
check "1 rank and 2 ranks: byte-identical per-image noise, network outputs and terms (h5diff of the dumps)" h5diff "$D/d1.h5" "$D/d2.h5" /noise /noise
check "  ... /out" h5diff "$D/d1.h5" "$D/d2.h5" /out /out
check "  ... /terms" h5diff "$D/d1.h5" "$D/d2.h5" /terms /terms
check "JSON line: n 16, T 20, nll_steps 20, not an estimate, 320 network evaluations" \
    bash -c "tail -1 '$D/r1.jsonl' | grep -q '\"n\": 16, \"dims\": 1024, \"T\": 20, \"nll_steps\": 20, \"estimate\": false' && tail -1 '$D/r1.jsonl' | grep -q '\"nfe\": 320'"
check "both bounds positive" \
    awk -v a="$(field bpd_beta "$D/r1.jsonl")" -v b="$(field bpd_beta_tilde "$D/r1.jsonl")" 'BEGIN { exit !(a > 0 && b > 0) }'
check "the terms add up: L_T + KL (beta) + L_0 = bpd_beta (to 1e-12)" awk -v p="$(field prior_bpd "$D/r1.jsonl")" \
    -v k="$(field kl_beta_bpd "$D/r1.jsonl")" -v l="$(field decoder_bpd "$D/r1.jsonl")" -v b="$(field bpd_beta "$D/r1.jsonl")" \
    'BEGIN { d = p + k + l - b; exit !(d < 1e-12 && d > -1e-12) }'

# ---- the independent check (numpy/scipy terms; PyTorch network)
check "tests/ref/nll_ref.py: eps model, every term and per-image bits/dim to 1e-6, the network rerun in PyTorch" \
    "$PYTHON" "$REF" "$D/d1.h5" --torch
sed 's/^/    /' "$TMP/last.out" | grep -E "bits/dim|network outputs"
check "v model, cosine schedule, x0 clipped (--nll-clip): the bound, with the dump" \
    nll --model "$D/v" --out "$D/rv.jsonl" --nll-dump "$D/dv.h5" --nll-clip --max-n 8
check "tests/ref/nll_ref.py: v model, cosine, clipped, with PyTorch" "$PYTHON" "$REF" "$D/dv.h5" --torch
sed 's/^/    /' "$TMP/last.out" | grep -E "bits/dim \(beta~\)|network outputs"
"$PYTHON" - "$D/d1.h5" "$D/bad.h5" <<'PY'
import shutil, sys, h5py
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "r+") as f:
    f["terms"][3, 1] *= 1 + 1e-5   # one image's KL sum (beta), 1e-5 relative
PY
check_fails "nll_ref.py fails on a dump whose C terms are off by 1e-5 in one image" "FAIL per-image bits/dim \(beta\)" \
    "$PYTHON" "$REF" "$D/bad.h5"

# ---- the estimate and the options
check "--nll-steps 5 (an estimate), with the dump" nll --model "$D/eps" --out "$D/r5.jsonl" --nll-steps 5 --nll-dump "$D/d5.h5"
cp "$TMP/last.out" "$D/r5.log"
check "  says ESTIMATE, JSON estimate true, 5 evaluations an image (80)" bash -c "grep -q 'an ESTIMATE of the bound' '$D/r5.log' && tail -1 '$D/r5.jsonl' | grep -q '\"nll_steps\": 5, \"estimate\": true' && tail -1 '$D/r5.jsonl' | grep -q '\"nfe\": 80'"
check "  nll_ref.py on the estimate's dump (the plan's weights, t = 1 first)" "$PYTHON" "$REF" "$D/d5.h5"
check "  its steps' noise and network outputs are the full run's at the same t, byte for byte (keyed by image and t)" \
    "$PYTHON" -c "
import sys, h5py, numpy as np
a, b = h5py.File('$D/d1.h5', 'r'), h5py.File('$D/d5.h5', 'r')
t1, t5 = list(np.asarray(a['t'], int)), list(np.asarray(b['t'], int))
j = [t1.index(t) for t in t5]
print('steps', t5, 'weights', list(np.asarray(b['weight'])))
sys.exit(not (np.array_equal(np.asarray(a['noise'])[:, j], b['noise']) and np.array_equal(np.asarray(a['out'])[:, j], b['out'])))"
check "--nll-steps 20 = T: the bound itself, the default's figures" bash -c "$DDM eval --metrics nll --data '$D/fm.h5' --model '$D/eps' --out '$D/r20.jsonl' --nll-steps 20 >/dev/null"
same_fields "$D/r1.jsonl" "$D/r20.jsonl" && ok "  the same figures" || fail "--nll-steps 20 differs from the default"
check "--nll-var beta: only beta reported (beta~ null in the JSON)" bash -c "$DDM eval --metrics nll --data '$D/fm.h5' --model '$D/eps' --out '$D/rb.jsonl' --nll-var beta --max-n 4 | grep 'bits/dim' | grep -vq 'beta~' && tail -1 '$D/rb.jsonl' | grep -q '\"bpd_beta_tilde\": null'"
check "--seed 1: other noise, other figures" bash -c "$DDM eval --metrics nll --data '$D/fm.h5' --model '$D/eps' --out '$D/rs.jsonl' --seed 1 >/dev/null && [ \"\$(tail -1 '$D/rs.jsonl' | grep -o '\"bpd_beta\": [^,]*')\" != \"\$(tail -1 '$D/r1.jsonl' | grep -o '\"bpd_beta\": [^,]*')\" ]"
check "--help documents --metrics nll, --nll-steps (an estimate) and --nll-var" bash -c "$DDM eval --help | grep -q 'nll-steps' && $DDM eval --help | grep -q 'ESTIMATE' && $DDM eval --help | grep -q 'beta|beta_tilde|both'"

# ---- scripts/nll_results.sh at toy size: the shipped model, 2 images, 4 and 2 steps, a README copy
cp "$ROOT/README.md" "$D/README.md"
check "scripts/nll_results.sh at toy size (N=2 STEPS=4 EST=2, the shipped model)" \
    env N=2 STEPS=4 EST=2 README="$D/README.md" "$ROOT/scripts/nll_results.sh" "$D/res"
check "  its table (2 rows) is in the README copy between the nll-results lines" bash -c \
    "sed -n '/<!-- nll-results -->/,/<!-- \/nll-results -->/p' '$D/README.md' | grep -c '^| [0-9]' | grep -qx 2"
check "  the rest of the README is unchanged" bash -c \
    "diff <(sed '/<!-- nll-results -->/,/<!-- \/nll-results -->/d' '$ROOT/README.md') <(sed '/<!-- nll-results -->/,/<!-- \/nll-results -->/d' '$D/README.md')"

# ---- bad input: one clear line, non-zero exit, nothing written
E=$D/err.jsonl
check_fails "a ve model" "a ve model: the variational bound .* vp models only" nll --model "$D/ve" --out "$E"
check_fails "--nll-steps 1" "--nll-steps 1: want 2..20" nll --model "$D/eps" --out "$E" --nll-steps 1
check_fails "--nll-steps 21 (T = 20)" "--nll-steps 21: want 2..20" nll --model "$D/eps" --out "$E" --nll-steps 21
check_fails "nll without --model" "needs --model" nll --out "$E"
check_fails "nll without --data" "needs --data" $DDM eval --metrics nll --model "$D/eps" --out "$E"
check_fails "28x28 images for a 32x32 model" "images are 1x28x28 .* takes 1x32x32" $DDM eval --metrics nll --model "$D/eps" --data "$D/fm28.h5" --out "$E"
check_fails "--nll-var nonsense" "--nll-var sigma: want beta, beta_tilde or both" nll --model "$D/eps" --out "$E" --nll-var sigma
check_fails "nll with fid" "nll goes alone" nll --model "$D/eps" --out "$E" --metrics nll,fid
check_fails "--nll-steps without --metrics nll" "go with --metrics nll" $DDM eval --samples "$D/fm.h5" --ref "$D/fm.h5" --nll-steps 5 --out "$E"
check_fails "2 ranks, a ve model: one error, all ranks end" "vp models only" mpirun2 2 $DDM eval --metrics nll --data "$D/fm.h5" --model "$D/ve" --out "$E" --nll-dump "$D/errdump.h5"
[ "$(grep -c 'vp models only' "$TMP/last.out")" -eq 1 ] && ok "  said once" || fail "  said $(grep -c 'vp models only' "$TMP/last.out") times"
check "no results file and no dump (nor its temporary) written by the failed runs" \
    bash -c "[ ! -e '$E' ] && [ -z \"\$(ls '$D' | grep -E 'errdump|tmp-')\" ]"
summary
