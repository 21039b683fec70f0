#!/usr/bin/env python3
"""The Markdown table of a ddm eval results file (one JSON line per scored group):
scripts/results_table.py RESULTS.jsonl OUT.md. Standard library only."""
import json
import os
import sys


def fmt(v, f):
    return "-" if v is None else f % v


def what(r):
    if r["sampler"] == "data":
        name = os.path.basename(r["samples"])
        return "noise (the ceiling)" if "noise" in name else f"{name} (the floor)"
    w = f", guidance {r['guidance']:g}" if r["guidance"] else ""
    return f"{r['sampler'].upper()} {r['steps']} steps{w}"


def main(src, dst):
    rows = [json.loads(l) for l in open(src) if l.strip()]
    if not rows:
        sys.exit(f"{src}: no results")
    out = [f"Against `{os.path.basename(rows[0]['ref'])}` ({rows[0]['n_ref']} images); "
           f"features `{rows[0]['features'].split(' ')[0]}`.", "",
           "| images | n | NFE | FID | KID | IS | precision | recall | class match |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {what(r)} | {r['n']} | {r['nfe'] or '-'} | {fmt(r['fid'], '%.3f')} | {fmt(r['kid'], '%.5f')} | "
                   f"{fmt(r['is'], '%.2f')} | {fmt(r['precision'], '%.3f')} | {fmt(r['recall'], '%.3f')} | "
                   f"{fmt(r['class_match'], '%.3f')} |")
    with open(dst + ".tmp", "w") as f:
        f.write("\n".join(out) + "\n")
    os.replace(dst + ".tmp", dst)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: results_table.py RESULTS.jsonl OUT.md")
    main(sys.argv[1], sys.argv[2])
