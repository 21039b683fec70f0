#!/usr/bin/env python3
"""The plug-and-play priors table and picture of scripts/pnp_results.sh.

  scripts/pnp_table.py --class-file CLASS.h5 --inpaint-file INPAINT.h5 --inputs TEST.h5
                       --results RESULTS.jsonl [--md OUT.md] [--png OUT.png] [--readme README.md]

CLASS.h5: pnp samples with a class constraint (one group); INPAINT.h5: pnp with the
repaint task (known pixels), made from TEST.h5 under the centre mask (the 16x16 centre of
32x32 to fill). Writes the table (markdown) and a picture, and puts them into the README
between <!-- pnp-results --> and <!-- /pnp-results -->. Needs numpy, h5py and PIL."""
import argparse
import json
import os
import sys

import h5py
import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from readme_section import put_section  # noqa: E402


def group(path):
    with h5py.File(path, "r") as f:
        name = list(f)[0]
        g = f[name]
        s = g.attrs["settings"]
        s = s.decode() if isinstance(s, bytes) else s
        out = {k: g[k][()] for k in ("images", "seeds", "labels", "done")}
        if "inputs" in g:
            out["inputs"] = g["inputs"][()]
        out["settings"], out["name"] = s, name
        out["nfe"] = int(g.attrs["nfe"])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--class-file", required=True)
    ap.add_argument("--inpaint-file", required=True)
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--md")
    ap.add_argument("--png")
    ap.add_argument("--readme")
    a = ap.parse_args()
    c = group(a.class_file)
    p = group(a.inpaint_file)
    res = None
    with open(a.results) as f:
        for line in f:
            r = json.loads(line)
            if os.path.abspath(r["samples"]) == os.path.abspath(a.class_file):
                res = r
    if res is None:
        raise SystemExit(f"{a.results}: no scores of {a.class_file}")
    with h5py.File(a.inputs, "r") as f:
        x = f["images"][()]
    known = np.ones((32, 32), bool)
    known[8:24, 8:24] = False
    y = p["images"]
    orig = x[p["inputs"]]
    kept = int((y[:, :, known] == orig[:, :, known]).all(axis=(1, 2)).sum())
    hole = np.sqrt(((y[:, :, ~known].astype(float) - orig[:, :, ~known]) / 255.0) ** 2).mean()
    words = " ".join(w for w in c["settings"].split() if w.split("=")[0] in
                     ("lr", "t_start", "t_end", "prior_weight", "classifier_scale"))
    lines = [
        "| constraint | images | class match | FID | IS | known pixels kept | mean abs. error in the hole |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| log p(class \\| x), the clean evaluation classifier | {len(c['images'])} | "
        f"{res['class_match']:.3f} | {res['fid']:.2f} | {res['is']:.2f} | - | - |",
        f"| known pixels (centre 16x16 to fill) | {len(y)} | - | - | - | {kept} of {len(y)} | "
        f"{hole:.3f} |",
        "",
        f"{c['name']}: pnp, {words}; {c['nfe']} network evaluations (each with its backward pass) "
        f"per image. Class match, FID and IS by the same classifier the constraint used, "
        f"against the 60,000 train images; the hole's error in [0, 1] units against the test "
        f"image the known pixels came from.",
    ]
    if a.png:
        S = 2
        order = np.argsort(c["seeds"])[:20]
        row1 = np.concatenate(list(c["images"][order[:10], 0]), 1)
        row2 = np.concatenate(list(c["images"][order[10:20], 0]), 1) if len(order) >= 20 else row1 * 0
        inp = []
        n_in = min(8, len(x))
        for i in range(n_in):
            sel = np.where(p["inputs"] == i)[0]
            masked = x[i, 0].copy()
            masked[~known] = 128
            tiles = [x[i, 0], masked] + [y[j, 0] for j in sel[:2]]
            inp.append(np.concatenate(tiles, 0))
        inp = np.concatenate(inp, 1)
        gap = np.full((8, row1.shape[1]), 255, np.uint8)
        w = max(row1.shape[1], inp.shape[1])
        pad = lambda m: np.pad(m, ((0, 0), (0, w - m.shape[1])), constant_values=255)  # noqa: E731
        pic = np.concatenate([pad(row1), pad(row2), pad(gap), pad(inp)], 0)
        Image.fromarray(pic).resize((pic.shape[1] * S, pic.shape[0] * S), Image.NEAREST).save(a.png)
        rel = os.path.relpath(a.png, os.path.dirname(os.path.abspath(a.readme)) if a.readme else ".")
        lines += ["", f"![pnp: classes 0..9 (two rows, the class constraint); then per test image: the "
                  f"original, the known pixels, two inpaintings]({rel})"]
    text = "\n".join(lines) + "\n"
    if a.md:
        with open(a.md, "w") as f:
            f.write(text)
    print(text)
    if a.readme:
        put_section(a.readme, "pnp-results", text)


if __name__ == "__main__":
    main()
