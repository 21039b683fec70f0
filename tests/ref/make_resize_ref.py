#!/usr/bin/python3
"""Dump what tests/test_resize.c checks core/resize.c's bicubic and the SR3 degradation
against: PyTorch's F.interpolate(mode='bicubic', align_corners=False) and
F.avg_pool2d(f) followed by it.

    /usr/bin/python3 tests/ref/make_resize_ref.py      (from the repo root)

Writes tests/ref/resize_ref.h5:
  /bicubic/K/in  (N,H,W) float32   /bicubic/K/out (N,Ho,Wo) float32   K = 0, 1, ...
  /degrade/f/in  (N,H,W) float32   /degrade/f/out (N,H,W) float32     f = 2, 4
The inputs are uniform in [-1, 1] from a fixed seed; float64 arithmetic, rounded once.
"""
import os

import h5py
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))

# (N, H, W, Ho, Wo): integer and fractional upsampling, downsampling, one axis only
BICUBIC = [(2, 8, 8, 32, 32), (1, 4, 4, 16, 16), (3, 7, 5, 13, 11), (1, 16, 12, 10, 9),
           (2, 1, 3, 4, 6), (1, 6, 6, 6, 12)]
DEGRADE = [(3, 32, 32, 2), (3, 32, 32, 4), (2, 16, 8, 4)]


def bicubic(x, ho, wo):
    return F.interpolate(x[:, None].double(), size=(ho, wo), mode="bicubic",
                         align_corners=False)[:, 0].float()


def main():
    g = torch.Generator().manual_seed(2021)
    path = os.path.join(HERE, "resize_ref.h5")
    with h5py.File(path, "w", track_order=True) as f:
        f.attrs["torch_version"] = str(torch.__version__).encode()
        for k, (n, h, w, ho, wo) in enumerate(BICUBIC):
            x = torch.rand(n, h, w, generator=g) * 2 - 1
            f.create_dataset(f"bicubic/{k}/in", data=x.numpy())
            f.create_dataset(f"bicubic/{k}/out", data=bicubic(x, ho, wo).numpy())
        for k, (n, h, w, fac) in enumerate(DEGRADE):
            x = torch.rand(n, h, w, generator=g) * 2 - 1
            lo = F.avg_pool2d(x[:, None].double(), fac)[:, 0]
            f.create_dataset(f"degrade/{k}/in", data=x.numpy())
            d = f.create_dataset(f"degrade/{k}/out", data=bicubic(lo, h, w).numpy())
            d.attrs["factor"] = fac
    print(f"{path}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
