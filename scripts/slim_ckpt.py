#!/usr/bin/python3
"""Make a small, shippable copy of a ddm checkpoint: its attributes (step, config, ...)
and ONE weight set (an EMA copy by default), without the raw weights and the optimizer
moments. `ddm sample --ckpt SLIM.h5` and `ddm eval --features classifier:SLIM.h5` read it
like the full checkpoint.
    slim_ckpt.py CKPT.h5 OUT.h5 [--ema RATE | --raw]
"""
import argparse
import os

import h5py

ap = argparse.ArgumentParser()
ap.add_argument("ckpt")
ap.add_argument("out")
g = ap.add_mutually_exclusive_group()
g.add_argument("--ema", help="EMA rate to keep, as in the file (/ema/RATE); default the first")
g.add_argument("--raw", action="store_true", help="keep /model instead of an EMA copy")
a = ap.parse_args()
with h5py.File(a.ckpt, "r") as src:
    if src.attrs.get("kind") not in (b"checkpoint", "checkpoint"):
        raise SystemExit(f"{a.ckpt}: not a ddm checkpoint")
    if a.raw:
        path = "model"
    else:
        rates = list(src["ema"].keys()) if "ema" in src else []
        if not rates:
            raise SystemExit(f"{a.ckpt}: has no EMA weights (use --raw)")
        rate = a.ema or rates[0]
        if rate not in rates:
            raise SystemExit(f"{a.ckpt}: has no /ema/{rate}; it has {', '.join(rates)}")
        path = "ema/" + rate
    tmp = a.out + ".tmp"
    with h5py.File(tmp, "w", track_order=False) as dst:
        for k, v in src.attrs.items():
            dst.attrs[k] = v
        dst.attrs["slim_of"] = os.path.basename(a.ckpt) + ": " + path + " only"
        src.copy(src[path], dst, name=path)
    os.replace(tmp, a.out)
    print(f"wrote {a.out}: /{path} of {a.ckpt} (step {src.attrs['step']})")
