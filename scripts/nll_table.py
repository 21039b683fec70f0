#!/usr/bin/python3
"""The README's likelihood table from `ddm eval --metrics nll` results (scripts/nll_results.sh).

  scripts/nll_table.py RESULTS.jsonl... [--readme README.md] [--run "SETTINGS"] [--md OUT.md]

One row per file (its last line), in the order given: the steps (network evaluations an
image; T = the bound, fewer = the even-spacing estimate), the images, bits/dim with the
reverse variance beta~ and beta (mean +- standard error over the images), the terms, the
cost. With --readme, the table replaces what is between the README's lines
<!-- nll-results --> and <!-- /nll-results -->.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from readme_section import put_section  # noqa: E402


def last_line(path):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    if not rows or rows[-1].get("metric") != "nll":
        sys.exit(f"{path}: no nll result line")
    return rows[-1]


def fmt_n(v):
    return f"{v:,}"


def table(rows, run):
    r0 = rows[0]
    md = [f"Made by `scripts/nll_results.sh`" + (f" (this run: `{run}`)" if run else "") +
          f": `{os.path.basename(r0['model'])}` (step {fmt_n(r0['model_step'])}, {r0['weights']} weights) on "
          f"the first {fmt_n(r0['n'])} images of the Fashion-MNIST test split (padded to 32x32, D = "
          f"{fmt_n(r0['dims'])}), T = {fmt_n(r0['T'])}, seed {r0['seed']}, the null label, x0 not clipped. "
          f"Bits/dim: mean +- standard error over the images; terms in bits/dim.", "",
          "| steps (NFE an image) | what | n | bits/dim, sigma^2 = beta~ | bits/dim, sigma^2 = beta | L_T | "
          "KL terms (beta~) | KL terms (beta) | L_0 | NFE | seconds | images/s |",
          "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        what = "**the bound**" if not r["estimate"] else "estimate (even spacing)"
        md.append(f"| {fmt_n(r['nll_steps'])} | {what} | {fmt_n(r['n'])} | "
                  f"{r['bpd_beta_tilde']:.3f} +- {r['bpd_beta_tilde_se']:.3f} | "
                  f"{r['bpd_beta']:.3f} +- {r['bpd_beta_se']:.3f} | {r['prior_bpd']:.1e} | "
                  f"{r['kl_beta_tilde_bpd']:.3f} | {r['kl_beta_bpd']:.3f} | {r['decoder_bpd']:.3f} | "
                  f"{fmt_n(r['nfe'])} | {r['seconds']:.0f} | {r['images_per_s']:.3g} |")
    rate = sum(r["nfe"] for r in rows) / max(sum(r["seconds"] for r in rows), 1e-9)
    full = 10000 * r0["T"] / rate / 3600
    md += ["", f"The run made {rate:.0f} network evaluations/s on {r0['ranks']} ranks x {r0['threads']} "
           f"thread(s): the whole bound on all 10,000 test images ({fmt_n(10000 * r0['T'])} evaluations) would take "
           f"~{full:.0f} hours at that rate.", ""]
    return "\n".join(md)


def readme_splice(readme, text):
    put_section(readme, "nll-results", text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+")
    ap.add_argument("--readme")
    ap.add_argument("--run", default="")
    ap.add_argument("--md")
    a = ap.parse_args()
    text = table([last_line(p) for p in a.results], a.run)
    print(text)
    if a.md:
        open(a.md, "w").write(text)
    if a.readme:
        readme_splice(a.readme, text)
        print(f"nll_table: {a.readme}: the section between its nll-results lines rewritten")


if __name__ == "__main__":
    main()
