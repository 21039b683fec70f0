"""Reference for tests/test_inception.c: random FID-Inception weights and the features
PyTorch computes for a few images.

    /usr/bin/python3 tests/ref/make_inception_ref.py OUTDIR [SEED]

writes
  OUTDIR/weights.h5   ddm Inception weights (convert_inception.py --random SEED), ~96 MB
  OUTDIR/ref.h5       /caseK/images            uint8 (B,C,H,W)
                      /caseK/features          float64 (B,2048): the definition in
                                               inception_ref.py run in float64 (weights
                                               as stored in float32, then widened)
                      /caseK/features_f32      float32 (B,2048), case 1 only (time): the
                                               same in float32 (as pytorch-fid runs), to
                                               put the C error in context
  cases: 0 = two gray 32x32 (upsampled, gray repeated), 1 = one RGB 40x40,
         2 = one RGB 307x301 (downsampled, not square: H and W kept apart)
"""
import os
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_inception import random_state_dict, write_h5  # noqa: E402
from inception_ref import FIDInception  # noqa: E402


def images(rng, B, C, H, W):
    """smooth structure plus pixel noise, full 0..255 range (saturated corners too)"""
    coarse = rng.uniform(-0.3, 1.3, size=(B, C, H // 8 + 2, W // 8 + 2))
    y = np.linspace(0, coarse.shape[2] - 1.001, H)
    x = np.linspace(0, coarse.shape[3] - 1.001, W)
    y0, x0 = y.astype(int), x.astype(int)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    c = coarse
    smooth = (c[:, :, y0][:, :, :, x0] * (1 - fy) * (1 - fx)
              + c[:, :, y0 + 1][:, :, :, x0] * fy * (1 - fx)
              + c[:, :, y0][:, :, :, x0 + 1] * (1 - fy) * fx
              + c[:, :, y0 + 1][:, :, :, x0 + 1] * fy * fx)
    v = smooth + rng.normal(0, 0.08, size=smooth.shape)
    return np.clip(np.rint(v * 255), 0, 255).astype(np.uint8)


def main():
    out = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    t0 = time.time()
    rng = np.random.default_rng(seed)
    cases = [images(rng, 2, 1, 32, 32), images(rng, 1, 3, 40, 40), images(rng, 1, 3, 307, 301)]
    # BatchNorm statistics from these very images: features of order one, not thousands
    with torch.no_grad():
        calib = torch.cat([2 * F.interpolate(torch.as_tensor(c).float().repeat(
            1, 3 // c.shape[1], 1, 1) / 255, size=(299, 299), mode="bilinear",
            align_corners=False) - 1 for c in cases])
    sd = random_state_dict(seed, calib)
    write_h5(sd, os.path.join(out, "weights.h5"), f"random (make_inception_ref.py seed {seed})")
    t1 = time.time()
    net32 = FIDInception().eval()
    net32.load_state_dict(sd)
    net64 = FIDInception().double().eval()
    net64.load_state_dict({k: v.double() for k, v in sd.items()})
    with h5py.File(os.path.join(out, "ref.h5"), "w") as f, torch.no_grad():
        for k, img in enumerate(cases):
            f64 = net64.features_u8(img).numpy()
            g = f.create_group(f"case{k}")
            g["images"] = img
            g["features"] = f64
            msg = ""
            if k == 1:
                f32 = net32.features_u8(img).numpy()
                g["features_f32"] = f32
                msg = f"; torch float32 vs float64 max|diff| {np.abs(f32 - f64).max():.3g}"
            print(f"case{k}: images {list(img.shape)}: features max {f64.max():.4g} "
                  f"mean {f64.mean():.4g} zeros {np.mean(f64 == 0):.2f}{msg}")
    print(f"weights {t1 - t0:.1f}s, references {time.time() - t1:.1f}s")


if __name__ == "__main__":
    main()
