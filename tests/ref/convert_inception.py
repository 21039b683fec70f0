"""Write ddm's Inception weights file (io/inception_io.h) for
`ddm eval --features inception:OUT.h5`.

    /usr/bin/python3 tests/ref/convert_inception.py pt_inception-2015-12-05-6726825d.pth OUT.h5
        pytorch-fid's published FID Inception weights (download it yourself from
        https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/
        pt_inception-2015-12-05-6726825d.pth); checked against the PyTorch definition
        (tests/ref/inception_ref.py, strict key and shape match) and its sha256 prefix
    /usr/bin/python3 tests/ref/convert_inception.py --random SEED OUT.h5
        random weights and BatchNorm statistics for the tests (see random_state_dict)

The file: one float32 dataset per state_dict tensor under /inception/<key> (fc.* too;
num_batches_tracked left out), attributes kind=inception_weights, format_version=1,
source. Written to OUT.h5.tmp and renamed.
"""
import argparse
import hashlib
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from inception_ref import FIDInception  # noqa: E402

KIND = "inception_weights"
FORMAT_VERSION = 1
PTH_SHA256_PREFIX = "6726825d"  # torch.hub's convention: the file name carries it


def random_state_dict(seed, calib=None):
    """A FIDInception with random weights whose activations stay O(1) at every layer for
    inputs like `calib`, so that a comparison of features means something:
      conv weights ~ N(0, 2/fan_in); BN gamma ~ 1 + 0.2 N, beta ~ 0.2 N;
      running stats = the batch statistics of a forward of calib ((N,3,299,299) in
      [-1,1]; default: 2 random smooth images) with train-mode BatchNorm (momentum 1),
      var floored at 0.1 of the layer's median, then perturbed (mean + 0.1 std N,
      var * exp(0.2 N)) so that folding them is exercised away from the batch values;
      fc ~ N(0, 0.01)."""
    g = torch.Generator().manual_seed(seed)
    net = FIDInception()
    with torch.no_grad():
        for name, m in net.named_modules():
            if isinstance(m, torch.nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
                m.momentum = 1.0
            elif isinstance(m, torch.nn.Linear):
                m.weight.copy_(0.01 * torch.randn(m.weight.shape, generator=g))
                m.bias.zero_()
        if calib is None:  # smooth random images in [-1,1], like resized small pictures
            x = torch.rand((2, 3, 24, 24), generator=g) * 2 - 1
            x = torch.nn.functional.interpolate(x, size=(299, 299), mode="bilinear",
                                                align_corners=False)
        else:
            x = torch.as_tensor(calib, dtype=torch.float32)
        net.train()
        net.pool3(x)
        net.eval()
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = 0.1
                # a channel nearly constant over the few calibration images would get a
                # huge gain and amplify rounding (as in any float32 run): floor its var
                floor = 0.1 * m.running_var.median().clamp_min(1e-6)
                m.running_var.clamp_(min=float(floor))
                std = m.running_var.sqrt()
                m.running_mean.add_(0.1 * std * torch.randn(std.shape, generator=g))
                m.running_var.mul_(torch.exp(0.2 * torch.randn(std.shape, generator=g)))
    return net.state_dict()


def check_state_dict(sd, what):
    """strict load into the definition: the same keys and shapes as pytorch-fid's"""
    net = FIDInception()
    sd = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    try:
        net.load_state_dict(sd, strict=False)
    except RuntimeError as e:
        sys.exit(f"{what}: shapes differ from pytorch-fid's FID Inception: {e}")
    missing = [k for k in net.state_dict() if k not in sd and not k.endswith("num_batches_tracked")]
    extra = [k for k in sd if k not in net.state_dict()]
    if missing or extra:
        sys.exit(f"{what}: not pytorch-fid's FID Inception state_dict: missing {missing[:5]}"
                 f"{'...' if len(missing) > 5 else ''}, unexpected {extra[:5]}"
                 f"{'...' if len(extra) > 5 else ''}")
    return sd


def write_h5(sd, out, source):
    tmp = out + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.attrs["kind"] = KIND
        f.attrs["format_version"] = np.int64(FORMAT_VERSION)
        f.attrs["source"] = source
        grp = f.create_group("inception")
        for k, v in sd.items():
            if k.endswith("num_batches_tracked"):
                continue
            a = v.detach().cpu().numpy().astype(np.float32)
            if not np.all(np.isfinite(a)):
                raise SystemExit(f"{k}: not finite")
            grp.create_dataset(k, data=a)
    os.replace(tmp, out)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pth", nargs="?", help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth")
    ap.add_argument("out", help="the ddm weights file to write (.h5)")
    ap.add_argument("--random", type=int, metavar="SEED", help="random weights instead")
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    if a.random is not None:
        if a.pth:
            ap.error("give either a .pth file or --random SEED, not both")
        sd = random_state_dict(a.random)
        source = f"random (tests/ref/convert_inception.py --random {a.random})"
    else:
        if not a.pth:
            ap.error("a .pth file (or --random SEED) is needed")
        if not os.path.isfile(a.pth):
            sys.exit(f"{a.pth}: no such file")
        digest = sha256(a.pth)
        if not digest.startswith(PTH_SHA256_PREFIX):
            print(f"warning: {a.pth}: sha256 {digest[:16]}... does not start with "
                  f"{PTH_SHA256_PREFIX} (not pytorch-fid's published file?)", file=sys.stderr)
        sd = torch.load(a.pth, map_location="cpu")
        if not isinstance(sd, dict):
            sys.exit(f"{a.pth}: not a state_dict")
        source = (f"pytorch-fid FID Inception weights {os.path.basename(a.pth)} "
                  f"(sha256 {digest})")
    sd = check_state_dict(sd, a.pth or "random")
    write_h5(sd, a.out, source)
    n = sum(v.numel() for v in sd.values())
    print(f"{a.out}: {len(sd)} tensors, {n} floats; source: {source}")


if __name__ == "__main__":
    main()
