#!/usr/bin/env bash
# SR3 super-resolution end to end on a tiny model trained here (model.cond_channels = 1,
# train.degrade = 2,4): 1 rank == 2 ranks in training; ddm sample --task superres byte for
# byte the same on 1 and 2 ranks and over batch sizes; the truth (degraded by the task) and
# the low-resolution image itself give the same outputs; prep --degrade is the degradation
# of PyTorch (avg_pool2d + bicubic); clear errors with no output left on bad input.
source "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=1
G=$ROOT/tests/golden
cd "$TMP"
$DDM prep --from fashion-mnist --split test --pad 2 --limit 64 --out fm.h5 >/dev/null || { fail "prep"; summary; exit 1; }
$DDM prep --from fashion-mnist --split test --pad 2 --limit 6 --out in.h5 >/dev/null
$DDM prep --from fashion-mnist --split test --pad 2 --limit 5 --resize 16 --out small.h5 >/dev/null 2>&1
cat > sr.ini <<'INI'
[model]
ch = 8
ch_mult = 1,2
num_res_blocks = 1
attn_resolutions = 16
groups = 4
cond_channels = 1
[diffusion]
timesteps = 100
schedule = cosine
[train]
batch = 16
lr = 1e-3
warmup = 5
max_steps = 6
log_every = 3
ckpt_every = 6
ema = 0.9
degrade = 2,4
INI
check "train a tiny SR3 model on 2 ranks (degrade 2,4)" mpirun2 2 $DDM train --data fm.h5 --config sr.ini --out sr2
check "the same on 1 rank" $DDM train --data fm.h5 --config sr.ini --out sr1
check "SR3 training: 1 rank == 2 ranks (weights to float tolerance)" "$PYTHON" -c "
import h5py, numpy as np
a = h5py.File('sr1/ckpt-00000006.h5','r'); b = h5py.File('sr2/ckpt-00000006.h5','r')
w = a['model/conv_in.weight'][()]; assert w.shape[1] == 2, w.shape
d = max(np.abs(a['model/' + k][()] - b['model/' + k][()]).max() for k in a['model'])
print('max |1 rank - 2 ranks|', d); assert d < 1e-4"
check "the checkpoint's config keeps cond_channels and degrade" "$PYTHON" -c "
import h5py; f = h5py.File('sr2/ckpt-00000006.h5','r')
t = [v for k, v in f.attrs.items() if 'config' in k][0]; t = t.decode() if isinstance(t, bytes) else t
assert 'cond_channels = 1' in t and 'degrade = 2,4' in t, t"
"$PYTHON" - <<'PY'
import h5py, numpy as np
def write(path, imgs):
    with h5py.File(path, "w") as f:
        f.attrs["kind"] = "dataset"; f.attrs["format_version"] = 1; f.attrs["classes"] = 0
        f.attrs["source"] = "superres test"
        f.create_dataset("images", data=imgs.astype(np.uint8))
x = h5py.File("fm.h5", "r")["images"][:4].astype(np.float64)
# low-resolution images whose 4x4 block means are whole numbers: the truth made of their
# blocks degrades exactly to what the low-resolution file says
lo = np.rint(x.reshape(4, 1, 8, 4, 8, 4).mean(axis=(3, 5)))
write("low8.h5", lo)
write("blocks.h5", np.repeat(np.repeat(lo, 4, axis=2), 4, axis=3))
write("low16.h5", np.rint(x.reshape(4, 1, 16, 2, 16, 2).mean(axis=(3, 5))))
PY
S() { $DDM sample --ckpt sr2 --seeds 0-1 --steps 4 --progress-every 0 --task superres "$@"; }
check "superres scale 4 on 6 inputs x 2 seeds, 1 rank, batch 64" S --out a1.h5 --input in.h5 --scale 4
check "the same on 2 ranks, batch 5" mpirun2 2 $DDM sample --ckpt sr2 --seeds 0-1 --steps 4 --progress-every 0 --task superres --out a2.h5 --input in.h5 --scale 4 --batch 5
check "superres: 1 rank == 2 ranks (batch 64 vs 5), byte for byte" cmp a1.h5 a2.h5
check "superres: batch 3 == batch 64, byte for byte" bash -c "$DDM sample --ckpt sr2 --seeds 0-1 --steps 4 --progress-every 0 --task superres --out a3.h5 --input in.h5 --scale 4 --batch 3 >/dev/null && cmp a1.h5 a3.h5"
check "superres: 12 rows, settings name the task and scale, a grid of pairs" "$PYTHON" -c "
import h5py
g = h5py.File('a1.h5','r')['superres-ddim-4-eta0']
assert g['images'].shape == (12, 1, 32, 32), g['images'].shape
assert b'task=superres scale=4' in g.attrs['settings'], g.attrs['settings']" 
check "grid of input | output pairs" test -s a1-superres-ddim-4-eta0.png
S --out b4.h5 --input blocks.h5 --scale 4 >/dev/null 2>&1
S --out l4.h5 --input low8.h5 --scale 4 >/dev/null 2>&1
check "truth (degraded by the task) and the low-res image (upsampled) give the same outputs" "$PYTHON" -c "
import h5py, numpy as np
a = h5py.File('b4.h5','r')['superres-ddim-4-eta0']['images'][()]
b = h5py.File('l4.h5','r')['superres-ddim-4-eta0']['images'][()]
assert a.shape == b.shape == (8, 1, 32, 32) and (a == b).all()"
check "scale defaults to the model's first factor (2); a 16x16 input is scale 2's low-res" \
    bash -c "$DDM sample --ckpt sr2 --seeds 0 --steps 4 --progress-every 0 --task superres --input low16.h5 --out d.h5 | grep -q 'superres scale=2'"
S --out c2.h5 --input in.h5 --scale 2 >/dev/null 2>&1
check "scale 2 and scale 4 differ (the condition reaches the network)" "$PYTHON" -c "
import h5py, numpy as np
a = h5py.File('a1.h5','r')['superres-ddim-4-eta0']['images'][()]
b = h5py.File('c2.h5','r')['superres-ddim-4-eta0']['images'][()]
assert (a != b).any()"
check "prep --degrade 4 == avg_pool2d + bicubic (PyTorch), rounded" bash -c "$DDM prep --from fashion-mnist --split test --pad 2 --limit 16 --degrade 4 --out bic4.h5 >/dev/null && \"$PYTHON\" -c \"
import h5py, numpy as np, torch, torch.nn.functional as F
x = torch.from_numpy(h5py.File('fm.h5','r')['images'][:16].astype(np.float64)) / 127.5 - 1
y = F.interpolate(F.avg_pool2d(x, 4), size=(32, 32), mode='bicubic', align_corners=False)
ref = np.clip(np.rint((y.numpy() + 1) * 127.5), 0, 255)
got = h5py.File('bic4.h5','r')['images'][()].astype(np.float64)
d = np.abs(got - ref); print('max |prep - torch|', d.max()); assert got.shape == (16, 1, 32, 32) and d.max() <= 1\""
check_fails "prep --degrade 3 on 32x32 is refused" "--degrade 3 must divide the image size 32x32" $DDM prep --from fashion-mnist --split test --pad 2 --limit 4 --degrade 3 --out nope.h5
test -e nope.h5 && fail "prep --degrade 3 left nope.h5"
bad() { local what=$1 pat=$2; shift 2; rm -f bad.h5; check_fails "$what" "$pat" "$@"; [ -e bad.h5 ] && fail "$what: left bad.h5 behind"; }
bad "an SR3 model without the task" "SR3 super-resolution model .*samples only with --task superres" \
    $DDM sample --ckpt sr2 --seeds 0 --steps 4 --out bad.h5
bad "superres on a model without a condition" "task superres needs a model trained with a condition image" \
    $DDM sample --ckpt "$G/vp.h5" --seeds 0 --steps 4 --out bad.h5 --task superres --input in.h5
bad "a scale the model was not trained for" "scale 3 is not a factor the model was trained for \(train.degrade = 2,4\)" \
    S --out bad.h5 --input in.h5 --scale 3
bad "an input neither 32x32 nor 8x8" "small.h5: images are 1x20x20; task superres takes the truth at the model's size 1x32x32 or the low-resolution image at 1x8x8 \(scale 4\)" \
    S --out bad.h5 --input small.h5 --scale 4
bad "a 16x16 input for scale 4" "low16.h5: images are 1x16x16" S --out bad.h5 --input low16.h5 --scale 4
check_fails "degrade 3 does not divide 32 (the config file named)" "sr.ini: train.degrade entry 1 is 3: a factor must be >= 2 and divide model.image_size = 32" \
    $DDM train --data fm.h5 --config sr.ini --out badrun --set train.degrade=3
check_fails "cond_channels without degrade" "sr.ini: model.cond_channels = 1: a condition image needs train.degrade" \
    $DDM train --data fm.h5 --config sr.ini --out badrun --set train.degrade=
check_fails "degrade without cond_channels" "sr.ini: train.degrade = 2...: .*model.cond_channels must be model.channels = 1 \(it is 0\)" \
    $DDM train --data fm.h5 --config sr.ini --out badrun --set model.cond_channels=0
summary
