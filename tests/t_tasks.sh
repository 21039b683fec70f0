#!/usr/bin/env bash
# ddm sample --task (core/task.h on the farm): SDEdit, RePaint and ILVR on the committed
# tiny checkpoint tests/golden/vp.h5 with Fashion-MNIST test images as inputs: rows are
# inputs x seeds; 1 rank == 2 ranks byte for byte, batch-invariant, resumable; RePaint keeps
# the known pixels; ILVR's outputs share the reference's low frequencies; grids of pairs;
# clear errors and no output left on bad input.
source "$(dirname "$0")/lib.sh"
G=$ROOT/tests/golden
cd "$TMP"
$DDM prep --from fashion-mnist --split test --pad 2 --limit 12 --out in.h5 >/dev/null || { fail "prep"; summary; exit 1; }
$DDM prep --from fashion-mnist --split test --pad 2 --limit 12 --resize 16 --out small.h5 >/dev/null 2>&1
"$PYTHON" - <<'PY'
import h5py, numpy as np
def write(path, imgs):
    with h5py.File(path, "w") as f:
        f.attrs["kind"] = "dataset"; f.attrs["format_version"] = 1; f.attrs["classes"] = 0
        f.attrs["source"] = "test masks"
        f.create_dataset("images", data=imgs.astype(np.uint8))
m = np.full((1, 1, 32, 32), 255, np.uint8); m[:, :, 8:24, 8:24] = 0
write("centre16.h5", m[:, :, :16, :16])
bad = m.copy(); bad[0, 0, 0, 0] = 7
write("gray.h5", bad)
PY
check "prep mask:centre,1 (255 known, the centre 16x16 to fill)" $DDM prep --from mask:centre,1 --out centre.h5
check "prep mask:strokes,3: three different masks, 0/255 only" bash -c "$DDM prep --from mask:strokes,3 --out strokes.h5 >/dev/null && \"$PYTHON\" -c \"
import h5py, numpy as np
m = h5py.File('strokes.h5','r')['images'][()]; assert set(np.unique(m)) <= {0, 255} and (m == 0).any()
assert (m[0] != m[1]).any() and (m[1] != m[2]).any()\""
check "the centre mask is the centre square" "$PYTHON" -c "
import h5py, numpy as np
m = h5py.File('centre.h5','r')['images'][()]; w = np.full((1, 1, 32, 32), 255, np.uint8); w[:, :, 8:24, 8:24] = 0
assert (m == w).all()"
check_fails "prep mask of an unknown kind" "expected mask:KIND,N" $DDM prep --from mask:circle,1 --out nope.h5
S() { $DDM sample --ckpt "$G/vp.h5" --seeds 0-1 --steps 10 --progress-every 0 "$@"; }
S2() { mpirun2 2 $DDM sample --ckpt "$G/vp.h5" --seeds 0-1 --steps 10 --progress-every 0 "$@"; }
check "sdedit t0 0.5, 12 inputs x 2 seeds, 1 rank, batch 64" S --out sd1.h5 --task sdedit --t0 0.5 --input in.h5 --class input
check "sdedit on 2 ranks, batch 5" S2 --out sd2.h5 --task sdedit --t0 0.5 --input in.h5 --class input --batch 5
check "sdedit: 1 rank == 2 ranks (batch 64 vs 5), byte for byte" cmp sd1.h5 sd2.h5
check "sdedit: 24 rows, seeds 0 1 0 1 ..., labels = the inputs' labels, settings name the task, NFE 5 of 10" "$PYTHON" -c "
import h5py, numpy as np
f = h5py.File('sd1.h5', 'r'); g = f['sdedit-ddim-10-eta0']; d = h5py.File('in.h5', 'r')
assert g['images'].shape == (24, 1, 32, 32) and list(g['seeds'][:4]) == [0, 1, 0, 1]
assert (g['labels'][()] == np.repeat(d['labels'][()], 2)).all()
assert b'task=sdedit t0=0.5' in g.attrs['settings'], g.attrs['settings']
assert list(g['inputs'][:6]) == [0, 0, 1, 1, 2, 2] and g.attrs['input'].decode().endswith('/in.h5')
assert g.attrs['nfe'] == 5, g.attrs['nfe']  # t0 0.5 of 10 steps: the 5 below it"
S --out lo.h5 --task sdedit --t0 0.2 --input in.h5 >/dev/null 2>&1
S --out hi.h5 --task sdedit --t0 0.8 --input in.h5 >/dev/null 2>&1
check "sdedit: closer to the guide at t0 0.2 than at 0.8" "$PYTHON" -c "
import h5py, numpy as np
x = np.repeat(h5py.File('in.h5','r')['images'][()].astype(float), 2, axis=0)
e = [np.abs(h5py.File(p,'r')[list(h5py.File(p,'r'))[0]]['images'][()] - x).mean() for p in ('lo.h5', 'hi.h5')]
print('mean |out - guide|: t0 0.2', e[0], 't0 0.8', e[1]); assert e[0] < e[1]"
check "sdedit grid of input | output pairs" test -s sd1-sdedit-ddim-10-eta0.png
M() { $DDM sample --ckpt "$G/vp.h5" --steps 10 --progress-every 0 --task sdedit --t0 0.5 --class input "$@" >/dev/null 2>&1; }
M --seeds 1 --out mb.h5 --input in.h5; M --seeds 0 --out ma.h5 --input in.h5
check "merge of task outputs (a job array over seeds 1 and 0): the rows of one job over seeds 0-1" bash -c "
$DDM merge --out m.h5 mb.h5 ma.h5 >/dev/null && \"$PYTHON\" -c \"
import h5py, numpy as np
a = h5py.File('m.h5', 'r')['sdedit-ddim-10-eta0']; b = h5py.File('sd1.h5', 'r')['sdedit-ddim-10-eta0']
for k in ('images', 'seeds', 'inputs', 'labels', 'done'): assert (a[k][()] == b[k][()]).all(), k
for k in ('input', 'settings', 'nfe'): assert a.attrs[k] == b.attrs[k], k
\""
cp in.h5 in2.h5; M --seeds 2 --out mc.h5 --input in2.h5
check_fails "merge of task outputs made from other input files" "was made from the inputs" $DDM merge --out m2.h5 ma.h5 mc.h5
check "no merged file left" test ! -e m2.h5
EV() { $DDM eval --ref in.h5 --features "classifier:$ROOT/models/fmnist-classifier.h5" --metrics fid --out ev.jsonl "$@"; }
check "eval of task outputs: input match (against the inputs' labels) = class match under --class input" \
    bash -c "$(declare -f EV); DDM=$DDM ROOT=$ROOT; EV --samples sd1.h5 | grep -E 'class match ([0-9.]+)  input match \1 '"
check "repaint (centre mask, jump 2, resample 2) on 2 ranks" S2 --out rp.h5 --task repaint --jump-length 2 --resample 2 --input in.h5 --mask centre.h5 --batch 8
check "repaint: the known pixels are the input's, byte for byte; the centre was filled" "$PYTHON" -c "
import h5py, numpy as np
x = np.repeat(h5py.File('in.h5','r')['images'][()], 2, axis=0)
y = h5py.File('rp.h5','r')['repaint-ddim-10-eta0']['images'][()]
k = np.ones((32, 32), bool); k[8:24, 8:24] = False
assert (y[:, :, k] == x[:, :, k]).all(); assert (y[:, :, ~k] != x[:, :, ~k]).any()"
check "eval of repaint outputs (no class): an input match, no class match" bash -c "$(declare -f EV); DDM=$DDM ROOT=$ROOT; EV --samples rp.h5 > ev.txt; grep -qE 'input match [0-9.]+' ev.txt && ! grep -q 'class match' ev.txt"
mkdir -p pngmask && "$PYTHON" -c "
from PIL import Image; import numpy as np
m = np.full((32, 32), 255, np.uint8); m[4:12, :] = 0; m[:, 20:26] = 0
Image.fromarray(m, 'L').save('pngmask/a.png')"
check "a mask from a PNG folder (prep --from png-dir:)" $DDM prep --from png-dir:pngmask --out pm.h5
check "repaint with the PNG mask keeps its known pixels" bash -c "$DDM sample --ckpt $G/vp.h5 --seeds 0 --steps 10 \
    --progress-every 0 --out rpp.h5 --task repaint --resample 1 --input in.h5 --mask pm.h5 >/dev/null && \"$PYTHON\" -c \"
import h5py, numpy as np
x = h5py.File('in.h5','r')['images'][()]; y = h5py.File('rpp.h5','r')['repaint-ddim-10-eta0']['images'][()]
k = h5py.File('pm.h5','r')['images'][0, 0] == 255
assert (y[:, :, k] == x[:, :, k]).all() and (y[:, :, ~k] != x[:, :, ~k]).any()\""
S --out rp1.h5 --task repaint --jump-length 2 --resample 2 --input in.h5 --mask centre.h5 >/dev/null 2>&1
check "repaint: 1 rank batch 64 == 2 ranks batch 8" cmp rp.h5 rp1.h5
check "ilvr factor 4" S --out il.h5 --task ilvr --factor 4 --input in.h5
check "ilvr: outputs' 4x4 block means follow the reference's; two seeds still differ" "$PYTHON" -c "
import h5py, numpy as np
x = np.repeat(h5py.File('in.h5','r')['images'][()].astype(float), 2, axis=0)
y = h5py.File('il.h5','r')['ilvr-ddim-10-eta0']['images'][()].astype(float)
lp = lambda a: a.reshape(a.shape[0], 1, 8, 4, 8, 4).mean(axis=(3, 5))
e = np.abs(lp(y) - lp(x)).mean(); d = np.abs(y[0::2] - y[1::2]).mean()
print('low-pass gap', e, 'seed difference', d); assert e < 8 and d > 1"
# resume: kill after the first round, the re-run makes the rest == uninterrupted
S --out k.h5 --task sdedit --t0 0.5 --input in.h5 --class input --batch 4 --items-per-rank 1 > kill.out 2>&1 &
pid=$!
for _ in $(seq 300); do grep -q '^images [1-9]' kill.out && break; sleep 0.05; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
check "killed sdedit run resumes to the same bytes" bash -c "$DDM sample --ckpt $G/vp.h5 --seeds 0-1 --steps 10 --out k.h5 --task sdedit --t0 0.5 --input in.h5 --class input --batch 4 --items-per-rank 1 >/dev/null && cmp k.h5 sd1.h5"
bad() { local what=$1 pat=$2; shift 2; rm -f bad.h5; check_fails "$what" "$pat" "$@"; [ -e bad.h5 ] && fail "$what: left bad.h5 behind"; }
check_fails "resuming with other inputs is refused" "was made from inputs .*in.h5, this run uses .*in2.h5" \
    bash -c "cp in.h5 in2.h5 && $DDM sample --ckpt $G/vp.h5 --seeds 0-1 --steps 10 --out sd1.h5 --task sdedit --t0 0.5 --input in2.h5 --class input"
bad "t0 outside (0, 1]" "t0" S --out bad.h5 --task sdedit --t0 1.5 --input in.h5
bad "t0 = 0" "t0" S --out bad.h5 --task sdedit --t0 0 --input in.h5
bad "unknown task" "unknown task 'inpaint'; one of sdedit, repaint, ilvr" S --out bad.h5 --task inpaint --input in.h5
bad "a task without --input" "needs input images: --input" S --out bad.h5 --task sdedit
bad "repaint without --mask" "needs masks: --mask" S --out bad.h5 --task repaint --jump-length 2 --input in.h5
bad "--input without a task" "goes with --task" S --out bad.h5 --input in.h5
bad "inputs of another size" "small.h5: images are 1x20x20, the model makes 1x32x32" S --out bad.h5 --task sdedit --input small.h5
$DDM prep --from noise:4,3x32x32 --out rgb.h5 >/dev/null 2>&1
bad "inputs of another channel count" "rgb.h5: images are 3x32x32, the model makes 1x32x32" S --out bad.h5 --task sdedit --input rgb.h5
bad "repaint jumps longer than the plan" "jump_length 20 leaves no stretch to resample in the plan's 10 steps" S --out bad.h5 --task repaint --jump-length 20 --input in.h5 --mask centre.h5
bad "a mask of another size" "centre16.h5: masks are 1x16x16, the model makes 1x32x32" S --out bad.h5 --task repaint --jump-length 2 --input in.h5 --mask centre16.h5
bad "a mask that is not 0/255" "gray.h5: pixel values must be 0 \(fill\) or 255 \(known\)" S --out bad.h5 --task repaint --jump-length 2 --input in.h5 --mask gray.h5
bad "an option of another task" "'factor' is an option of task ilvr; this setting runs task sdedit" S --out bad.h5 --task sdedit --factor 4 --input in.h5
bad "a task option without a task" "'t0' is an option of task sdedit; this setting runs no task" S --out bad.h5 --t0 0.5
bad "ilvr factor that does not divide the image" "in.h5: .*factor" S --out bad.h5 --task ilvr --factor 5 --input in.h5
summary
