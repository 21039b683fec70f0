#!/usr/bin/env python3
"""
unipc_ref.py -- self-contained NumPy reference for the UniPC sampler
(Zhao, Bai, Rao, Zhou, Lu 2023) in the Karras/EDM "VE-equivalent" variable

    xbar = x / s(sigma),   d xbar / d sigma = (xbar - D(xbar; sigma)) / sigma,

i.e. UniPC / DPM-Solver notation with alpha_t = 1, sigma_t = sigma,
lambda = -log(sigma), data prediction (predict_x0 = True).

Written from the algorithm description in SPEC.md (same directory); it follows
the step structure of diffusers' UniPCMultistepScheduler and of wl-zhao/UniPC
(multistep_uni_pc_bh_update) but is an independent implementation.

Run:  /usr/bin/python3 unipc_ref.py            (checks, accuracy tables: ~1.5 min)
      /usr/bin/python3 unipc_ref.py --points   (only the fixed points test_samplers holds)
"""
import sys
import math
import numpy as np


# --------------------------------------------------------------------------
# UniPC coefficients (shared by UniP and UniC)
# --------------------------------------------------------------------------
def bh_coeffs(sig_hist, sig_t, p, variant="bh2"):
    """Coefficients of one UniP-p / UniC-p step from sig_hist[0] = sig_s0
    (the current point) to sig_t > 0.

    sig_hist : [sig_s0, sig_s1, ..., sig_s_{p-1}] -- s0 is the most recent
               evaluated point, s_k the one k evaluations earlier (sig_sk > sig_s0).
    Returns dict with
       a      = sig_t / sig_s0              (= e^{-h})
       hphi1  = expm1(-h)                   (= e^{-h} - 1 < 0)
       B      = B(-h): bh1 -> -h, bh2 -> expm1(-h)
       rks    = [r_1, ..., r_{p-1}, 1]      r_k = (lambda_sk - lambda_s0)/h < 0
       b      = [b_1, ..., b_p]             b_i = i! * g_i(-h) / B
       R      = p x p matrix, R[i, k] = rks[k]**i
       rho_p  = predictor weights (length p-1)
       rho_c  = corrector weights (length p)
    """
    sig_s0 = sig_hist[0]
    h = math.log(sig_s0 / sig_t)          # lambda_t - lambda_s0 > 0
    hh = -h                               # data prediction: work with -h
    hphi1 = math.expm1(hh)
    if variant == "bh1":
        B = hh
    elif variant == "bh2":
        B = math.expm1(hh)
    else:
        raise ValueError(variant)
    rks = [math.log(sig_s0 / sig_hist[k]) / h for k in range(1, p)] + [1.0]
    rks = np.array(rks)
    # g_1 = (e^z-1)/z - 1, g_{i+1} = g_i/z - 1/(i+1)!   (z = hh);  g_i = z*phi_{i+1}(z)
    b = []
    g = hphi1 / hh - 1.0
    fact = 1.0
    for i in range(1, p + 1):
        b.append(g * fact / B)
        fact *= (i + 1)
        g = g / hh - 1.0 / fact
    b = np.array(b)
    R = np.array([rks ** i for i in range(p)])      # row i = rks^i
    if p == 1:
        rho_p = np.zeros(0)
        rho_c = np.array([0.5])                      # simplified, as in diffusers / wl-zhao
    else:
        rho_p = np.array([0.5]) if p == 2 else np.linalg.solve(R[:-1, :-1], b[:-1])
        rho_c = np.linalg.solve(R, b)
    return dict(h=h, a=sig_t / sig_s0, hphi1=hphi1, B=B, rks=rks, b=b, R=R,
                rho_p=rho_p, rho_c=rho_c)


def _D1s(Dhist, rks, p):
    """D1_k = (D_{s_k} - D_{s0}) / r_k, k = 1..p-1 ; Dhist[0] = D_{s0}."""
    return [(Dhist[k] - Dhist[0]) / rks[k - 1] for k in range(1, p)]


def unip_step(x, Dhist, c, p):
    """UniP-p: x at sig_s0 -> x at sig_t (no model evaluation)."""
    x_base = c["a"] * x - c["hphi1"] * Dhist[0]       # DDIM / DPM-Solver++(1) part
    if p == 1:
        return x_base
    res = sum(rk * d for rk, d in zip(c["rho_p"], _D1s(Dhist, c["rks"], p)))
    return x_base - c["B"] * res


def unic_step(x_s, Dhist, D_t, c, p):
    """UniC-p: corrected x at sig_t from the (corrected) x at sig_s0, the
    history Dhist (Dhist[0] = D at s0) and D_t = D(x_pred_t; sig_t)."""
    x_base = c["a"] * x_s - c["hphi1"] * Dhist[0]
    res = 0.0
    if p > 1:
        res = sum(rk * d for rk, d in zip(c["rho_c"][:-1], _D1s(Dhist, c["rks"], p)))
    return x_base - c["B"] * (res + c["rho_c"][-1] * (D_t - Dhist[0]))


def unipc_sample(D, x_init, sigmas, order=2, variant="bh2",
                 lower_order_final=True, use_corrector=True, return_info=False):
    """UniPC-`order` (multistep, B(h) variant) along the decreasing sequence
    sigmas[0] > ... > sigmas[N-1] > sigmas[N] (>= 0).  NFE = N.

    D(x, sigma) -> data prediction (x0-hat), vectorised over x.
    If sigmas[N] == 0 the last step is x = D(x_pred_{N-1}; sigmas[N-1])
    (limit lambda -> inf of the order-1 update); no corrector after the last step.
    """
    sig = np.asarray(sigmas, dtype=float)
    N = len(sig) - 1
    x = np.array(x_init, dtype=float)
    Dhist, sighist = [], []        # most recent first
    pending = None                 # (x_start, Dhist_at_start, coeffs, p) of the last predictor step
    nfe = 0
    for i in range(N):
        Di = D(x, sig[i]); nfe += 1            # evaluated at the *uncorrected* predictor output
        if use_corrector and pending is not None:
            xs, Dh, c, p = pending
            x = unic_step(xs, Dh, Di, c, p)    # corrected state at sig[i]; Di is NOT re-evaluated
        Dhist = ([Di] + Dhist)[:order]
        sighist = ([sig[i]] + sighist)[:order]
        p = min(order, i + 1)                  # warm-up: only i+1 evaluations available
        if lower_order_final:
            p = min(p, N - i)                  # diffusers: min(solver_order, N - step_index)
        if sig[i + 1] == 0.0:
            # lambda_{t} = +inf: e^{-h} = 0, h*phi_1 = -1, bh2: B = -1, r_k = 0.
            # Only the order-1 update has a finite limit: x = D_i.
            x = Di
            pending = None
            continue
        c = bh_coeffs(sighist[:p], sig[i + 1], p, variant)
        pending = (x, Dhist[:p], c, p)
        x = unip_step(x, Dhist[:p], c, p)
    if return_info:
        return x, dict(nfe=nfe)
    return x


# --------------------------------------------------------------------------
# DPM-Solver++(2M) exactly as written in the brief (project's existing sampler)
# --------------------------------------------------------------------------
def dpmpp_2m_sample(D, x_init, sigmas):
    sig = np.asarray(sigmas, dtype=float)
    N = len(sig) - 1
    x = np.array(x_init, dtype=float)
    Dprev = None
    for i in range(N):
        Di = D(x, sig[i])
        if sig[i + 1] == 0.0:
            x = Di
        else:
            hl = math.log(sig[i] / sig[i + 1])
            if i == 0:
                Dc = Di
            else:
                r = math.log(sig[i - 1] / sig[i]) / hl
                Dc = (1 + 1 / (2 * r)) * Di - 1 / (2 * r) * Dprev
            x = (sig[i + 1] / sig[i]) * x - math.expm1(-hl) * Dc
        Dprev = Di
    return x


def heun_sample(D, x_init, sigmas):
    """EDM Heun (2nd order), Euler on the last step to sigma = 0."""
    sig = np.asarray(sigmas, dtype=float)
    x = np.array(x_init, dtype=float)
    for i in range(len(sig) - 1):
        d = (x - D(x, sig[i])) / sig[i]
        xe = x + (sig[i + 1] - sig[i]) * d
        if sig[i + 1] > 0:
            d2 = (xe - D(xe, sig[i + 1])) / sig[i + 1]
            x = x + (sig[i + 1] - sig[i]) * 0.5 * (d + d2)
        else:
            x = xe
    return x


# --------------------------------------------------------------------------
# Exact denoiser of a 1-D Gaussian mixture
# x0 ~ sum_k w_k N(mu_k, s_k^2);  xbar = x0 + sigma*eps
# --------------------------------------------------------------------------
W = np.array([0.5, 0.5])
MU = np.array([-1.0, 1.0])
S = np.array([0.1, 0.2])


def D_mix(x, sigma):
    x = np.asarray(x, dtype=float)[..., None]
    v = S ** 2 + sigma ** 2                                      # Var(xbar | k)
    logp = np.log(W) - 0.5 * np.log(2 * np.pi * v) - (x - MU) ** 2 / (2 * v)
    logp -= logp.max(axis=-1, keepdims=True)
    g = np.exp(logp)
    g /= g.sum(axis=-1, keepdims=True)                           # responsibilities
    Ek = MU + (S ** 2 / v) * (x - MU)                            # E[x0 | xbar, k]
    return (g * Ek).sum(axis=-1)


def karras_sigmas(N, smin=0.002, smax=80.0, rho=7.0):
    i = np.arange(N)
    s = (smax ** (1 / rho) + i / (N - 1) * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho
    return np.append(s, 0.0)


# --------------------------------------------------------------------------
# Reference: exact ODE 80 -> sigma_min (high-accuracy), then x = D(x; sigma_min)
# (every sampler on this grid ends with the same first-order step
#  sigma_min -> 0, x = D, so this is the N -> infinity limit of all of them)
# --------------------------------------------------------------------------
def ode_rk4_logsigma(x0, smax, smin, nsteps):
    # dx/dt = x - D(x, e^t), t = log sigma
    x = np.array(x0, dtype=float)
    t0, t1 = math.log(smax), math.log(smin)
    dt = (t1 - t0) / nsteps
    f = lambda x, t: x - D_mix(x, math.exp(t))
    t = t0
    for _ in range(nsteps):
        k1 = f(x, t)
        k2 = f(x + 0.5 * dt * k1, t + 0.5 * dt)
        k3 = f(x + 0.5 * dt * k2, t + 0.5 * dt)
        k4 = f(x + dt * k3, t + dt)
        x = x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        t += dt
    return x


def _mix_cdf_sf(y, sigma):
    """CDF and survival function of xbar = x0 + sigma*eps (mixture, exact)."""
    from math import erfc, sqrt
    y = np.asarray(y, dtype=float)[..., None]
    z = (y - MU) / np.sqrt(S ** 2 + sigma ** 2)
    erfc_v = np.vectorize(erfc)
    cdf = (W * 0.5 * erfc_v(-z / sqrt(2))).sum(-1)
    sf = (W * 0.5 * erfc_v(z / sqrt(2))).sum(-1)
    return cdf, sf


def exact_flow(x, s_from, s_to, iters=80):
    """Exact probability-flow ODE solution in 1-D: the flow is the monotone
    transport map, i.e. it preserves the CDF:  F_{s_to}(x(s_to)) = F_{s_from}(x).
    Solved by bisection (lower half via the CDF, upper half via the survival
    function, to keep relative accuracy in the tails)."""
    x = np.asarray(x, dtype=float)
    cdf0, sf0 = _mix_cdf_sf(x, s_from)
    upper = sf0 < cdf0
    lo = np.full_like(x, -20.0 - 10 * s_to)
    hi = np.full_like(x, 20.0 + 10 * s_to)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        c, sf = _mix_cdf_sf(mid, s_to)
        too_high = np.where(upper, sf < sf0, c > cdf0)    # mid is beyond the target
        hi = np.where(too_high, mid, hi)
        lo = np.where(too_high, lo, mid)
    return 0.5 * (lo + hi)


def reference_final(x0, smin=0.002, smax=80.0):
    """Target of every sampler on a Karras grid ending ... > sigma_min > 0:
    exact ODE 80 -> sigma_min, then the shared final step x = D(x; sigma_min)."""
    xs = exact_flow(x0, smax, smin)
    return D_mix(xs, smin), xs


def fixed_points():
    pts = np.array([-100.0, -7.5, 0.25, 60.0])
    sg = karras_sigmas(6)
    print("\nKarras sigmas N=6 (sig[6] = 0):", " ".join(f"{s:.15g}" for s in sg))
    print("fixed starting points xbar_0 =", pts.tolist(), "  N = 6, sigma_min=0.002, sigma_max=80, rho=7")
    cases = [("UniPC-2 bh2 (default)", dict(order=2, variant="bh2")),
             ("UniPC-2 bh1", dict(order=2, variant="bh1")),
             ("UniPC-3 bh2", dict(order=3, variant="bh2")),
             ("UniPC-1 bh2", dict(order=1, variant="bh2"))]
    for name, kw in cases:
        y = unipc_sample(D_mix, pts, sg, **kw)
        print(f"  {name:22s}: " + "  ".join(f"{v:.12f}" for v in y))
    y = dpmpp_2m_sample(D_mix, pts, sg)
    print(f"  {'DPM-Solver++(2M)':22s}: " + "  ".join(f"{v:.12f}" for v in y))
    yr, _ = reference_final(pts)
    print(f"  {'reference (exact map)':22s}: " + "  ".join(f"{v:.12f}" for v in yr))


def main():
    np.set_printoptions(precision=12)
    if "--points" in sys.argv:
        fixed_points()
        return
    # ---- self-checks -------------------------------------------------------
    rng0 = np.random.default_rng(1)
    xt = 80 * rng0.standard_normal(1000)
    for N in (5, 10, 20):
        sg = karras_sigmas(N)
        a = unipc_sample(D_mix, xt, sg, order=2, variant="bh2", use_corrector=False)
        b = dpmpp_2m_sample(D_mix, xt, sg)
        print(f"check: UniP-2(bh2, corrector off) vs DPM-Solver++(2M), N={N}: max|diff| = {np.abs(a-b).max():.3e}")
    # order-1 corrector weight, order-2 b_1, consistency of limits
    c = bh_coeffs([1.0, 2.0, 4.0], 0.5, 3, "bh2")
    print("check: bh2 p=3 example  sig=[1,2,4]->0.5: rks =", c["rks"], " b =", c["b"],
          " rho_p =", c["rho_p"], " rho_c =", c["rho_c"])
    c = bh_coeffs([1.0, 2.0, 4.0], 0.5, 3, "bh1")
    print("check: bh1 p=3 example  sig=[1,2,4]->0.5: rks =", c["rks"], " b =", c["b"],
          " rho_p =", c["rho_p"], " rho_c =", c["rho_c"])

    # ---- accuracy demo -----------------------------------------------------
    rng = np.random.default_rng(12345)
    x_init = 80.0 * rng.standard_normal(20000)
    ref, xs_ref = reference_final(x_init)
    print("\nreference = exact 1-D flow map 80 -> 0.002 (CDF-preserving, bisection), then x = D(x; 0.002)")
    xs_rk = ode_rk4_logsigma(x_init, 80.0, 0.002, 2000)
    print(f"  cross-check: RK4 in log-sigma, 2000 steps, 80 -> 0.002 vs exact map: mean = {np.abs(xs_rk-xs_ref).mean():.3e}, max = {np.abs(xs_rk-xs_ref).max():.3e}")
    hz = heun_sample(D_mix, x_init, karras_sigmas(500))
    print(f"  Heun N=500 (999 NFE) vs reference: mean = {np.abs(hz-ref).mean():.3e}")
    # for information: exact flow all the way to sigma = 0 (not the target of these grids)
    print(f"  [info] |D(x(0.002);0.002) - x(0.002)| mean = {np.abs(ref - xs_ref).mean():.3e} (size of the shared last step)")
    print(f"  [info] sample stats of reference: mean = {ref.mean():+.4f}, frac>0 = {(ref>0).mean():.4f}")

    print("\nmean |x_N - x_ref| over 20000 points (NFE = N for all multistep solvers)")
    hdr = f"{'N':>4} {'DPM++2M':>11} {'UniPC-1 bh2':>12} {'UniPC-2 bh2':>12} {'UniPC-2 bh1':>12} {'UniPC-3 bh2':>12} {'UniPC-3 bh1':>12} {'UniP-2 only':>12}"
    print(hdr)
    for N in (5, 6, 8, 10, 15, 20, 40, 80):
        sg = karras_sigmas(N)
        e = lambda y: np.abs(y - ref).mean()
        row = [e(dpmpp_2m_sample(D_mix, x_init, sg)),
               e(unipc_sample(D_mix, x_init, sg, 1, "bh2")),
               e(unipc_sample(D_mix, x_init, sg, 2, "bh2")),
               e(unipc_sample(D_mix, x_init, sg, 2, "bh1")),
               e(unipc_sample(D_mix, x_init, sg, 3, "bh2")),
               e(unipc_sample(D_mix, x_init, sg, 3, "bh1")),
               e(unipc_sample(D_mix, x_init, sg, 2, "bh2", use_corrector=False))]
        print(f"{N:>4} " + " ".join(f"{v:12.4e}" for v in row))

    print("\nfor information: median |x_N - x_ref| and fraction of points with |err| > 0.1")
    print(f"{'N':>4} {'DPM++2M med':>12} {'UniPC-2 med':>12} {'DPM++2M >0.1':>13} {'UniPC-2 >0.1':>13}")
    for N in (5, 6, 8, 10, 15, 20):
        sg = karras_sigmas(N)
        ed = np.abs(dpmpp_2m_sample(D_mix, x_init, sg) - ref)
        eu = np.abs(unipc_sample(D_mix, x_init, sg, 2, "bh2") - ref)
        print(f"{N:>4} {np.median(ed):12.4e} {np.median(eu):12.4e} {(ed>0.1).mean():13.4f} {(eu>0.1).mean():13.4f}")

    # ---- fixed points for the C port ---------------------------------------
    fixed_points()


if __name__ == "__main__":
    main()
