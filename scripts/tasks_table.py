#!/usr/bin/env python3
"""The tables and pictures of scripts/tasks_results.sh (the sample tasks' figures).

  scripts/tasks_table.py OUT [--readme README.md] [--docs DIR]
      reads OUT/results.jsonl (ddm eval lines) and the samples files of OUT, computes the
      paired figures (distances to guides, known pixels, low-pass errors, PSNR, ...),
      writes OUT/tasks.md, the pictures DIR/tasks-*.png, and puts tasks.md into the README
      between the lines <!-- tasks-results --> and <!-- /tasks-results -->.
  scripts/tasks_table.py --guides TEST.h5 GUIDES.h5
      writes SDEdit's coarse guides: 4x4 block means of each image at 4 gray levels
      (0, 85, 170, 255), a ddm dataset file with the same labels.

Pixel distances are in [0, 1] units (bytes / 255) unless a column says otherwise.
Needs numpy, h5py and PIL (scripts/deps.sh installs them)."""
import argparse
import json
import os
import sys

import h5py
import numpy as np
from PIL import Image, ImageDraw

SCALE = 2  # picture pixels per image pixel


# ------------------------------------------------------------------ files

def write_dataset(path, images, labels, like):
    """A ddm dataset file (io/dataset.h) with the attributes of the file `like`."""
    tmp = path + ".tmp"
    with h5py.File(like, "r") as src, h5py.File(tmp, "w") as f:
        for k, v in src.attrs.items():
            f.attrs[k] = v
        f.attrs["source"] = "coarse guides (4x4 block means, 4 gray levels) of " + os.path.abspath(like)
        f.create_dataset("images", data=images.astype(np.uint8))
        if labels is not None:
            f.create_dataset("labels", data=labels.astype(np.int32))
    os.replace(tmp, path)


def make_guides(src, dst):
    with h5py.File(src, "r") as f:
        x = f["images"][()].astype(np.float64)
        lab = f["labels"][()] if "labels" in f else None
    g = block_mean(x, 4)
    g = np.clip(np.rint(g / 85.0) * 85.0, 0, 255)
    write_dataset(dst, g, lab, src)
    print(f"guides: {dst}: {len(g)} images")


def dataset(path):
    with h5py.File(path, "r") as f:
        return f["images"][()], (f["labels"][()] if "labels" in f else None)


def group(path, name):
    """images (n,C,H,W) uint8, inputs (n), seeds (n) of a finished samples group"""
    with h5py.File(path, "r") as f:
        g = f[name]
        done = g["done"][()]
        if not done.all():
            sys.exit(f"{path}: group {name}: {int((done == 0).sum())} images not made; re-run the script")
        return (g["images"][()], g["inputs"][()] if "inputs" in g else None, g["seeds"][()],
                g["labels"][()])


def nfe(path, name):
    """the group's network evaluations per image (ddm sample's header: the task's own steps)"""
    with h5py.File(path, "r") as f:
        return int(f[name].attrs["nfe"])


def groups(path):
    with h5py.File(path, "r") as f:
        return [k for k in f if isinstance(f[k], h5py.Group)]


# ------------------------------------------------------------------ figures

def block_mean(x, n):
    """mean over n x n blocks, repeated back to full size (ILVR's phi_N)"""
    N, C, H, W = x.shape
    m = x.reshape(N, C, H // n, n, W // n, n).mean(axis=(3, 5))
    return np.repeat(np.repeat(m, n, axis=2), n, axis=3)


def down(x, n):
    N, C, H, W = x.shape
    return x.reshape(N, C, H // n, n, W // n, n).mean(axis=(3, 5))


def rms(a, b):
    """per image RMS distance in [0,1] units"""
    d = (a.astype(np.float64) - b.astype(np.float64)) / 255.0
    return np.sqrt((d ** 2).reshape(len(d), -1).mean(axis=1))


def psnr(a, b):
    mse = (((a.astype(np.float64) - b.astype(np.float64)) ** 2).reshape(len(a), -1)).mean(axis=1)
    return 10 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-12))


def f3(v):
    return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.3f}"


def f4(v):
    return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.4f}"


# ------------------------------------------------------------------ pictures

def picture(cols, heads, path, rows=8):
    """cols: list of (n,C,H,W) uint8 arrays (one column each, row i = image i); heads:
    column titles. Gray images side by side, 2x, titles on top."""
    C, H, W = cols[0].shape[1:]
    rows = min(rows, min(len(c) for c in cols))
    gap, top = 4, 14
    tw, th = W * SCALE, H * SCALE
    img = Image.new("L", (len(cols) * (tw + gap) + gap, top + rows * (th + gap) + gap), 255)
    d = ImageDraw.Draw(img)
    for j, (c, h) in enumerate(zip(cols, heads)):
        x0 = gap + j * (tw + gap)
        d.text((x0, 1), h, fill=0)
        for i in range(rows):
            a = c[i, 0] if C == 1 else c[i].mean(axis=0).astype(np.uint8)
            t = Image.fromarray(a, "L").resize((tw, th), Image.NEAREST)
            img.paste(t, (x0, top + gap + i * (th + gap)))
    img.save(path, optimize=True)
    return path


def masked(x, m):
    """the input as the model sees it: unknown pixels gray"""
    y = x.copy()
    y[:, m[0] == 0] = 128
    return y


# ------------------------------------------------------------------ the sections

class Results:
    def __init__(self, out):
        self.out = out
        self.ev = {}
        p = os.path.join(out, "results.jsonl")
        if os.path.exists(p):
            for line in open(p):
                if line.strip():
                    r = json.loads(line)
                    self.ev[(os.path.basename(r["samples"]), r["group"])] = r

    def get(self, file, grp):
        return self.ev.get((file, grp), {})

    def path(self, f):
        return os.path.join(self.out, f)

    def exists(self, f):
        return os.path.exists(self.path(f))


def metric(r, k):
    v = r.get(k)
    return None if v is None else float(v)


def sec_sdedit(R, docs, md):
    if not R.exists("sdedit.h5") or not R.exists("guides.h5"):
        return
    guides, lab = dataset(R.path("guides.h5"))
    n = len(guides)
    orig, _ = dataset(R.path(f"test-{n}.h5"))
    e0 = R.get(f"test-{n}.h5", "data")
    eg = R.get("guides.h5", "data")
    md += ["### SDEdit: faithfulness against realism", "",
           f"{n} Fashion-MNIST test images made coarse (4x4 block means at 4 gray levels: the "
           "guides), noised to t0 and denoised by DDIM 50 under the null label (one seed each). "
           "L2 = RMS distance to the guide (pixels in [0,1]); FID against the 60,000 train images; "
           "class match = the share the evaluation classifier puts in the guide's own class "
           "(`ddm eval`'s input match).", "",
           "| images | NFE | L2 to the guide | FID | IS | class match |", "|---|---:|---:|---:|---:|---:|",
           f"| the originals (test) | - | {f4(rms(orig, guides).mean())} | {f3(metric(e0, 'fid'))} | "
           f"{f3(metric(e0, 'is'))} | {f3(metric(e0, 'class_match'))} |",
           f"| the guides (t0 = 0) | - | 0 | {f3(metric(eg, 'fid'))} | {f3(metric(eg, 'is'))} | "
           f"{f3(metric(eg, 'class_match'))} |"]
    cols, heads = [orig, guides], ["test", "guide"]
    l2s, fids = [], []
    for t in ("0.2", "0.4", "0.6", "0.8"):
        g = f"t0-{t}"
        if g not in groups(R.path("sdedit.h5")):
            continue
        x, inp, _, _ = group(R.path("sdedit.h5"), g)
        e = R.get("sdedit.h5", g)
        md.append(f"| SDEdit t0 = {t} | {nfe(R.path('sdedit.h5'), g)} | {f4(rms(x, guides[inp]).mean())} | "
                  f"{f3(metric(e, 'fid'))} | {f3(metric(e, 'is'))} | {f3(metric(e, 'input_match'))} |")
        cols.append(x)
        heads.append(f"t0 {t}")
        l2s.append(rms(x, guides[inp]).mean())
        fids.append(metric(e, "fid"))
    if len(l2s) > 1 and None not in fids:
        up = all(b > a for a, b in zip(l2s, l2s[1:]))
        down = all(b < a for a, b in zip(fids, fids[1:]))
        md += ["", f"Reading: as t0 grows the outputs move away from the guide (L2 "
               f"{'rises at every step' if up else 'does not rise at every step'}: "
               f"{l2s[0]:.3f} -> {l2s[-1]:.3f}) and become more realistic (FID "
               f"{'falls at every step' if down else 'does not fall at every step'}: "
               f"{fids[0]:.2f} -> {fids[-1]:.2f}): SDEdit's trade-off between faithfulness and "
               f"realism{' holds' if up and down else ' holds only in part'}."]
    picture(cols, heads, os.path.join(docs, "tasks-sdedit.png"))
    md += ["", "![SDEdit: test image, guide, outputs at t0 = 0.2 .. 0.8](docs/tasks-sdedit.png)", ""]


def sec_repaint(R, docs, md):
    files = [m for m in ("centre", "half") if R.exists(f"repaint-{m}.h5")]
    if not files:
        return
    md += ["### RePaint: inpainting with resampling", "",
           "Test images with the centre 16x16 square or the right half unknown, DDPM 50 steps "
           "under the null label, with resampling (r = 10 passes over each stretch of j = 10 "
           "levels, the paper's setting) and without (r = 1). Known pixels: the count of "
           "known pixels differing from the input (bytes). Accuracy: the evaluation "
           "classifier on the completed images against the originals' labels.", "",
           "| mask | resampling | NFE | known pixels changed | FID | IS | accuracy |",
           "|---|---|---:|---:|---:|---:|---:|"]
    cols, heads = [], []
    read, calls, all_kept = [], {}, True
    for m in files:
        mask, _ = dataset(R.path(f"mask-{m}.h5"))
        pair = {}
        for g, what in (("r1", "none (r = 1)"), ("r10-j10", "r = 10, j = 10")):
            x, inp, _, _ = group(R.path(f"repaint-{m}.h5"), g)
            orig, _ = dataset(R.path(f"test-{len(np.unique(inp))}.h5"))
            known = np.broadcast_to(mask[0] == 255, x.shape[1:])
            changed = int((x[:, known] != orig[inp][:, known]).sum())
            e = R.get(f"repaint-{m}.h5", g)
            pair[g] = (metric(e, "fid"), metric(e, "input_match"), changed)
            calls[g] = nfe(R.path(f"repaint-{m}.h5"), g)
            all_kept &= changed == 0
            md.append(f"| {m} | {what} | {nfe(R.path(f'repaint-{m}.h5'), g)} | {changed} of {known.sum() * len(x)} | "
                      f"{f3(metric(e, 'fid'))} | {f3(metric(e, 'is'))} | {f3(metric(e, 'input_match'))} |")
            if g == "r1":
                cols += [masked(orig[inp], mask)]
                heads += [f"{m}"]
            cols.append(x)
            heads.append("r=1" if g == "r1" else "r=10")
        if len(pair) == 2:
            (f1, a1, c1), (f10, a10, c10) = pair["r1"], pair["r10-j10"]
            read.append(f"{m}: FID {f1:.2f} -> {f10:.2f}, accuracy {a1:.3f} -> {a10:.3f}")
    n = len(np.unique(inp))
    e0 = R.get(f"test-{n}.h5", "data")
    md += [f"| (the originals) | | - | - | {f3(metric(e0, 'fid'))} | {f3(metric(e0, 'is'))} | "
           f"{f3(metric(e0, 'class_match'))} |", ""]
    if read:
        md += [f"Reading: the known pixels are the input's {'in every output' if all_kept else 'NOT in every output'}; "
               f"resampling (r = 1 -> r = 10, {calls['r10-j10'] / calls['r1']:.1f}x the network calls) harmonises "
               "the filled region with them: " + "; ".join(read) + ".", ""]
    orig, _ = dataset(R.path(f"test-{n}.h5"))
    picture([orig] + cols, ["test"] + heads, os.path.join(docs, "tasks-repaint.png"))
    md += ["![RePaint: test image, masked input, completions without and with resampling]"
           "(docs/tasks-repaint.png)", ""]


def sec_ilvr(R, docs, md):
    if not R.exists("ilvr.h5"):
        return
    md += ["### ILVR: the reference's low frequencies, the seeds' details", "",
           "Each test image is the reference of two samples (seeds 0 and 1), DDPM 50 under the "
           "null label, refined at every step (Choi et al. 2021, Alg. 1). Low-pass error = RMS "
           "distance of the outputs' phi_N (N x N block means) to the reference's; the "
           "baseline is the same distance between neighbouring test images. Diversity = RMS "
           "distance between the two seeds' outputs of a reference.", "",
           "| N | NFE | low-pass error | low-pass error of other images | diversity | L2 to the reference | FID | class match |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    cols, heads = [], []
    read_il = []
    for g in ("N4", "N8"):
        if g not in groups(R.path("ilvr.h5")):
            continue
        N = int(g[1:])
        x, inp, seeds, _ = group(R.path("ilvr.h5"), g)
        ref, _ = dataset(R.path(f"test-{len(np.unique(inp))}.h5"))
        lp = rms(block_mean(x.astype(np.float64), N), block_mean(ref[inp].astype(np.float64), N)).mean()
        rl = block_mean(ref.astype(np.float64), N)
        base = rms(rl, np.roll(rl, 1, axis=0)).mean()
        s0, s1 = x[seeds == 0], x[seeds == 1]
        div = rms(s0, s1).mean()
        e = R.get("ilvr.h5", g)
        md.append(f"| {N} | {nfe(R.path('ilvr.h5'), g)} | {f4(lp)} | {f4(base)} | {f4(div)} | "
                  f"{f4(rms(x, ref[inp]).mean())} | {f3(metric(e, 'fid'))} | {f3(metric(e, 'input_match'))} |")
        read_il.append(f"N = {N}: the low-pass error is {base / lp:.0f}x below that of other images, "
                       f"while two seeds differ by {div:.3f}")
        cols += [np.clip(np.rint(block_mean(ref.astype(np.float64), N)), 0, 255).astype(np.uint8), s0, s1]
        heads += [f"phi_{N}(ref)", f"N{N} s0", f"N{N} s1"]
    md.append("")
    if read_il:
        md += ["Reading: " + "; ".join(read_il) + " (the details are the seeds' own; a larger N "
               "leaves them more room).", ""]
    picture([ref] + cols, ["ref"] + heads, os.path.join(docs, "tasks-ilvr.png"))
    md += ["![ILVR: reference, its low-pass, two seeds at N = 4 and 8](docs/tasks-ilvr.png)", ""]


def sec_ddib(R, docs, md):
    if not R.exists("ddib-rec.h5"):
        return
    md += ["### DDIB: encode, decode, translate", "",
           "Encode = DDIM eta 0 run upward (`ddm encode`), conditioned on the image's own "
           "class; decode = DDIM eta 0 with a target class. Reconstruction: target = source; "
           "the error is the RMS distance to the input (pixels in [0,1]), with its maximum "
           "pixel difference (bytes).", "",
           "| steps | NFE | images | RMS error | median | worst image | max pixel difference |",
           "|---:|---:|---:|---:|---:|---:|---:|"]
    orig = None
    cols, heads = [], []
    for g in ("rec-50", "rec-100"):
        if g not in groups(R.path("ddib-rec.h5")):
            continue
        x, inp, _, _ = group(R.path("ddib-rec.h5"), g)
        orig, _ = dataset(R.path(f"test-{len(np.unique(inp))}.h5"))
        d = rms(x, orig[inp])
        mx = int(np.abs(x.astype(int) - orig[inp].astype(int)).max())
        e = R.get("ddib-rec.h5", g)
        md.append(f"| {g[4:]} | {nfe(R.path('ddib-rec.h5'), g)} | {len(x)} | {f4(d.mean())} | {f4(float(np.median(d)))} | "
                  f"{f4(d.max())} | {mx} |")
        cols.append(x)
        heads.append(f"rec {g[4:]}")
    md.append("")
    if R.exists("ddib.h5"):
        g = groups(R.path("ddib.h5"))[0]
        x, inp, seeds, labels = group(R.path("ddib.h5"), g)
        src, slab = dataset(R.path(f"test-{len(np.unique(inp))}.h5"))
        e = R.get("ddib.h5", g)
        other = labels != slab[inp]
        md += [f"Translations: {len(np.unique(inp))} test images, each decoded with every class "
               f"(DDIM 50 both ways, NFE {nfe(R.path('ddib.h5'), g)}): the evaluation classifier puts "
               f"**{f3(metric(e, 'class_match'))}** of the {len(x)} outputs in their target class "
               f"({int(other.sum())} of them translations to another class), FID "
               f"{f3(metric(e, 'fid'))}.", ""]
        k = 6
        tcols = [src[:k]] + [x[(labels == c)][:k] for c in range(10)]
        picture(tcols, ["input"] + [f"to {c}" for c in range(10)], os.path.join(docs, "tasks-ddib.png"), rows=k)
        md += ["![DDIB: test images (column 1) translated to each of the 10 classes](docs/tasks-ddib.png)", ""]
    if orig is not None and cols:
        picture([orig] + cols, ["input"] + heads, os.path.join(docs, "tasks-ddib-rec.png"))
        md += ["![DDIB reconstructions at 50 and 100 steps](docs/tasks-ddib-rec.png)", ""]


def sec_sr3(R, docs, md):
    if not R.exists("sr3.h5"):
        return
    gs = groups(R.path("sr3.h5"))
    md += ["### SR3: super-resolution x2 and x4", "",
           "The test images downsampled (block means) by 2 or 4 and upsampled back by bicubic: "
           "the baseline, and the condition of `models/fmnist-sr3.h5` (DDIM 50). PSNR against "
           "the truth (dB); consistency = RMS distance between the output downsampled and the "
           "low-resolution input (bytes, 0..255); FID against the train split.", "",
           "| scale | images | PSNR | consistency | FID | IS |", "|---|---|---:|---:|---:|---:|"]
    cols, heads = [], []
    truth = None
    for f in (2, 4):
        g = f"x{f}"
        if g not in gs or not R.exists(f"bicubic{f}.h5"):
            continue
        x, inp, _, _ = group(R.path("sr3.h5"), g)
        truth, _ = dataset(R.path(f"test-{len(np.unique(inp))}.h5"))
        bic, _ = dataset(R.path(f"bicubic{f}.h5"))
        t = truth[inp].astype(np.float64)
        for name, y, e in ((f"bicubic", bic[inp], R.get(f"bicubic{f}.h5", "data")), ("SR3", x, R.get("sr3.h5", g))):
            cons = np.sqrt(((down(y.astype(np.float64), f) - down(t, f)) ** 2).reshape(len(y), -1).mean(axis=1)).mean()
            md.append(f"| x{f} | {name} | {psnr(y, t).mean():.2f} | {cons:.2f} | {f3(metric(e, 'fid'))} | "
                      f"{f3(metric(e, 'is'))} |")
        cols += [bic[inp], x]
        heads += [f"bicubic x{f}", f"SR3 x{f}"]
    e0 = R.get(f"test-{len(truth) if truth is not None else 0}.h5", "data")
    md += [f"| - | the truth | - | 0 | {f3(metric(e0, 'fid'))} | {f3(metric(e0, 'is'))} |", ""]
    if truth is not None:
        picture([truth] + cols, ["truth"] + heads, os.path.join(docs, "tasks-sr3.png"))
        md += ["![SR3: truth, bicubic and SR3 at x2 and x4](docs/tasks-sr3.png)", ""]


def sec_errors(R, docs, md):
    if not R.exists("errors.tsv"):
        return
    rows = [l.rstrip("\n").split("\t") for l in open(R.path("errors.tsv")) if l.strip()]
    md += ["### Bad input", "",
           "Each run below is refused before any work: its exit status, whether an output file "
           "was left, and its one error line (paths shortened to their file names).", "",
           "| case | exit | output left | the error |", "|---|---:|---|---|"]
    for what, cmd, rc, left, line in rows:
        line = " ".join(os.path.basename(w) if "/" in w else w for w in line.split(" "))
        md.append(f"| {what} | {rc} | {left} | `{line.replace('|', '/')}` |")
    md.append("")


def readme_splice(readme, text):
    a, b = "<!-- tasks-results -->", "<!-- /tasks-results -->"
    s = open(readme).read()
    if a not in s or b not in s:
        sys.exit(f"{readme}: no {a} ... {b} lines to put the tables between")
    i, j = s.index(a) + len(a), s.index(b)
    tmp = readme + ".tmp"
    open(tmp, "w").write(s[:i] + "\n" + text + s[j:])
    os.replace(tmp, readme)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?")
    ap.add_argument("--guides", nargs=2, metavar=("TEST.h5", "GUIDES.h5"))
    ap.add_argument("--readme")
    ap.add_argument("--docs", default="docs")
    ap.add_argument("--run", default="", help="the run's settings, said in the text")
    a = ap.parse_args()
    if a.guides:
        make_guides(*a.guides)
        return
    if not a.out:
        ap.error("OUT or --guides")
    R = Results(a.out)
    os.makedirs(a.docs, exist_ok=True)
    md = [f"Made by `scripts/tasks_results.sh` (scored against the train split with "
          f"`models/fmnist-classifier.h5`'s features; the floor rows are real test images at the "
          f"same count: FID falls with the count, compare within a table)." +
          (f" This run: `{a.run}`." if a.run else ""), ""]
    for sec in (sec_sdedit, sec_repaint, sec_ilvr, sec_ddib, sec_sr3, sec_errors):
        sec(R, a.docs, md)
    text = "\n".join(md) + "\n"
    open(os.path.join(a.out, "tasks.md"), "w").write(text)
    print(text)
    if a.readme:
        readme_splice(a.readme, text)
        print(f"tasks_table: {a.readme}: the section between its tasks-results lines rewritten")


if __name__ == "__main__":
    main()
