#!/usr/bin/env python3
"""The classifier-guidance table and picture of scripts/guidance_results.sh.

  scripts/guidance_table.py ROWS.h5 RESULTS.jsonl --steps N [--md OUT.md] [--png OUT.png]
                            [--readme README.md]

ROWS.h5 holds the groups uncond, uncond-s1, uncond-s10, cond, cond-s1, cond-s10 (ddm sample
--sweep); RESULTS.jsonl the ddm eval lines of that file. Writes the table (markdown), a
picture (one row per table row: the first 10 seeds, classes 0..9) and puts the table into
the README between <!-- guidance-results --> and <!-- /guidance-results -->. The lines
under the table that say whether the seed's pattern holds are computed from the numbers.
Needs numpy, h5py and PIL (scripts/deps.sh installs them)."""
import argparse
import json
import os
import sys

import h5py
import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from readme_section import put_section  # noqa: E402

ROWS = [("uncond", "no", "none"), ("uncond-s1", "no", "1"), ("uncond-s10", "no", "10"),
        ("cond", "yes", "none"), ("cond-s1", "yes", "1"), ("cond-s10", "yes", "10")]


def load(results, rows_file):
    best = {}
    with open(results) as f:
        for line in f:
            r = json.loads(line)
            if os.path.abspath(r["samples"]) == os.path.abspath(rows_file):
                best[r["group"]] = r
    missing = [g for g, _, _ in ROWS if g not in best]
    if missing:
        raise SystemExit(f"{results}: no scores for {', '.join(missing)} of {rows_file}")
    return best


def table(res, n, steps, rows_file):
    out = ["| network gets the class | classifier guidance | FID | KID x 1e3 | IS | precision | recall | class match |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]
    for g, cond, s in ROWS:
        r = res[g]
        out.append(f"| {cond} | {s} | {r['fid']:.2f} | {1e3 * r['kid']:.2f} | {r['is']:.2f} | "
                   f"{r['precision']:.3f} | {r['recall']:.3f} | {r['class_match']:.3f} |")
    with h5py.File(rows_file, "r") as f:
        attrs = f["cond-s1"].attrs
        sett = attrs["settings"]
        sett = sett.decode() if isinstance(sett, bytes) else sett
    clf = [w for w in sett.split() if w.startswith("classifier=")]
    out.append("")
    out.append(f"{n} samples a row, seeds 0..{n - 1} in every row, DDIM {steps} steps (eta 0), "
               f"class = seed % 10; scored against the 60,000 train images with the "
               f"evaluation classifier's features. Guide: "
               f"`{os.path.basename(clf[0].split('=', 1)[1].split('@')[0]) if clf else '?'}`.")
    return out, res


def pattern(res):
    """The seed's claims, checked on these numbers: each from no guidance to scale 10, and
    whether scale 1 lies between (the seed's own unconditional row at scale 1 does not)."""
    def yes(b):
        return "holds" if b else "does not hold"

    def trend(key, r0, r1, r10, up, fmt):
        v0, v1, v10 = r0[key], r1[key], r10[key]
        ok = v10 > v0 if up else v10 < v0
        mono = (v0 <= v1 <= v10) if up else (v0 >= v1 >= v10)
        word = "rises" if up else "falls"
        s = f"{key.replace('_', ' ')} {word} ({fmt % v0} -> {fmt % v1} -> {fmt % v10}): {yes(ok)}"
        if ok and not mono:
            s += f" from none to 10, not at scale 1 ({fmt % v1})"
        return s
    lines = []
    for side, a, b1, b10 in (("without the class", "uncond", "uncond-s1", "uncond-s10"),
                             ("with the class", "cond", "cond-s1", "cond-s10")):
        r0, r1, r10 = res[a], res[b1], res[b10]
        parts = [trend("is", r0, r1, r10, True, "%.2f"), trend("precision", r0, r1, r10, True, "%.3f"),
                 trend("recall", r0, r1, r10, False, "%.3f"),
                 trend("class_match", r0, r1, r10, True, "%.3f")]
        lines.append(f"- {side}: " + "; ".join(parts).replace("is rises", "IS rises") + ".")
    fids = {g: res[g]["fid"] for g, _, _ in ROWS}
    best = min(fids, key=fids.get)
    lines.append(f"- the best FID is the row `{best}` ({fids[best]:.2f}); the seed's best is conditional "
                 f"with scale 1: {yes(best == 'cond-s1')}.")
    return lines


def picture(rows_file, png):
    S = 2
    tiles = []
    with h5py.File(rows_file, "r") as f:
        for g, _, _ in ROWS:
            grp = f[g]
            seeds = grp["seeds"][()]
            order = np.argsort(seeds)[:10]
            tiles.append(grp["images"][()][order, 0])
    h, w = tiles[0].shape[1:]
    label_w = 110
    img = Image.new("L", (label_w + 10 * (w * S + 2), len(ROWS) * (h * S + 2)), 255)
    d = ImageDraw.Draw(img)
    for i, (g, cond, s) in enumerate(ROWS):
        y = i * (h * S + 2)
        d.text((4, y + h * S // 2 - 6), f"class {cond:>3}, s {s}", fill=0)
        for k in range(10):
            t = Image.fromarray(tiles[i][k]).resize((w * S, h * S), Image.NEAREST)
            img.paste(t, (label_w + k * (w * S + 2), y))
    os.makedirs(os.path.dirname(os.path.abspath(png)), exist_ok=True)
    img.save(png)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rows")
    ap.add_argument("results")
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--md")
    ap.add_argument("--png")
    ap.add_argument("--readme")
    a = ap.parse_args()
    res = load(a.results, a.rows)
    n = res["cond"]["n"]
    lines, _ = table(res, n, a.steps, a.rows)
    lines += ["", "The seed's pattern (Table 4: guidance raises IS and precision and lowers recall; "
              "conditional with scale 1 has the best FID), on these numbers:", ""]
    lines += pattern(res)
    if a.png:
        picture(a.rows, a.png)
        rel = os.path.relpath(a.png, os.path.dirname(os.path.abspath(a.readme)) if a.readme else ".")
        lines += ["", f"![classifier guidance: one row per table row, classes 0..9]({rel})"]
    text = "\n".join(lines) + "\n"
    if a.md:
        with open(a.md, "w") as f:
            f.write(text)
    print(text)
    if a.readme:
        put_section(a.readme, "guidance-results", text)


if __name__ == "__main__":
    main()
