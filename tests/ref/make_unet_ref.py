#!/usr/bin/python3
"""Build the reference U-Net (unet_ref.py) from a fixed seed and dump what
tests/test_unet_ref.c checks: parameters, inputs, output, loss, every gradient and
(class-conditional file) three AdamW steps.

    /usr/bin/python3 tests/ref/make_unet_ref.py      (from the repo root; Debian's python
                                                      has torch, h5py, numpy)

Writes tests/ref/unet_ref.h5 (default config, B=2, unconditional),
tests/ref/unet_ref_cond.h5 (ch=16, ch_mult=1,2, 16x16x3, 10 classes, B=4, one null label)
tests/ref/unet_ref_sr3.h5 (ch=8, ch_mult=1,2, 16x16x1 plus 1 condition channel, SR3's
input, unconditional, B=3) and tests/ref/unet_ref_pool.h5 (the noise-aware classifier:
ch=8, ch_mult=1,2, 16x16x1, the pooled head with 10 logits, B=3; /target and /out (B,10)). Names on the command line (unet_ref_sr3 ...) make only those.

Layout of each file:
  /params/<name>   float32, every parameter, named_parameters() order (attr `index`)
  /x (B,C+K,S,S) float32 (K = cond_ch condition channels after the C image channels)   /t (B) float32 (integer timesteps)   /labels (B) int32 (cond only)
  /target (B,C,S,S) float32   /out (B,C,S,S) float32   /loss (1) float64
  /grads/<name>    float32, d loss / d param, loss = mean((out - target)^2)
  /grad_x          float32, d loss / d x
  /adamw/step3/<name>  float32 (cond file only): params after 3 torch.optim.AdamW steps
                   (lr 1e-3, betas (0.9,0.999), eps 1e-8, weight_decay 0.01), each step's
                   gradient being /grads/<name>
  attributes: the config (ch, ch_mult, num_res_blocks, attn_resolutions, groups, dropout,
  num_classes, image_size, in_ch, out_ch; cond_ch when it is not 0), batch, num_params, torch_version.

The forward and backward run in float64 from the float32 parameters and inputs, and the
results are rounded once to float32: the dump is the exact answer, so the C test measures
its own float32 error only. The initial parameters are rounded to bfloat16 values (8
significant bits) and stored as float32, so that gzip shrinks the 1.6M-parameter file below
8 MB; they are still ordinary float32 weights for every purpose of the test. (For the same
reason the gradients are rounded to 14 significant bits, a relative error below 2^-15 =
3.1e-5, 30 times under the test's tolerances, and only the small conditional file
carries the AdamW steps.)
"""
import os
import sys

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from unet_ref import UNet  # noqa: E402


def round_bits(a, bits):
    """float32 array rounded to `bits` of its 24 significant bits (ties away from zero):
    the other low mantissa bits become zero, which gzip then stores almost for free."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    drop = 24 - bits
    u = (u + np.uint32(1 << (drop - 1))) & np.uint32(~((1 << drop) - 1) & 0xFFFFFFFF)
    return u.view(np.float32)


def open_untimed(path, groups):
    """A new HDF5 file whose groups carry no timestamps: the same data, the same bytes."""
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_LATEST, h5py.h5f.LIBVER_LATEST)
    fid = h5py.h5f.create(path.encode(), h5py.h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl)
    f = h5py.File(fid)
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_obj_track_times(False)
    for g in groups:
        h5py.h5g.create(f.id, g.encode(), gcpl=gcpl)
    return f


ADAMW = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)


def dump(path, cfg, batch, t_values, labels, seed, with_adamw):
    torch.manual_seed(seed)
    net = UNet(**cfg)
    with torch.no_grad():
        for p in net.parameters():  # bfloat16-representable float32 values: see above
            p.copy_(p.to(torch.bfloat16).to(torch.float32))
    S, C = cfg["image_size"], cfg["in_ch"] + cfg.get("cond_ch", 0)
    x = torch.randn(batch, C, S, S)
    pool = cfg.get("head", 0) == 1
    target = torch.randn(batch, cfg["out_ch"]) if pool else torch.randn(batch, cfg["out_ch"], S, S)
    t = torch.tensor(t_values, dtype=torch.float32)
    lab = torch.tensor(labels, dtype=torch.long) if labels is not None else None
    n_params = sum(p.numel() for p in net.parameters())
    print(f"{os.path.basename(path)}: {n_params} parameters")

    net64 = UNet(**cfg).double()
    net64.load_state_dict({k: v.double() for k, v in net.state_dict().items()})
    x64 = x.double().requires_grad_(True)
    out = net64(x64, t.double(), lab)
    loss = torch.mean((out - target.double()) ** 2)
    loss.backward()

    opts = dict(compression="gzip", compression_opts=9, shuffle=True, track_times=False)
    groups = ["params", "grads"] + (["adamw", "adamw/step3"] if with_adamw else [])
    with open_untimed(path, groups) as f:
        for k, v in cfg.items():
            f.attrs[k] = np.array(v, dtype=np.float64 if k == "dropout" else np.int64)
        f.attrs["batch"] = batch
        f.attrs["num_params"] = n_params
        f.attrs["torch_version"] = str(torch.__version__).encode()
        for i, (name, p) in enumerate(net.named_parameters()):
            d = f.create_dataset(f"params/{name}", data=p.detach().numpy(), **opts)
            d.attrs["index"] = i
        f.create_dataset("x", data=x.numpy(), **opts)
        f.create_dataset("t", data=t.numpy(), track_times=False)
        if lab is not None:
            f.create_dataset("labels", data=lab.numpy().astype(np.int32), track_times=False)
        f.create_dataset("target", data=target.numpy(), **opts)
        f.create_dataset("out", data=out.detach().float().numpy(), **opts)
        f.create_dataset("loss", data=np.array([loss.item()], dtype=np.float64), track_times=False)
        f.create_dataset("grad_x", data=round_bits(x64.grad.float().numpy(), 14), **opts)
        grads = {}
        for name, p in net64.named_parameters():
            g = round_bits(p.grad.float().numpy(), 14)
            grads[name] = torch.from_numpy(g.copy())
            f.create_dataset(f"grads/{name}", data=g, **opts)

        if with_adamw:
            opt = torch.optim.AdamW(net.parameters(), **ADAMW)
            for _ in range(3):
                for name, p in net.named_parameters():
                    p.grad = grads[name].clone()
                opt.step()
            for name, p in net.named_parameters():
                f.create_dataset(f"adamw/step3/{name}", data=p.detach().numpy(), **opts)
    print(f"  loss {loss.item():.6f}, {os.path.getsize(path) / 1e6:.2f} MB")


def main():
    torch.set_num_threads(2)
    want = set(sys.argv[1:])
    make = lambda name: not want or name in want  # noqa: E731
    default = dict(ch=32, ch_mult=[1, 2, 2], num_res_blocks=2, attn_resolutions=[8], groups=8,
                   dropout=0.0, num_classes=0, image_size=32, in_ch=1, out_ch=1)
    if make("unet_ref"):
        dump(os.path.join(HERE, "unet_ref.h5"), default, batch=2, t_values=[17.0, 901.0],
             labels=None, seed=1234, with_adamw=False)
    cond = dict(ch=16, ch_mult=[1, 2], num_res_blocks=2, attn_resolutions=[8], groups=8,
                dropout=0.0, num_classes=10, image_size=16, in_ch=3, out_ch=3)
    if make("unet_ref_cond"):
        dump(os.path.join(HERE, "unet_ref_cond.h5"), cond, batch=4,
             t_values=[0.0, 250.0, 999.0, 500.0], labels=[3, 10, 7, 0], seed=4321,
             with_adamw=True)
    sr3 = dict(ch=8, ch_mult=[1, 2], num_res_blocks=1, attn_resolutions=[8], groups=4,
               dropout=0.0, num_classes=0, image_size=16, in_ch=1, out_ch=1, cond_ch=1)
    if make("unet_ref_sr3"):
        dump(os.path.join(HERE, "unet_ref_sr3.h5"), sr3, batch=3, t_values=[5.0, 480.0, 990.0],
             labels=None, seed=3333, with_adamw=False)
    pool = dict(ch=8, ch_mult=[1, 2], num_res_blocks=1, attn_resolutions=[8], groups=4,
                dropout=0.0, num_classes=0, image_size=16, in_ch=1, out_ch=10, head=1)
    if make("unet_ref_pool"):
        dump(os.path.join(HERE, "unet_ref_pool.h5"), pool, batch=3, t_values=[2.0, 400.0, 975.0],
             labels=None, seed=5555, with_adamw=False)


if __name__ == "__main__":
    main()
