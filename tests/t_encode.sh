#!/usr/bin/env bash
# ddm encode (the deterministic encoder, core/sampler.h: sampler_encode) and ddm sample
# --task ddib on the committed tiny class-conditional checkpoint tests/golden/vp.h5 with
# Fashion-MNIST test images: latents the same bytes on 1 and 2 ranks at any batch size;
# what the latents file holds; ddib with source = target gives the inputs back (far closer
# than generation does), 1 rank == 2 ranks; clear errors, a non-zero exit and no output
# left on bad input.
source "$(dirname "$0")/lib.sh"
G=$ROOT/tests/golden
cd "$TMP"
$DDM prep --from fashion-mnist --split test --pad 2 --limit 6 --out in.h5 >/dev/null || { fail "prep"; summary; exit 1; }
$DDM prep --from fashion-mnist --split test --pad 2 --limit 4 --resize 16 --out small.h5 >/dev/null 2>&1
$DDM prep --from mask:centre,1 --out nolabels.h5 >/dev/null 2>&1
E() { $DDM encode --ckpt "$G/vp.h5" --input in.h5 --steps 10 --progress-every 0 "$@"; }
E2() { mpirun2 2 $DDM encode --ckpt "$G/vp.h5" --input in.h5 --steps 10 --progress-every 0 "$@"; }
check "encode ddim 10, class input, 1 rank, batch 64" E --out l1.h5 --class input
check "encode on 2 ranks, batch 4" E2 --out l2.h5 --class input --batch 4
check "encode: 1 rank == 2 ranks (batch 64 vs 4), byte for byte" cmp l1.h5 l2.h5
check "encode ode 6 steps: 1 rank == 2 ranks (batch 3)" bash -c "$DDM encode --ckpt $G/vp.h5 --input in.h5 --sampler ode --steps 6 --class 3 --out o1.h5 >/dev/null && mpirun -n 2 --oversubscribe --bind-to none $DDM encode --ckpt $G/vp.h5 --input in.h5 --sampler ode --steps 6 --class 3 --batch 3 --out o2.h5 >/dev/null && cmp o1.h5 o2.h5"
check "the latents file: /latents (6,1,32,32) finite, /labels = the inputs' labels, attributes say the level-0 state" "$PYTHON" -c "
import h5py, numpy as np
f = h5py.File('l1.h5', 'r'); d = h5py.File('in.h5', 'r')
z = f['latents'][()]; assert z.shape == (6, 1, 32, 32) and z.dtype == np.float32 and np.isfinite(z).all()
assert (f['labels'][()] == d['labels'][()]).all() and f['labels'].dtype == np.int32
a = f.attrs; assert a['kind'] == b'latents' or a['kind'] == 'latents'
assert a['steps'] == 10 and a['sampler'].decode().startswith('ddim steps=10 eta=0') and a['state'].decode() == 'x'
assert 0 < a['a'] < 1 and abs(a['a']**2 + a['sg']**2 - 1) < 1e-9 and a['input'].decode().endswith('/in.h5')
o = h5py.File('o1.h5', 'r'); assert o.attrs['state'].decode() == 'xbar' and o.attrs['a'] == 1 and (o['labels'][()] == 3).all()
print('latent std', z.std(), 'level 0: a', a['a'], 'sg', a['sg'])"
check "encode --class none records -1" bash -c "$DDM encode --ckpt $G/vp.h5 --input in.h5 --steps 5 --out n.h5 >/dev/null && \"$PYTHON\" -c \"
import h5py; assert (h5py.File('n.h5','r')['labels'][()] == -1).all()\""
S() { $DDM sample --ckpt "$G/vp.h5" --seeds 0 --progress-every 0 "$@"; }
check "ddib source = target (the inputs' labels), ddim 40 steps, 1 rank" S --steps 40 --out r1.h5 --task ddib --class input --input in.h5
check "ddib on 2 ranks, batch 4" mpirun2 2 $DDM sample --ckpt "$G/vp.h5" --seeds 0 --progress-every 0 --steps 40 --out r2.h5 --task ddib --class input --input in.h5 --batch 4
check "ddib: 1 rank == 2 ranks, byte for byte" cmp r1.h5 r2.h5
S --steps 10 --out r10.h5 --task ddib --class input --input in.h5 >/dev/null 2>&1
S --steps 40 --out gen.h5 --class input --task sdedit --t0 1 --input in.h5 >/dev/null 2>&1
"$PYTHON" -c "
import h5py, numpy as np
x = h5py.File('in.h5','r')['images'][()].astype(float)
g = lambda p: h5py.File(p,'r')[list(h5py.File(p,'r'))[0]]['images'][()].astype(float)
print(' '.join('%.2f' % np.abs(g(p) - x).mean() for p in ('r1.h5', 'r10.h5', 'gen.h5')))" > recon.txt 2>&1
read -r e40 e10 eg < recon.txt
check "ddib source = target reconstructs: mean |out - in| in pixel values $e40 at 40 steps < $e10 at 10 steps, and < 1/3 of generation's $eg (sdedit t0 1)" \
    "$PYTHON" -c "e40, e10, eg = $e40, $e10, $eg; assert e40 < e10 and e40 < eg / 3"
# bad input: one clear line, a non-zero exit, nothing left behind
bad() {
    local what=$1 pat=$2; shift 2; rm -f bad.h5 bad.h5.tmp-*
    check_fails "$what" "$pat" "$@"
    [ "$(grep -c 'ddm: error' "$TMP/last.out")" -eq 1 ] || fail "$what: not one error line: $(cat "$TMP/last.out")"
    ls bad.h5* >/dev/null 2>&1 && fail "$what: left $(ls bad.h5*) behind"
}
cp in.h5 own.h5
check_fails "encode: --out naming the --input file is refused (issue 16)" "--out own.h5 is also the --input file" \
    $DDM encode --ckpt "$G/vp.h5" --steps 10 --progress-every 0 --out own.h5 --input own.h5
check "encode: ... and the input is unchanged" cmp own.h5 in.h5
bad "encode: a missing input file" "nope.h5: No such file" E --out bad.h5 --input nope.h5
bad "encode: images of another size" "small.h5: images are 1x20x20, the model makes 1x32x32" E --out bad.h5 --input small.h5
bad "encode: a class out of range" "--class 10: out of range: the model has classes 0..9" E --out bad.h5 --class 10
bad "encode: class input without labels" "nolabels.h5: has no labels" E --out bad.h5 --class input --input nolabels.h5
bad "encode: a sampler that cannot run backwards" "sampler ddpm cannot run backwards \(encode\).*ddim \(eta 0\) and ode can" E --out bad.h5 --sampler ddpm
bad "encode: eta != 0" "encoding is deterministic: eta must be 0, got 0.5" E --out bad.h5 --eta 0.5
bad "encode: guidance without a class" "--guidance 2 needs a class-conditional model and a class" E --out bad.h5 --guidance 2
bad "encode on 2 ranks: a bad sampler option" "unknown sampler option 'rho' for sampler ddim" E2 --out bad.h5 --sampler-opt rho=3
bad "encode: an output folder that does not exist" "nodir/bad.h5: cannot create" E --out nodir/bad.h5
B() { $DDM sample --ckpt "$G/vp.h5" --seeds 0 --steps 10 --progress-every 0 --input in.h5 --task ddib "$@"; }
bad "ddib on ddpm" "task ddib: sampler ddpm cannot run backwards" B --out bad.h5 --class input --sampler ddpm
bad "ddib with eta 1" "task ddib: sampler ddim: encoding is deterministic: eta must be 0" B --out bad.h5 --class input --eta 1
bad "ddib without a target class" "task ddib decodes to a target class: --class K" B --out bad.h5
bad "ddib source out of range" "task ddib: source class 12 out of range: the model has classes 0..9" B --out bad.h5 --class 1 --source 12
bad "ddib source -1 with inputs without labels" "inputs have none: give the source class \(--source K\)" B --out bad.h5 --class 1 --input nolabels.h5
summary
