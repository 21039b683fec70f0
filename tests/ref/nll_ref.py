#!/usr/bin/python3
"""Independent check of `ddm eval --metrics nll` (core/nll.c) from its test dump.

    nll_ref.py DUMP.h5 [--rtol 1e-6] [--torch] [--torch-rtol 1e-6]

DUMP.h5 is written by `ddm eval --metrics nll ... --nll-dump DUMP.h5`: every image's noise
(/noise, N x K x D float32) and the network's raw output (/out) at each step t of the plan
(/t, /weight), and the C side's per-image terms (/terms, N x 4 nats: L_T, KL terms with
sigma^2 = beta, with beta~, L_0). From the dataset's uint8 images, the noise, the outputs
and the checkpoint's config alone, this script recomputes in float64 numpy/scipy:
  - the schedule (linear: Ho et al. 2020 sec. 4; cosine: Nichol & Dhariwal 2021 eq. 17,
    betas clipped at 0.999),
  - x_t = sqrt(ab) x0 + sqrt(1-ab) noise, x0-hat from the output (eps, x0 or v),
  - the KL of two Gaussians in improved-diffusion's general form (log variances, both means
    written out),
  - the decoder's bins with scipy.special.log_ndtr (the tail of the side the bin is on),
and checks the per-image bits/dim (both variances) and every term against the C values
to --rtol (relative; 1e-12 bits/dim absolute for terms near 0).

--torch also runs the network itself: tests/ref/unet_ref.py (the PyTorch twin of the
U-Net) in float64 with the checkpoint's weights, at the float32 x_t the C network was
given, and checks (a) its outputs against the dumped float32 ones (|a-b| <= 1e-4 + 1e-3|b|:
the C network computes in float32) and (b) the per-image bits/dim from its own outputs
against the C values to --torch-rtol.
Prints one line per check and "N passed, M failed"; exit status 1 on a failure.
"""
import argparse
import configparser
import math
import os
import sys

import h5py
import numpy as np
from scipy.special import log_ndtr

HERE = os.path.dirname(os.path.abspath(__file__))
_pass = _fail = 0


def check(ok, msg):
    global _pass, _fail
    print(("ok   " if ok else "FAIL ") + msg)
    if ok:
        _pass += 1
    else:
        _fail += 1


def read_config(path):
    with h5py.File(path, "r") as f:
        text = f.attrs["config"]
    if isinstance(text, bytes):
        text = text.decode()
    cp = configparser.ConfigParser()
    cp.read_string(text)
    return cp


def schedule(cp):
    d = cp["diffusion"]
    T = int(d["timesteps"])
    kind = d["schedule"].strip()
    k = np.arange(T, dtype=np.float64)
    if kind == "linear":
        b0, b1 = float(d["beta_start"]), float(d["beta_end"])
        beta = b0 + (b1 - b0) * k / (T - 1)
    else:
        s = 0.008
        f = lambda t: np.cos((t + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
        beta = np.minimum(1 - f((k + 1) / T) / f(k / T), 0.999)
    ab = np.cumprod(1 - beta)
    ab_prev = np.concatenate([[1.0], ab[:-1]])
    return dict(T=T, beta=beta, alpha=1 - beta, ab=ab, ab_prev=ab_prev,
                beta_tilde=(1 - ab_prev) / (1 - ab) * beta,
                c0=np.sqrt(ab_prev) * beta / (1 - ab),
                ct=np.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab),
                pred=d["prediction"].strip())


def normal_kl(m1, lv1, m2, lv2):
    """KL(N(m1, e^lv1) || N(m2, e^lv2)) per value (improved-diffusion's losses.normal_kl)."""
    return 0.5 * (-1.0 + lv2 - lv1 + np.exp(lv1 - lv2) + (m1 - m2) ** 2 * np.exp(-lv2))


def log_bins(x, mean, log_sd):
    """log P(bin of x) under N(mean, e^(2 log_sd)): bins of 2/255, edges open."""
    inv = np.exp(-log_sd)
    plus = inv * (x - mean + 1 / 255)
    minus = inv * (x - mean - 1 / 255)
    # interior: Phi(plus) - Phi(minus), in logs from the tail on the bin's side of the mean
    up = x - mean >= 0
    la = np.where(up, log_ndtr(-minus), log_ndtr(plus))   # the larger tail mass
    lb = np.where(up, log_ndtr(-plus), log_ndtr(minus))   # the smaller
    mid = la + np.log(-np.expm1(lb - la))
    return np.where(x < -0.999, log_ndtr(plus), np.where(x > 0.999, log_ndtr(-minus), mid))


def x0_hat(sch, out, xt, k):
    a, sg = math.sqrt(sch["ab"][k]), math.sqrt(1 - sch["ab"][k])
    if sch["pred"] == "eps":
        return (xt - sg * out) / a
    if sch["pred"] == "x0":
        return out.copy()
    return a * xt - sg * out  # v (Salimans & Ho 2022)


def terms_of(sch, x0, noise, out, ts, ws, clip):
    """(4,) nats of one image: prior, KL (beta), KL (beta~), decoder."""
    T = sch["T"]
    abT = sch["ab"][T - 1]
    prior = normal_kl(math.sqrt(abT) * x0, math.log(1 - abT), 0.0, 0.0).sum()
    klb = klt = dec = 0.0
    for j, t in enumerate(ts):
        k = t - 1
        xt = math.sqrt(sch["ab"][k]) * x0 + math.sqrt(1 - sch["ab"][k]) * noise[j].astype(np.float64)
        xh = x0_hat(sch, out[j].astype(np.float64), xt, k)
        if clip:
            xh = np.clip(xh, -1, 1)
        if t == 1:
            dec -= ws[j] * log_bins(x0, xh, 0.5 * math.log(sch["beta_tilde"][1])).sum()
            continue
        mq = sch["c0"][k] * x0 + sch["ct"][k] * xt
        mp = sch["c0"][k] * xh + sch["ct"][k] * xt
        lq = math.log(sch["beta_tilde"][k])
        klb += ws[j] * normal_kl(mq, lq, mp, math.log(sch["beta"][k])).sum()
        klt += ws[j] * normal_kl(mq, lq, mp, lq).sum()
    return np.array([prior, klb, klt, dec])


def bpd(terms, D):
    """(N,4) nats -> (N,2) bits/dim with beta, beta~"""
    s = terms[:, 0] + terms[:, 3]
    return np.stack([s + terms[:, 1], s + terms[:, 2]], axis=1) / (D * math.log(2))


def torch_outputs(cp, model_path, weights, xin, tk):
    import torch
    sys.path.insert(0, HERE)
    from unet_ref import UNet
    m = cp["model"]
    ints = lambda s: tuple(int(v) for v in s.split(",") if v.strip())  # noqa: E731
    C = int(m["channels"])
    cfg = dict(ch=int(m["ch"]), ch_mult=ints(m["ch_mult"]), num_res_blocks=int(m["num_res_blocks"]),
               attn_resolutions=ints(m["attn_resolutions"]), groups=int(m["groups"]), dropout=0.0,
               num_classes=int(m["num_classes"]), image_size=int(m["image_size"]), in_ch=C, out_ch=C)
    net = UNet(**cfg).double().eval()
    group = "model" if weights == "raw" else "ema/" + weights.split(":", 1)[1]
    with h5py.File(model_path, "r") as f:
        g = f[group]
        sd = {name: torch.from_numpy(np.asarray(g[name], np.float64)) for name in g.keys()}
    net.load_state_dict(sd)
    outs = []
    with torch.no_grad():  # in chunks: float64 activations of thousands of images at once page hard
        for i in range(0, xin.shape[0], 32):
            o = net(torch.from_numpy(xin[i:i + 32].astype(np.float64)), torch.from_numpy(tk[i:i + 32]))
            outs.append(o.numpy())
    return np.concatenate(outs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dump")
    ap.add_argument("--rtol", type=float, default=1e-6)
    ap.add_argument("--torch", action="store_true")
    ap.add_argument("--torch-rtol", type=float, default=1e-6)
    args = ap.parse_args()
    with h5py.File(args.dump, "r") as f:
        noise, out = np.asarray(f["noise"]), np.asarray(f["out"])
        cterms = np.asarray(f["terms"], np.float64)
        ts = [int(v) for v in np.asarray(f["t"])]
        ws = np.asarray(f["weight"], np.float64)
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    data, model, weights, clip = attrs["data"], attrs["model"], attrs["weights"], int(attrs["clip"])
    N, K, D = noise.shape
    cp = read_config(model)
    sch = schedule(cp)
    if cp["diffusion"]["process"].strip() != "vp" or sch["T"] != int(attrs["T"]):
        check(False, f"the checkpoint's schedule (T = {sch['T']}) is not the dump's (T = {attrs['T']})")
        return
    with h5py.File(data, "r") as f:
        u8 = np.asarray(f["images"][:N])
    x0 = (u8.reshape(N, D).astype(np.float64) / 127.5) - 1.0
    print(f"{args.dump}: {N} images x {K} steps of T = {sch['T']} ({sch['pred']}, "
          f"{cp['diffusion']['schedule'].strip()}), D = {D}, weights {weights}, clip {clip}")
    check(ts[0] == 1 and abs(ws.sum() - sch["T"]) < 1e-9 and all(b > a for a, b in zip(ts, ts[1:])),
          f"plan: t from 1, ascending, weights sum to T ({ws.sum():g})")

    py = np.stack([terms_of(sch, x0[i], noise[i], out[i], ts, ws, clip) for i in range(N)])
    b_py, b_c = bpd(py, D), bpd(cterms, D)
    for c, name in enumerate(["beta", "beta~"]):
        err = np.abs(b_py[:, c] - b_c[:, c]) / np.abs(b_py[:, c])
        i = int(err.argmax())
        check(err.max() <= args.rtol,
              f"per-image bits/dim ({name}): worst relative difference {err.max():.2e} (image {i}: "
              f"C {b_c[i, c]:.12g}, numpy {b_py[i, c]:.12g}); mean {b_py[:, c].mean():.6f}")
    names = ["L_T", "KL terms (beta)", "KL terms (beta~)", "L_0"]
    for k in range(4):
        a, b = cterms[:, k] / (D * math.log(2)), py[:, k] / (D * math.log(2))
        err = np.abs(a - b) - (1e-12 + args.rtol * np.abs(b))
        i = int(err.argmax())
        check(err.max() <= 0, f"per-image {names[k]}: worst |C - numpy| {abs(a[i] - b[i]):.2e} bits/dim "
              f"(image {i}: {a[i]:.10g} vs {b[i]:.10g})")

    if args.torch:
        # the C network's input: x_t in float64, rounded once to float32 (core/nll.c nll_input)
        xin = np.empty((N * K, D), np.float32)
        tk = np.empty(N * K)
        for i in range(N):
            for j, t in enumerate(ts):
                k = t - 1
                xin[i * K + j] = (math.sqrt(sch["ab"][k]) * x0[i]
                                  + math.sqrt(1 - sch["ab"][k]) * noise[i, j].astype(np.float64)).astype(np.float32)
                tk[i * K + j] = k
        S = int(cp["model"]["image_size"])
        C = D // (S * S)
        o = torch_outputs(cp, model, weights, xin.reshape(N * K, C, S, S), tk).reshape(N, K, D)
        d = np.abs(o - out) - (1e-4 + 1e-3 * np.abs(o))
        idx = np.unravel_index(int(d.argmax()), d.shape)
        check(d.max() <= 0, f"network outputs: PyTorch (float64, unet_ref.py) vs C (float32): worst |diff| "
              f"{abs(o[idx] - out[idx]):.2e} at image {idx[0]} step t={ts[idx[1]]} value {idx[2]} "
              f"(tolerance 1e-4 + 1e-3 |ref|)")
        pt = np.stack([terms_of(sch, x0[i], noise[i], o[i], ts, ws, clip) for i in range(N)])
        b_pt = bpd(pt, D)
        err = np.abs(b_pt - b_c) / np.abs(b_pt)
        check(err.max() <= args.torch_rtol, f"per-image bits/dim with PyTorch's own network outputs: worst relative "
              f"difference {err.max():.2e} (tolerance {args.torch_rtol:g})")

    print(f"{_pass} passed, {_fail} failed")
    sys.exit(1 if _fail else 0)


if __name__ == "__main__":
    main()
