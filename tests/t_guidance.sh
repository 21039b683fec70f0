#!/usr/bin/env bash
# Classifier guidance end to end on tiny models trained here: ddm train --task
# noisy-classifier (1 rank == 2 ranks), ddm sample --classifier at 1 and 2 ranks (the same
# bytes), scale 0 == no classifier, guidance toward a class raises the classifier's own
# log p and the share it assigns to the class, a sweep of the table's rows, the settings
# recorded, and the bad inputs of issue 14 (a checkpoint of the wrong kind, size or class
# count, a scale that is not finite, guidance with no class).
source "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=1
cd "$TMP"
D=$TMP/fm.h5
$DDM prep --from fashion-mnist --split test --pad 2 --limit 256 --out "$D" >/dev/null || { fail "prep"; summary; exit 1; }
tiny_ini tiny.ini "batch = 16" "lr = 1e-3" "warmup = 10" "max_steps = 20" "log_every = 10" "ckpt_every = 20"
check "train a tiny class-conditional vp model" $DDM train --data "$D" --config tiny.ini --out vp
NC="--config tiny.ini --task noisy-classifier --set train.lr=3e-3 --set train.max_steps=60 --set train.ckpt_every=60"
check "train a tiny noisy classifier, 1 rank" $DDM train --data "$D" $NC --out nc1
check "the same on 2 ranks" mpirun2 2 $DDM train --data "$D" $NC --out nc2
check "noise-aware classifier: 1 rank == 2 ranks (atol 1e-5 + rtol 1e-4)" "$PYTHON" "$ROOT/tests/ref/ckpt_compare.py" nc1/ckpt-00000060.h5 nc2/ckpt-00000060.h5
if grep -q "accuracy .* (by t quartile" nc1/../nc1/metrics.jsonl 2>/dev/null || "$PYTHON" -c "
import json; r=[json.loads(l) for l in open('nc1/metrics.jsonl')]; assert 'accuracy_q1' in r[-1] and 'accuracy' in r[-1]"; then
    ok "its metrics record accuracy, overall and by noise-level quartile"
else fail "accuracy in nc1/metrics.jsonl"; fi

S() { $DDM sample --ckpt vp --steps 10 "$@"; }
check "classifier guidance s = 5, 1 rank" S --out g1.h5 --seeds 0-23 --class-per-seed --classifier nc1 --classifier-scale 5
check "the same on 2 ranks, batch 8" mpirun2 2 $DDM sample --ckpt vp --steps 10 --out g2.h5 --seeds 0-23 --class-per-seed --classifier nc1 --classifier-scale 5 --batch 8
check "1 rank == 2 ranks, bitwise" h5diff g1.h5 g2.h5 /ddim-10-eta0-cg5/images /ddim-10-eta0-cg5/images
check "scale 0 with a classifier == no classifier, bitwise" bash -c "
    $DDM sample --ckpt vp --steps 10 --out a.h5 --seeds 0-7 --class 3 >/dev/null &&
    $DDM sample --ckpt vp --steps 10 --out b.h5 --seeds 0-7 --class 3 --classifier nc1 --classifier-scale 0 >/dev/null &&
    h5diff a.h5 b.h5 /ddim-10-eta0-c3/images /ddim-10-eta0-c3/images"

# the table's rows as one sweep: the network with or without its class x scale 0 / 300
# (the tiny classifier, 60 steps, is weak: its gradients are small, so the scale is large)
cat > rows.ini <<'INI'
[uncond]
model_class = no
[uncond-s300]
model_class = no
classifier_scale = 300
[cond]
[cond-s300]
classifier_scale = 300
INI
check "a sweep of model_class x classifier_scale" S --out rows.h5 --seeds 0-39 --class-per-seed --classifier nc1 --sweep rows.ini
check "the settings record the classifier, its scale and model_class" "$PYTHON" -c "
import h5py; f=h5py.File('rows.h5','r')
s=lambda g: f[g].attrs['settings'].decode() if isinstance(f[g].attrs['settings'], bytes) else f[g].attrs['settings']
assert 'model_class=no' in s('uncond') and 'classifier' not in s('uncond'), s('uncond')
assert 'classifier_scale=300 ' in s('uncond-s300') and 'nc1' in s('uncond-s300'), s('uncond-s300')
assert 'model_class' not in s('cond') and 'classifier_scale=300 ' in s('cond-s300')
assert (f['uncond/labels'][()] == f['uncond/seeds'][()] % 10).all()"
# the guided rows: the noisy classifier (at t = 0) gives the target class more probability
cat > lp.py <<'PY'
import sys, h5py, numpy as np, torch
sys.path.insert(0, sys.argv[1])
from unet_ref import UNet
f = h5py.File(sys.argv[2], "r")
ck = h5py.File(sys.argv[3], "r")
cfg = dict(ch=8, ch_mult=[1, 2], num_res_blocks=1, attn_resolutions=[16], groups=4, dropout=0.0,
           num_classes=0, image_size=32, in_ch=1, out_ch=10, head=1)
net = UNet(**cfg)
ema = ck["ema"][list(ck["ema"])[0]]
net.load_state_dict({k: torch.from_numpy(np.array(ema[k])) for k in ema})
out = []
for g in ("uncond", "uncond-s300", "cond", "cond-s300"):
    x = torch.from_numpy(f[g]["images"][()].astype(np.float32) / 127.5 - 1)
    y = torch.from_numpy(f[g]["labels"][()].astype(np.int64))
    with torch.no_grad():
        lp = torch.log_softmax(net(x, torch.zeros(len(x))), 1)[torch.arange(len(x)), y]
    out.append(lp.mean().item())
print(" ".join(f"{v:.3f}" for v in out))
assert out[1] > out[0] + 0.05 and out[3] > out[2] + 0.05, out
PY
if r=$("$PYTHON" lp.py "$ROOT/tests/ref" rows.h5 nc1/ckpt-00000060.h5 2>&1); then
    ok "guidance raises the classifier's mean log p(class | x_0) (PyTorch twin): uncond $(echo $r | cut -d' ' -f1) -> s300 $(echo $r | cut -d' ' -f2); cond $(echo $r | cut -d' ' -f3) -> s300 $(echo $r | cut -d' ' -f4)"
else fail "log p of the guided rows"; echo "$r" | sed 's/^/    | /' | tail -5; fi

# bad input: one clear line, no file
bad() { local what=$1 pat=$2; shift 2; rm -f bad.h5; check_fails "$what" "$pat" "$@"; [ -e bad.h5 ] && fail "$what: left bad.h5 behind"; }
bad "a diffusion checkpoint as the classifier" "is a checkpoint of a diffusion model .*needs a noisy-classifier model" \
    S --out bad.h5 --seeds 0-3 --class 1 --classifier vp --classifier-scale 1
"$PYTHON" - "$D" <<'PY'
import sys, shutil, h5py
shutil.copy(sys.argv[1], "fm5.h5")  # the same images, 5 classes (label % 5)
with h5py.File("fm5.h5", "r+") as f:
    f["labels"][...] = f["labels"][()] % 5
    f.attrs["classes"] = 5
PY
check "train a clean classifier and a 5-class noisy one" bash -c "
    $DDM train --data '$D' --config tiny.ini --task classifier --set train.max_steps=2 --out clean >/dev/null &&
    $DDM train --data fm5.h5 --config tiny.ini --task noisy-classifier --set model.num_classes=5 --set train.max_steps=2 --out nc5 >/dev/null"
# plug-and-play priors (sampler pnp): the clean classifier as the constraint, on the farm
P() { $DDM sample --ckpt vp --sampler pnp --steps 8 "$@"; }
check "pnp with the clean classifier's log p(y|x), 1 rank" P --out p1.h5 --seeds 0-11 --class-per-seed --prior-classifier clean --classifier-scale 3
check "the same on 2 ranks, batch 4" mpirun2 2 $DDM sample --ckpt vp --sampler pnp --steps 8 --out p2.h5 --seeds 0-11 --class-per-seed --prior-classifier clean --classifier-scale 3 --batch 4
check "pnp: 1 rank == 2 ranks, bitwise; the settings name the clean classifier" bash -c "
    h5diff p1.h5 p2.h5 /pnp-8-cg3/images /pnp-8-cg3/images &&
    h5dump -a /pnp-8-cg3/settings p1.h5 | grep -q 'lr=0.2 t_start=0.7 t_end=0.02 prior_weight=sigma .*classifier=.*clean'"
$DDM prep --from mask:centre,1 --out centre.h5 >/dev/null
$DDM prep --from fashion-mnist --split test --pad 2 --limit 4 --out in.h5 >/dev/null
check "pnp inpainting: --task repaint --resample 1 (the known pixels as the constraint)" \
    P --out pi.h5 --seeds 0 --task repaint --resample 1 --input in.h5 --mask centre.h5
check "pnp inpainting keeps the known pixels byte for byte and fills the centre" "$PYTHON" -c "
import h5py, numpy as np
x = h5py.File('in.h5','r')['images'][()]
f = h5py.File('pi.h5','r'); y = f[list(f)[0]]['images'][()]
k = np.ones((32, 32), bool); k[8:24, 8:24] = False
assert (y[:, :, k] == x[:, :, k]).all(); assert (y[:, :, ~k] != x[:, :, ~k]).any()"

bad "the eval classifier (clean images) as the guide" "is a checkpoint of a classifier model .*noisy-classifier" \
    S --out bad.h5 --seeds 0-3 --class 1 --classifier clean --classifier-scale 1
"$PYTHON" - <<'PY'
import h5py, shutil
shutil.copy("nc1/ckpt-00000060.h5", "nc16.h5")
with h5py.File("nc16.h5", "r+") as f:
    c = f.attrs["config"]; c = c.decode() if isinstance(c, bytes) else c
    f.attrs["config"] = c.replace("image_size = 32", "image_size = 16")
shutil.copy("nc1/ckpt-00000060.h5", "ncve.h5")
with h5py.File("ncve.h5", "r+") as f:
    c = f.attrs["config"]; c = c.decode() if isinstance(c, bytes) else c
    f.attrs["config"] = c.replace("timesteps = 100", "timesteps = 200")
PY
bad "a classifier whose config says another image size" "nc16.h5: .*has no tensor|classifier takes 1x16x16 images" \
    S --out bad.h5 --seeds 0-3 --class 1 --classifier nc16.h5 --classifier-scale 1
bad "a classifier of another class count" "nc5/ckpt-00000002.h5: the classifier has 5 classes, the model 10" \
    S --out bad.h5 --seeds 0-3 --class 1 --classifier nc5 --classifier-scale 1
bad "a classifier of other noise levels" "ncve.h5: the classifier was trained on other noise levels" \
    S --out bad.h5 --seeds 0-3 --class 1 --classifier ncve.h5 --classifier-scale 1
bad "scale nan" "classifier_scale 'nan' is not a finite number" S --out bad.h5 --seeds 0-3 --class 1 --classifier nc1 --classifier-scale nan
bad "scale inf" "classifier_scale 'inf' is not a finite number" S --out bad.h5 --seeds 0-3 --class 1 --classifier nc1 --classifier-scale inf
bad "scale without a classifier" "classifier guidance needs a noise-aware classifier: --classifier" S --out bad.h5 --seeds 0-3 --class 1 --classifier-scale 1
bad "guidance with no class" "needs a class to guide toward: --class K or --class-per-seed" S --out bad.h5 --seeds 0-3 --classifier nc1 --classifier-scale 1
bad "model_class = no with classifier-free guidance" "needs the class in the network: not with model_class = no" \
    S --out bad.h5 --seeds 0-3 --class 1 --classifier nc1 --classifier-scale 1 --guidance 2 --model-class no
bad "model_class nonsense" "model_class 'maybe': want yes or no" S --out bad.h5 --seeds 0-3 --class 1 --classifier nc1 --model-class maybe
bad "pnp with classifier-free guidance" "sampler pnp takes no classifier-free guidance" P --out bad.h5 --seeds 0-3 --class 1 --guidance 2
bad "pnp with a noise-aware classifier" "pnp sampler's constraint log p\(y \| x\) is of clean images" \
    P --out bad.h5 --seeds 0-3 --class 1 --classifier nc1 --classifier-scale 1
bad "a clean classifier guiding ddim" "constrains only the pnp sampler" S --out bad.h5 --seeds 0-3 --class 1 --prior-classifier clean --classifier-scale 1
bad "pnp scale without a classifier" "needs a clean classifier: --prior-classifier" P --out bad.h5 --seeds 0-3 --class 1 --classifier-scale 1
bad "pnp t_end above t_start" "t_end 0.9 above t_start 0.7" P --out bad.h5 --seeds 0-3 --t-end 0.9
bad "both classifiers" "--classifier and --prior-classifier exclude each other" S --out bad.h5 --seeds 0-3 --class 1 --classifier nc1 --prior-classifier clean
summary
