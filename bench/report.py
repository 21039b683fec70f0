#!/usr/bin/python3
"""Summarise bench/run.sh's raw JSON lines into one table and bench/results.json.
    report.py --raw RAW.jsonl --out bench/results.json
    report.py --farm-line SAMPLE.log --ranks P     (turn ddm sample's summary into a JSON line)
"""
import argparse
import json
import re
import statistics
import sys

TARGETS = {"train_ratio": (">=", 1.3), "sample_ratio": (">=", 2.0), "conv_sgemm_fraction": (">=", 0.7),
           "mem_ratio": ("<=", 1.0), "allreduce_fraction": ("<=", 0.05)}
GEMM_KINDS = ("conv3x3", "conv1x1", "linear")


def farm_line(path, ranks):
    text = open(path).read()
    def grab(pat):
        m = re.search(pat, text)
        return float(m.group(1)) if m else None
    print(json.dumps({"side": "ddm", "mode": "farm", "ranks": ranks,
                      "images_per_s": grab(r"done: .*?([0-9.]+) img/s"),
                      "nfe_per_s": grab(r"done: .*?([0-9.]+) NFE/s"),
                      "busy_fraction": grab(r"busy fraction min [0-9.]+ mean ([0-9.]+)")}))


def med(rows, key):
    v = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(v) if v else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw")
    ap.add_argument("--out")
    ap.add_argument("--farm-line")
    ap.add_argument("--ranks", type=int)
    a = ap.parse_args()
    if a.farm_line:
        farm_line(a.farm_line, a.ranks)
        return
    rows = [json.loads(l) for l in open(a.raw) if l.strip()]
    sel = lambda side, mode: [r for r in rows if r["side"] == side and r["mode"] == mode]
    dt, tt = sel("ddm", "train"), sel("torch", "train")
    ds, ts = sel("ddm", "sample"), sel("torch", "sample")
    sg = sel("ddm", "sgemm")
    res = {}
    res["ddm_train_images_per_s"] = med(dt, "images_per_s")
    res["torch_train_images_per_s"] = med(tt, "images_per_s")
    res["ddm_sample_evals_per_s"] = med(ds, "images_per_s")
    res["torch_sample_evals_per_s"] = med(ts, "images_per_s")
    res["train_ratio"] = res["ddm_train_images_per_s"] / res["torch_train_images_per_s"]
    res["sample_ratio"] = res["ddm_sample_evals_per_s"] / res["torch_sample_evals_per_s"]
    res["sgemm_gflops"] = med(sg, "gflops")
    # GEMM-lowered layers of the training step: FLOPs / time, median over rounds
    rates, layer_tab = [], {}
    for r in dt:
        fl = sum(l["gflops"] * (l["fwd_ms"] + l["bwd_ms"]) for l in r["layers"] if l["kind"] in GEMM_KINDS)
        ms = sum(l["fwd_ms"] + l["bwd_ms"] for l in r["layers"] if l["kind"] in GEMM_KINDS)
        rates.append(fl / ms if ms else 0)
        for l in r["layers"]:
            layer_tab.setdefault(l["kind"], []).append(l)
    res["conv_gflops"] = statistics.median(rates) if rates else None
    res["conv_sgemm_fraction"] = res["conv_gflops"] / res["sgemm_gflops"] if res["sgemm_gflops"] else None
    res["ddm_train_peak_mb"] = med(dt, "peak_rss_mb")
    res["torch_train_peak_mb"] = med(tt, "peak_rss_mb")
    res["ddm_sample_peak_mb"] = med(ds, "peak_rss_mb")
    res["torch_sample_peak_mb"] = med(ts, "peak_rss_mb")
    res["mem_ratio"] = res["ddm_train_peak_mb"] / res["torch_train_peak_mb"]
    res["mem_ratio_sample"] = res["ddm_sample_peak_mb"] / res["torch_sample_peak_mb"]
    mt = sel("ddm", "mpi_train")
    res["allreduce_fraction"] = med(mt, "allreduce_fraction")
    res["mpi2_train_images_per_s"] = med(mt, "images_per_s")
    for r in sel("ddm", "farm"):
        res[f"farm_{r['ranks']}rank_images_per_s"] = r["images_per_s"]
        res[f"farm_{r['ranks']}rank_busy_fraction"] = r["busy_fraction"]
    res["threads"] = dt[0]["threads"] if dt else None
    res["torch_version"] = tt[0].get("torch") if tt else None
    res["layers_ms"] = {k: {"fwd_ms": statistics.median(x["fwd_ms"] for x in v),
                            "bwd_ms": statistics.median(x["bwd_ms"] for x in v),
                            "gflops": statistics.median(x["gflops"] for x in v)} for k, v in layer_tab.items()}
    res["raw"] = rows

    def fmt(v, p=2):
        return "-" if v is None else (f"{v:.{p}f}" if isinstance(v, float) else str(v))
    print()
    print(f"{'figure':34} {'ddm':>10} {'PyTorch':>10} {'ratio':>8}  target")
    print(f"{'train step, batch 64 (images/s)':34} {fmt(res['ddm_train_images_per_s'],1):>10} {fmt(res['torch_train_images_per_s'],1):>10} {fmt(res['train_ratio']):>8}  >= 1.3")
    print(f"{'sampling eval, batch 256 (img/s)':34} {fmt(res['ddm_sample_evals_per_s'],1):>10} {fmt(res['torch_sample_evals_per_s'],1):>10} {fmt(res['sample_ratio']):>8}  >= 2")
    print(f"{'peak RSS, train (MB)':34} {fmt(res['ddm_train_peak_mb'],0):>10} {fmt(res['torch_train_peak_mb'],0):>10} {fmt(res['mem_ratio']):>8}  <= 1")
    print(f"{'peak RSS, sample (MB)':34} {fmt(res['ddm_sample_peak_mb'],0):>10} {fmt(res['torch_sample_peak_mb'],0):>10} {fmt(res['mem_ratio_sample']):>8}")
    print(f"{'conv+linear GFLOP/s vs sgemm':34} {fmt(res['conv_gflops'],1):>10} {fmt(res['sgemm_gflops'],1):>10} {fmt(res['conv_sgemm_fraction']):>8}  >= 0.7")
    print(f"{'allreduce share, 2 ranks x 1 thr':34} {fmt(res['allreduce_fraction'],3):>10} {'':>10} {'':>8}  <= 0.05")
    for p in (1, 2):
        print(f"{f'farm, {p} rank(s): img/s, busy':34} {fmt(res.get(f'farm_{p}rank_images_per_s'),1):>10} {fmt(res.get(f'farm_{p}rank_busy_fraction')):>10}")
    print("\nper layer kind (ddm training step, median ms):")
    for k, v in res["layers_ms"].items():
        print(f"  {k:10} fwd {v['fwd_ms']:8.1f}  bwd {v['bwd_ms']:8.1f}  {v['gflops']:6.1f} GFLOP/s")
    missed = [k for k, (op, t) in TARGETS.items() if res.get(k) is not None and not (res[k] >= t if op == ">=" else res[k] <= t)]
    res["targets_missed"] = missed
    print("\ntargets missed: " + (", ".join(missed) if missed else "none"))
    json.dump(res, open(a.out, "w"), indent=1)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    sys.exit(main())
