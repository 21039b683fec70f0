#!/usr/bin/python3
"""The reference for classifier guidance's gradient (tests/test_guidance.c): the noise-aware
classifier of tests/ref/unet_ref_pool.h5 (unet_ref.py's pooled head, 10 logits, 16x16x1)
evaluated by PyTorch autograd in float64:

    log p(y | x, t) = log_softmax(net(x, t))[y],   grad_x log p(y | x, t)

for 5 images at 5 noise levels and targets. Writes tests/ref/guide_ref.h5:
  /x (5,1,16,16) float32   /t (5) float32   /targets (5) int32
  /logp (5) float64        /grad_x (5,1,16,16) float64

    /usr/bin/python3 tests/ref/make_guide_ref.py     (from the repo root)
"""
import os
import sys

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from unet_ref import UNet  # noqa: E402


def main():
    torch.set_num_threads(2)
    src = os.path.join(HERE, "unet_ref_pool.h5")
    with h5py.File(src, "r") as f:
        cfg = {k: (float(f.attrs[k]) if k == "dropout" else
                   [int(v) for v in f.attrs[k]] if np.ndim(f.attrs[k]) else int(f.attrs[k]))
               for k in ("ch", "ch_mult", "num_res_blocks", "attn_resolutions", "groups",
                         "dropout", "num_classes", "image_size", "in_ch", "out_ch", "head")}
        params = {k: torch.from_numpy(np.array(f["params"][k])) for k in f["params"]}
    net = UNet(**cfg).double()
    net.load_state_dict({k: v.double() for k, v in params.items()})
    g = torch.Generator().manual_seed(777)
    S, B = cfg["image_size"], 5
    x = torch.randn(B, cfg["in_ch"], S, S, generator=g, dtype=torch.float32)
    t = torch.tensor([0.0, 120.0, 499.5, 800.0, 999.0], dtype=torch.float32)
    y = torch.tensor([3, 0, 9, 5, 3], dtype=torch.long)
    x64 = x.double().requires_grad_(True)
    logp = torch.log_softmax(net(x64, t.double()), dim=1)[torch.arange(B), y]
    logp.sum().backward()
    out = os.path.join(HERE, "guide_ref.h5")
    with h5py.File(out, "w", track_order=True) as f:
        f.create_dataset("x", data=x.numpy(), track_times=False)
        f.create_dataset("t", data=t.numpy(), track_times=False)
        f.create_dataset("targets", data=y.numpy().astype(np.int32), track_times=False)
        f.create_dataset("logp", data=logp.detach().numpy(), track_times=False)
        f.create_dataset("grad_x", data=x64.grad.numpy(), track_times=False)
    print(f"{out}: log p {logp.detach().numpy()}, |grad| max {x64.grad.abs().max().item():.3g}")


if __name__ == "__main__":
    main()
