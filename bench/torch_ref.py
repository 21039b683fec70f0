#!/usr/bin/python3
"""PyTorch side of `make bench`: the same U-Net (tests/ref/unet_ref.py), same batch and
thread count as bench/bench_unet.c, one JSON line.
    torch_ref.py train  --batch 64  --reps R --threads T   fwd + bwd + AdamW
    torch_ref.py sample --batch 256 --reps R --threads T   forward under no_grad
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
from unet_ref import UNet  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["train", "sample"])
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    batch = a.batch or (64 if a.mode == "train" else 256)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = UNet()
    x = torch.rand(batch, 1, 32, 32) * 2 - 1
    t = torch.tensor([float((i * 37) % 1000) for i in range(batch)])
    opt = torch.optim.AdamW(net.parameters(), lr=2e-4, weight_decay=0.0)
    times = []
    for r in range(-1, a.reps):
        t0 = time.perf_counter()
        if a.mode == "train":
            out = net(x, t)
            loss = torch.mean((out - x) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        else:
            with torch.no_grad():
                net(x, t)
        if r >= 0:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"side": "torch", "mode": a.mode, "batch": batch, "threads": a.threads,
                      "torch": torch.__version__, "median_s": med, "images_per_s": batch / med,
                      "peak_rss_mb": peak}))


if __name__ == "__main__":
    main()
