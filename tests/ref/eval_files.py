#!/usr/bin/env python3
"""Helpers of tests/t_eval.sh (numpy + h5py; run with Debian's /usr/bin/python3).

  eval_files.py make DIR TEST.h5      write the samples and dataset files the test scores:
      s_test.h5     one group, the first 5000 test-split images (done=1)
      s_test28.h5   the same images cropped back to 28x28 (the classifier pads them)
      s_noise.h5    2000 uniform-noise images
      s_sweep.h5    two groups: ddim 10 steps (noise) and ddim 50 steps (test images)
      s_partial.h5  100 rows, 37 done
      s_rgb.h5      3-channel images
      test5k.h5     dataset of the same 5000 test images (FID(X, X) = 0)
      noise_ds.h5   dataset of the same 2000 noise images
  eval_files.py tiny DIR TEST.h5      tiny_ds.h5: a dataset of 16 test images (rows 5000..5015)
  eval_files.py cmpnpz A.npz B.npz TOL  mu and sigma of two .npz equal to TOL (relative to max)
  eval_files.py fields RESULTS.jsonl  check the last line has every field; print it short
  eval_files.py get RESULTS.jsonl FIELD [K]  FIELD of the K-th last line (default 1)
  eval_files.py npz FILE.npz STATS.h5 SAMPLES.h5
      the .npz loads with numpy, holds mu (D,) and sigma (D,D) float64 equal to the stats
      file's, and equal to numpy's mean/np.cov of the samples' pixel features
"""
import json
import sys

import numpy as np


def make_samples(path, groups):
    import h5py
    with h5py.File(path, "w") as f:
        f.attrs["kind"] = "samples"
        f.attrs["format_version"] = 1
        f.attrs["checkpoint"] = "none (built from real images by tests/ref/eval_files.py)"
        f.attrs["checkpoint_step"] = 0
        f.attrs["config"] = ""
        for name, imgs, attrs, done, *lab in groups:
            g = f.create_group(name)
            n = len(imgs)
            g.create_dataset("images", data=imgs, chunks=(min(n, 64),) + imgs.shape[1:])
            g.create_dataset("seeds", data=np.arange(n, dtype=np.int64))
            g.create_dataset("labels", data=lab[0].astype(np.int32) if lab else np.full(n, -1, np.int32))
            g.create_dataset("done", data=np.ones(n, np.uint8) if done is None else done)
            for k, v in attrs.items():
                g.attrs[k] = v


def make_dataset(path, imgs, source, labels=None):
    import h5py
    with h5py.File(path, "w") as f:
        f.attrs["kind"] = "dataset"
        f.attrs["format_version"] = 1
        f.attrs["classes"] = 0 if labels is None else 10
        f.attrs["source"] = source
        f.create_dataset("images", data=imgs, chunks=(min(256, len(imgs)),) + imgs.shape[1:])
        if labels is not None:
            f.create_dataset("labels", data=labels.astype(np.int32))


def make(d, test_path):
    import h5py
    test = h5py.File(test_path, "r")["images"][:5000]
    tlab = h5py.File(test_path, "r")["labels"][:5000]
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=(2000, 1, 32, 32), dtype=np.uint8)
    a50 = {"sampler": "ddim", "steps": 50, "eta": 0.0, "guidance": 0.0, "class": -1, "nfe": 50,
           "settings": ""}
    a10 = dict(a50, steps=10, nfe=10)
    make_samples(f"{d}/s_test.h5", [("ddim-50-eta0", test, a50, None)])
    make_samples(f"{d}/s_test28.h5", [("ddim-50-eta0", np.ascontiguousarray(test[:, :, 2:30, 2:30]), a50, None)])
    make_samples(f"{d}/s_noise.h5", [("ddim-50-eta0", noise, a50, None)])
    make_samples(f"{d}/s_sweep.h5", [("ddim-10-eta0", noise[:1000], a10, None),
                                      ("ddim-50-eta0", test[:1000], a50, None)])
    done = np.zeros(100, np.uint8)
    done[:37] = 1
    make_samples(f"{d}/s_partial.h5", [("ddim-50-eta0", test[:100], a50, done)])
    make_samples(f"{d}/s_rgb.h5", [("ddim-50-eta0", np.repeat(test[:200], 3, axis=1), a50, None)])
    make_dataset(f"{d}/test5k.h5", test, "fashion-mnist test rows 0..4999")
    # class match: the test images "requested" as their true class (= the accuracy on them),
    # and as the next class (mostly wrong); the labeled dataset scores the same accuracy
    make_samples(f"{d}/s_testlab.h5", [("ddim-50-eta0-true", test, a50, None, tlab),
                                        ("ddim-50-eta0-next", test, a50, None, (tlab + 1) % 10)])
    make_dataset(f"{d}/test5klab.h5", test, "fashion-mnist test rows 0..4999 with labels", tlab)
    make_dataset(f"{d}/noise_ds.h5", noise, "uniform noise, numpy seed 0")


FIELDS = ["samples", "group", "sampler", "steps", "eta", "guidance", "nfe", "features", "n", "n_ref",
          "fid", "kid", "kid_std", "is", "is_std", "precision", "recall", "seconds"]


def last(path, k=1):
    with open(path) as f:
        lines = [l for l in f if l.strip()]
    return json.loads(lines[-k])


def fields(path):
    r = last(path)
    miss = [k for k in FIELDS if k not in r]
    if miss:
        sys.exit(f"missing fields: {miss}")
    nums = ["fid", "kid", "kid_std", "is", "is_std", "precision", "recall", "seconds"]
    bad = [k for k in nums if not isinstance(r[k], (int, float))]
    if bad:
        sys.exit(f"not numbers: {bad}")
    print(f"{len(FIELDS)} fields present: " + ", ".join(f"{k}={r[k]}" for k in ("n", "n_ref", "nfe")))


def npz(path, stats, samples):
    import h5py
    z = np.load(path)
    mu, sigma = z["mu"], z["sigma"]
    assert sorted(z.files) == ["mu", "sigma"], z.files
    assert mu.dtype == np.float64 and sigma.dtype == np.float64
    d = mu.shape[0]
    assert mu.shape == (d,) and sigma.shape == (d, d), (mu.shape, sigma.shape)
    with h5py.File(stats, "r") as f:
        assert f.attrs["kind"] in ("stats", b"stats")
        smu, ssig = f["mu"][:], f["sigma"][:]
    e1 = max(np.abs(mu - smu).max(), np.abs(sigma - ssig).max())
    with h5py.File(samples, "r") as f:
        g = f[list(f.keys())[0]]
        # as the C side: (float)v * (1.0f / 255.0f)
        x = g["images"][:].reshape(len(g["images"]), -1).astype(np.float32) * (np.float32(1) / np.float32(255))
    x = x.astype(np.float64)
    e2 = max(np.abs(mu - x.mean(0)).max(), np.abs(sigma - np.cov(x, rowvar=False)).max())
    print(f"npz mu [{d}] sigma [{d},{d}] float64; max |npz - stats file| = {e1:.2e}, "
          f"max |npz - numpy mean/cov| = {e2:.2e}")
    if e1 > 1e-9 or e2 > 1e-7:
        sys.exit("npz statistics differ")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2], sys.argv[3])
    elif cmd == "tiny":
        import h5py
        make_dataset(f"{sys.argv[2]}/tiny_ds.h5", h5py.File(sys.argv[3], "r")["images"][5000:5016],
                     "fashion-mnist test rows 5000..5015")
    elif cmd == "cmpnpz":
        a, b, tol = np.load(sys.argv[2]), np.load(sys.argv[3]), float(sys.argv[4])
        e = max(np.abs(a[k] - b[k]).max() / max(np.abs(a[k]).max(), 1e-300) for k in ("mu", "sigma"))
        print(f"max |a - b| / max |a| = {e:.2e}")
        if not e <= tol:
            sys.exit(1)
    elif cmd == "fields":
        fields(sys.argv[2])
    elif cmd == "get":
        v = last(sys.argv[2], int(sys.argv[4]) if len(sys.argv) > 4 else 1)[sys.argv[3]]
        print(v)
    elif cmd == "getg":  # getg RESULTS GROUP KEY: KEY of the last line of that group
        with open(sys.argv[2]) as f:
            rows = [json.loads(l) for l in f if l.strip()]
        print([r for r in rows if r["group"] == sys.argv[3]][-1][sys.argv[4]])
    elif cmd == "npz":
        npz(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(f"unknown command {cmd}")
