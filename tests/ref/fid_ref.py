"""scipy reference for the ScaLAPACK Fréchet distance (mpi/fid.c), used by tests/t_fid.sh.

    /usr/bin/python3 tests/ref/fid_ref.py OUTDIR [--quick] [--full]

Makes statistics (mean, np.cov) of random feature sets at D = 64 and D = 2048, both with
more samples than dimensions (well conditioned) and with fewer (singular covariances),
writes each case to OUTDIR/NAME.bin and a line per case to OUTDIR/cases.txt:

    NAME PATH FID_SCIPY FID_EIGH RTOL SINGULAR

FID_SCIPY is pytorch-fid's computation (scipy.linalg.sqrtm of the product S1 S2, the
eps*I retry when not finite, real part); FID_EIGH is the symmetric form the C code uses,
  |mu1-mu2|^2 + tr S1 + tr S2 - 2 tr sqrt(sqrt(S1) S2 sqrt(S1)),
with numpy's eigh, a second opinion that is accurate where sqrtm of a singular product
is not. RTOL is the tolerance the C side must meet against FID_SCIPY. FID_SCIPY is nan
where scipy was not run: sqrtm of the D = 2048 near-singular product takes 8-16 s on two
shared cores, so that case gets scipy only with --full (the C side then checks it against
FID_EIGH alone). --quick: the D = 64 cases only.

Case file layout (little-endian): int64 d, int64 n1, int64 n2, then float64 mu1 (d),
sigma1 (d,d), mu2 (d), sigma2 (d,d).
"""
import os
import sys
import time

import numpy as np
from scipy import linalg


def fid_pytorch_fid(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """pytorch-fid's calculate_frechet_distance, without its error on large imaginary
    parts (returns how large they were instead)."""
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    imag = 0.0
    if np.iscomplexobj(covmean):
        imag = float(np.max(np.abs(np.diagonal(covmean).imag)))
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)), imag


def fid_eigh(mu1, sigma1, mu2, sigma2):
    w, v = np.linalg.eigh(sigma1)
    s = np.sqrt(np.clip(w, 0, None))
    c = (v.T @ sigma2 @ v) * s[:, None] * s[None, :]
    w2 = np.linalg.eigvalsh((c + c.T) / 2)
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2)
                 - 2 * np.sum(np.sqrt(np.clip(w2, 0, None))))


def features(rng, n, d, shift, scale):
    """correlated features: gaussian rows through a fixed random mixing, then per-dim
    scales and a shift (float32, as a feature extractor gives them)"""
    z = rng.standard_normal((n, d))
    mix = np.eye(d) + 0.3 * rng.standard_normal((d, d)) / np.sqrt(d)
    x = (z @ mix) * scale + shift
    return x.astype(np.float32)


def stats(x):
    x = x.astype(np.float64)
    return np.mean(x, axis=0), np.cov(x, rowvar=False)


def write_case(path, d, n1, n2, mu1, s1, mu2, s2):
    with open(path, "wb") as f:
        np.array([d, n1, n2], dtype="<i8").tofile(f)
        for a in (mu1, s1, mu2, s2):
            np.ascontiguousarray(a, dtype="<f8").tofile(f)


def main():
    out = sys.argv[1]
    quick = "--quick" in sys.argv
    full = "--full" in sys.argv
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20240607)
    # (name, d, n1, n2, rtol vs scipy, singular)
    cases = [("d64", 64, 1000, 800, 1e-6, 0),
             ("d64_singular", 64, 40, 50, 1e-5, 1)]
    if not quick:
        cases += [("d2048", 2048, 3000, 2600, 1e-6, 0),
                  ("d2048_singular", 2048, 1500, 1200, 1e-5, 1)]
    lines = []
    for name, d, n1, n2, rtol, singular in cases:
        t0 = time.time()
        scale1 = 1.0 + 0.5 * rng.random(d)
        scale2 = scale1 * (1.0 + 0.2 * rng.standard_normal(d))
        mu1, s1 = stats(features(rng, n1, d, 0.0, scale1))
        mu2, s2 = stats(features(rng, n2, d, 0.1 * rng.standard_normal(d), scale2))
        path = os.path.join(out, name + ".bin")
        write_case(path, d, n1, n2, mu1, s1, mu2, s2)
        t1 = time.time()
        if d == 2048 and singular and not full:
            ref, imag = float("nan"), float("nan")
        else:
            ref, imag = fid_pytorch_fid(mu1, s1, mu2, s2)
        t2 = time.time()
        ref2 = fid_eigh(mu1, s1, mu2, s2)
        lines.append("%s %s %.17g %.17g %g %d\n" % (name, path, ref, ref2, rtol, singular))
        print("%-15s d=%-5d n=%d,%d  scipy sqrtm %.12g (max |imag| %.2g, %.2fs)  eigh %.12g  "
              "rel diff %.2g  (stats %.2fs)"
              % (name, d, n1, n2, ref, imag, t2 - t1, ref2, abs(ref - ref2) / abs(ref2), t1 - t0))
    with open(os.path.join(out, "cases.txt"), "w") as f:
        f.writelines(lines)


if __name__ == "__main__":
    main()
