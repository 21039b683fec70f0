#!/usr/bin/python3
"""Checksums of a samples file, one line per group: name, sha256 of the images, of the
labels and of the seeds (raw little-endian bytes in row order), and the done count.
    checksums.py SAMPLES.h5 [PREFIX]   (PREFIX goes in front of each group name)"""
import hashlib
import sys

import h5py
import numpy as np

f = h5py.File(sys.argv[1], "r")
prefix = sys.argv[2] if len(sys.argv) > 2 else ""
for g in sorted(f):
    grp = f[g]
    h = [hashlib.sha256(np.ascontiguousarray(grp[d][()]).tobytes()).hexdigest()[:16]
         for d in ("images", "labels", "seeds")]
    print(f"{prefix}{g} images {h[0]} labels {h[1]} seeds {h[2]} done {int(grp['done'][()].sum())}")
