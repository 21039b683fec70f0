#!/usr/bin/env bash
# ddm sample (the sampling farm) and ddm merge on tiny models trained here: image identity
# over rank counts, batch sizes and threads; kill + resume == uninterrupted; SIGUSR1 ->
# status 99 + resume; a 3-setting sweep; every sampler on a matching process; guidance;
# clear errors with no half-written file; merge of two seed ranges == one run.
source "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=1
cd "$TMP"
D=$TMP/fm.h5
$DDM prep --from fashion-mnist --split test --pad 2 --limit 256 --out "$D" >/dev/null || { fail "prep"; summary; exit 1; }
cat > tiny.ini <<'INI'
[model]
ch = 8
ch_mult = 1,2
num_res_blocks = 1
attn_resolutions = 16
groups = 4
num_classes = 10
[diffusion]
timesteps = 100
[train]
batch = 16
lr = 1e-3
warmup = 10
max_steps = 20
log_every = 10
ckpt_every = 20
ema = 0.9
INI
check "train a tiny class-conditional vp model (100 steps)" $DDM train --data "$D" --config tiny.ini --out vp
check "train a tiny unconditional ve model (20 levels)" $DDM train --data "$D" --config tiny.ini --out ve \
    --set diffusion.process=ve --set diffusion.num_scales=20 --set model.num_classes=0
S() { $DDM sample --ckpt vp "$@"; }
S2() { mpirun2 2 $DDM sample --ckpt vp "$@"; }

# same A B: images, seeds, labels, done of every group and all attributes equal
same() {
    "$PYTHON" - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
bad = []
def attrs(x, y, where):
    if sorted(x.attrs) != sorted(y.attrs): bad.append(f"{where}: attributes {sorted(x.attrs)} vs {sorted(y.attrs)}")
    for k in x.attrs:
        if k in y.attrs and not np.array_equal(np.asarray(x.attrs[k]), np.asarray(y.attrs[k])):
            bad.append(f"{where}: attribute {k}: {x.attrs[k]!r} vs {y.attrs[k]!r}")
attrs(a, b, "/")
if sorted(a) != sorted(b): bad.append(f"groups {sorted(a)} vs {sorted(b)}")
for g in sorted(set(a) & set(b)):
    attrs(a[g], b[g], g)
    for d in ("images", "seeds", "labels", "done"):
        x, y = a[g][d][()], b[g][d][()]
        if x.dtype != y.dtype or x.shape != y.shape or not np.array_equal(x, y):
            bad.append(f"{g}/{d} differs")
    if not a[g]["done"][()].all(): bad.append(f"{g}: not every row done")
print("\n".join(bad) if bad else "identical: " + ", ".join(f"{g} ({a[g]['done'].shape[0]} rows)" for g in sorted(a)))
sys.exit(1 if bad else 0)
PY
}
# done_count FILE: finished rows over all groups
done_count() { "$PYTHON" -c "import h5py,sys; f=h5py.File(sys.argv[1],'r'); print(sum(int(f[g]['done'][()].sum()) for g in f))" "$1"; }

# 1. identity: 1 rank batch 64 == 2 ranks batch 8 == 1 rank batch 3 == 2 threads batch 24
check "1 rank, batch 64 (48 seeds, ddim 10 steps, class per seed)" S --out ref.h5 --seeds 0-47 --steps 10 --class-per-seed --batch 64
check "2 ranks, batch 8" S2 --out r2.h5 --seeds 0-47 --steps 10 --class-per-seed --batch 8
check "1 rank, batch 3" S --out b3.h5 --seeds 0-47 --steps 10 --class-per-seed --batch 3
check "1 rank, 2 threads, batch 24" env OMP_WAIT_POLICY=passive $DDM sample --ckpt vp --out t2.h5 --seeds 0-47 --steps 10 --class-per-seed --batch 24 --threads 2
check "1 rank batch 64 == 2 ranks batch 8 (images, seeds, labels, done, attributes)" same ref.h5 r2.h5
check "1 rank batch 64 == 1 rank batch 3" same ref.h5 b3.h5
check "1 rank batch 64 and 2 ranks batch 8: the files are byte-identical" cmp ref.h5 r2.h5
check "1 thread == 2 threads" same ref.h5 t2.h5
check "labels are seed % 10" "$PYTHON" -c "import h5py,numpy as np; g=h5py.File('ref.h5','r')['ddim-10-eta0']; assert (g['labels'][()]==g['seeds'][()]%10).all() and list(g['seeds'][()])==list(range(48))"
check "the grid PNG ref-ddim-10-eta0.png is there" test -s ref-ddim-10-eta0.png
# --class-per-seed: one class per row, 10 a row (48 seeds: 4 or 5 a class, the rest gray)
check "class-per-seed grid: 10 rows of 10 (331x331 pixels)" "$PYTHON" -c "import struct,sys; b=open('ref-ddim-10-eta0.png','rb').read(24); sys.exit(struct.unpack('>II', b[16:24]) != (331, 331))"
check "DDIM eta=0 twice: same bytes" bash -c "$DDM sample --ckpt vp --out again.h5 --seeds 0-47 --steps 10 --class-per-seed --eta 0 >/dev/null && h5diff ref.h5 again.h5 /ddim-10-eta0/images /ddim-10-eta0/images"
check "ddim eta=1 differs from eta=0" bash -c "$DDM sample --ckpt vp --out eta1.h5 --seeds 0-47 --steps 10 --class-per-seed --eta 1 >/dev/null && ! h5diff -q ref.h5 eta1.h5 /ddim-10-eta0/images /ddim-10-eta1/images"

# 2. kill -9 a 2-rank run after its first round was written; the re-run makes only the rest
KILL_ARGS=(--out "$TMP/k.h5" --seeds 0-239 --steps 10 --batch 8 --items-per-rank 2 --progress-every 0)
check "uninterrupted run (240 seeds)" S --out full.h5 --seeds 0-239 --steps 10
S2 "${KILL_ARGS[@]}" > kill.out 2>&1 &
mpid=$!
for _ in $(seq 300); do grep -q '^images [1-9]' kill.out && break; sleep 0.05; done
kill -9 $(pgrep -f "bin/ddm sample .*$TMP/k.h5") 2>/dev/null
wait $mpid 2>/dev/null
n_before=$(done_count k.h5 2>/dev/null || echo 0)
if [ "$n_before" -gt 0 ] && [ "$n_before" -lt 240 ]; then ok "killed part-way: $n_before of 240 images written"
else fail "kill part-way: $n_before of 240 images written"; fi
S2 "${KILL_ARGS[@]}" > resume.out 2>&1
check "the re-run says it resumes and makes only the missing $((240 - n_before))" \
    grep -q "resuming .*: $n_before of 240 images already done; making the $((240 - n_before)) missing" resume.out
check "the re-run made $((240 - n_before)) images" grep -q "done: $((240 - n_before)) images" resume.out
check "killed + resumed == uninterrupted" same full.h5 k.h5
check "a re-run of a finished file does nothing" bash -c "$DDM sample --ckpt vp ${KILL_ARGS[*]} | grep -q 'nothing to do'"

# 3. SIGUSR1 to one rank: the round is written, status 99, the re-run finishes
S2 --out "$TMP/u.h5" --seeds 0-239 --steps 10 --batch 8 --items-per-rank 2 --progress-every 0 > usr1.out 2>&1 &
mpid=$!
for _ in $(seq 300); do grep -q '^images [1-9]' usr1.out && break; sleep 0.05; done
kill -USR1 "$(pgrep -f "bin/ddm sample .*$TMP/u.h5" | tail -1)"
wait $mpid; rc=$?
if [ $rc -eq 99 ] && grep -q "signal received" usr1.out; then ok "SIGUSR1 to one rank: round written, exit status 99 ($(done_count u.h5) of 240 done)"
else fail "SIGUSR1: exit $rc"; tail -5 usr1.out | sed 's/^/    | /'; fi
check "resume after the signal" S --out "$TMP/u.h5" --seeds 0-239 --steps 10 --batch 8
check "signalled + resumed == uninterrupted" same full.h5 u.h5

# 4. a sweep: 3 settings, 3 groups, 3 grids
cat > sweep.ini <<'INI'
# cheap and costly settings mixed
[ddim-10]
sampler = ddim
steps = 10
eta = 0
[ddim-20]  sampler = ddim  steps = 20
[ddpm-50]
sampler = ddpm   ; ancestral
steps = 50
INI
S2 --out sweep.h5 --seeds 0-15 --sweep sweep.ini --batch 8 > sweep.out 2>&1
check "sweep on 2 ranks: groups ddim-10, ddim-20, ddpm-50, all done" "$PYTHON" -c "
import h5py; f=h5py.File('sweep.h5','r'); assert sorted(f)==['ddim-10','ddim-20','ddpm-50'], sorted(f)
assert all(f[g]['done'][()].all() for g in f); assert f['ddpm-50'].attrs['steps']==50 and f['ddim-20'].attrs['nfe']==20"
check "sweep: a grid per group" test -s sweep-ddim-10.png -a -s sweep-ddim-20.png -a -s sweep-ddpm-50.png
check "sweep: summary with img/s, NFE/s and busy fraction" grep -Eq "done: 48 images .* img/s, .* NFE/s, busy fraction min [0-9.]+ mean [0-9.]+" sweep.out
grep -E "^ddm sample: done" sweep.out | sed 's/^/    /'

# 5. every sampler on a matching process
for smp in ddpm ddim pc ode dpmpp2m; do
    check "vp: $smp" S --out "vp-$smp.h5" --seeds 0-3 --sampler $smp --steps 6 --class-per-seed
done
check "ve: langevin" $DDM sample --ckpt ve --out ve-langevin.h5 --seeds 0-3 --sampler langevin --steps 5 --steps-per-level 2
check "ve: pc" $DDM sample --ckpt ve --out ve-pc.h5 --seeds 0-3 --sampler pc --steps 5
check "ve: ode" $DDM sample --ckpt ve --out ve-ode.h5 --seeds 0-3 --sampler ode --steps 5
check "every sampler's images are finished and not constant" "$PYTHON" -c "
import h5py, glob
for p in glob.glob('vp-*.h5') + glob.glob('ve-*.h5'):
    f = h5py.File(p, 'r')
    for g in f:
        x = f[g]['images'][()]
        assert f[g]['done'][()].all() and x.std() > 1, (p, g, x.std())"

# 6. guidance
check "guidance 3 with --class 2" S --out guided.h5 --seeds 0-3 --steps 5 --guidance 3 --class 2
check "guided group ddim-5-eta0-w3-c2, labels 2, nfe 10" "$PYTHON" -c "
import h5py; g=h5py.File('guided.h5','r')['ddim-5-eta0-w3-c2']; assert (g['labels'][()]==2).all() and g.attrs['guidance']==3 and g.attrs['nfe']==10"

# 7. bad input: a clear error and no output file
echo "not a checkpoint" > garbage.h5
bad() { local what=$1 pat=$2; shift 2; rm -f bad.h5; check_fails "$what" "$pat" "$@"; [ -e bad.h5 ] && fail "$what: left bad.h5 behind"; }
bad "missing checkpoint" "nope.h5: No such file" $DDM sample --ckpt nope.h5 --out bad.h5 --seeds 0-3
bad "garbage checkpoint" "garbage.h5: not an HDF5 file" $DDM sample --ckpt garbage.h5 --out bad.h5 --seeds 0-3
"$PYTHON" -c "import h5py; h5py.File('kind5.h5', 'w').attrs['kind'] = 5"
bad "a file whose kind is a number (issue 16: named no file)" "kind5.h5: attribute 'kind' is not a string" $DDM sample --ckpt kind5.h5 --out bad.h5 --seeds 0-3
bad "a dataset file as checkpoint" "expected a 'checkpoint' file" $DDM sample --ckpt "$D" --out bad.h5 --seeds 0-3
bad "langevin on a vp model" "sampler 'langevin' needs process ve; the model is vp" S --out bad.h5 --seeds 0-3 --sampler langevin
bad "ddim on a ve model" "sampler 'ddim' needs process vp" $DDM sample --ckpt ve --out bad.h5 --seeds 0-3 --sampler ddim
cp "$ROOT/tests/golden/vp.h5" nan.h5 && "$PYTHON" -c "
import h5py, numpy as np
with h5py.File('nan.h5', 'r+') as f: d = f['ema/0.9/down.0.block.0.conv1.bias']; x = d[()]; x[3] = np.nan; x[5] = np.inf; d[...] = x"
bad "a checkpoint whose weights hold NaN/Inf (issue 16)" "nan.h5: the EMA 0.9 weights hold NaN or Inf \(2 of the 8 values of down.0.block.0.conv1.bias" \
    $DDM sample --ckpt nan.h5 --out bad.h5 --seeds 0-3
bad "negative --threads (issue 16: ran 2 threads)" "\-\-threads -2: want a count >= 1" S --out bad.h5 --seeds 0-3 --threads -2
cp "$ROOT/tests/golden/vp.h5" negstep.h5 && "$PYTHON" -c "
import h5py
with h5py.File('negstep.h5', 'r+') as f: f.attrs['step'] = -5"
bad "a checkpoint with step = -5 (issue 16: accepted)" "negstep.h5: checkpoint attributes out of range \(step -5" $DDM sample --ckpt negstep.h5 --out bad.h5 --seeds 0-3
bad "seeds end before start" "\-\-seeds 5-3: end before start" S --out bad.h5 --seeds 5-3
bad "seeds garbage" "\-\-seeds 1-x: bad range" S --out bad.h5 --seeds 1-x
bad "overlapping seed ranges" "seed 3 is in two ranges" S --out bad.h5 --seeds 0-5,3-9
bad "a seed beyond 2^63-1" "'9999999999999999999' is out of range" S --out bad.h5 --seeds 9999999999999999999
bad "a range of 2^63 seeds" "more than 100000000 seeds" S --out bad.h5 --seeds 0-9223372036854775807
bad "2 ranks: the largest seeds, a range too long, ends without a hang" "more than 100000000 seeds" S2 --out bad.h5 --seeds 9223372036854775806-9223372036854775807,0-99999999
check "the largest seed, 9223372036854775807, is one seed" bash -c "$DDM sample --ckpt vp --out big.h5 --seeds 9223372036854775806-9223372036854775807 --steps 2 >/dev/null && \"$PYTHON\" -c \"import h5py; g=h5py.File('big.h5','r')['ddim-2-eta0']; assert list(g['seeds'][()])==[9223372036854775806, 9223372036854775807] and g['done'][()].all()\""
bad "guidance on an unconditional model" "the model is unconditional" $DDM sample --ckpt ve --out bad.h5 --seeds 0-3 --guidance 3
bad "guidance without a class" "needs a class to guide toward" S --out bad.h5 --seeds 0-3 --guidance 3
bad "class out of range" "class 10 out of range: the model has classes 0..9" S --out bad.h5 --seeds 0-3 --class 10
bad "class on an unconditional model" "unconditional" $DDM sample --ckpt ve --out bad.h5 --seeds 0-3 --class 1
bad "steps beyond the model's timesteps" "steps 500 exceed the model's 100 timesteps" S --out bad.h5 --seeds 0-3 --steps 500
bad "unknown sampler" "unknown sampler 'foo'" S --out bad.h5 --seeds 0-3 --sampler foo
bad "missing EMA rate" "has no EMA weights at rate 0.5 \(it has: 0.9\)" S --out bad.h5 --seeds 0-3 --ema-rate 0.5
printf '[a]\nsampler = ddim\nbogus = 1\n' > badsweep.ini
bad "unknown key in a sweep" "badsweep.ini:3 \[a\]: unknown sampler option 'bogus'" S --out bad.h5 --seeds 0-3 --sweep badsweep.ini
bad "2 ranks: an error is an error" "end before start" S2 --out bad.h5 --seeds 5-3
if [ "$(id -u)" -eq 0 ]; then RO=/sys; else mkdir -p ro && chmod 555 ro; RO=$TMP/ro; fi
check_fails "unwritable --out folder" "folder .* is not writable" S --out "$RO/bad.h5" --seeds 0-3
check_fails "--out folder missing" "folder .*/nowhere does not exist" S --out "$TMP/nowhere/bad.h5" --seeds 0-3
check_fails "an existing --out that is not a samples file" "exists and is a ddm 'dataset' file" S --out "$D" --seeds 0-3
check_fails "an existing --out made with other weights" "group ddim-10-eta0 was made with weights=ema:0.9, this run asks weights=raw" \
    S --out ref.h5 --seeds 0-47 --steps 10 --class-per-seed --weights raw
check_fails "an existing --out made with other seeds" "group ddim-10-eta0 holds 48 rows .*this run asks 50" \
    S --out ref.h5 --seeds 0-49 --steps 10 --class-per-seed
check_fails "an existing --out made from another checkpoint" "was made from checkpoint step 20 .*this run uses step 40" \
    bash -c "$DDM train --data '$D' --config tiny.ini --out vp2 --set train.max_steps=40 >/dev/null && $DDM sample --ckpt vp2 --out ref.h5 --seeds 0-47 --steps 10 --class-per-seed"
check "ref.h5 untouched by the refused runs" same ref.h5 r2.h5

# 8. merge: two disjoint seed ranges of a job array == one run
check "job array element 1: seeds 0-23" S --out part1.h5 --seeds 0-23 --steps 10 --class-per-seed --batch 16
check "job array element 2: seeds 24-47 (2 ranks)" S2 --out part2.h5 --seeds 24-47 --steps 10 --class-per-seed --batch 8
check "merge" $DDM merge --out merged.h5 part2.h5 part1.h5
check "merged == one run over seeds 0-47" same ref.h5 merged.h5
check "merged == one run, byte for byte" cmp ref.h5 merged.h5
printf '[z-ddim]\nsampler = ddim\nsteps = 4\n[a-ode]\nsampler = ode\nsteps = 3\n' > za.ini
S --out za-all.h5 --seeds 0-15 --sweep za.ini >/dev/null 2>&1
S --out za-1.h5 --seeds 0-5 --sweep za.ini >/dev/null 2>&1
S2 --out za-2.h5 --seeds 6-15 --sweep za.ini >/dev/null 2>&1
check "merge of a sweep (groups z-ddim, a-ode) == one run, byte for byte" \
    bash -c "$DDM merge --out za-m.h5 za-1.h5 za-2.h5 >/dev/null && cmp za-all.h5 za-m.h5"
check_fails "merge of overlapping seeds" "seed 0 is in both" $DDM merge --out m2.h5 part1.h5 ref.h5
S --out other.h5 --seeds 48-55 --steps 10 --class-per-seed --weights raw >/dev/null 2>&1
check_fails "merge of different settings" "settings" $DDM merge --out m2.h5 part1.h5 other.h5
$DDM sample --ckpt vp2 --out other2.h5 --seeds 48-55 --steps 10 --class-per-seed >/dev/null 2>&1
check_fails "merge of different checkpoints" "cannot be merged" $DDM merge --out m2.h5 part1.h5 other2.h5
check "no half-written merge output" test ! -e m2.h5
summary
