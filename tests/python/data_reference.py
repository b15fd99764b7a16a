#!/usr/bin/env python3
"""Independent reference values for the gathered data, for tests/data_real.rs.

Reads the data folder's files with gzip/numpy/PIL (not with deepscope) and
prints JSON: per dataset, example counts, per-class counts and the exact sum
of the 8-bit (or 0..16) pixel values; per photo, its shape and mean in [0, 1].
"""
import gzip
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def idx(path):
    raw = gzip.decompress(Path(path).read_bytes())
    ndim = raw[3]
    dims = np.frombuffer(raw[4:4 + 4 * ndim], dtype=">u4")
    return np.frombuffer(raw[4 + 4 * ndim:], dtype=np.uint8).reshape(dims)


def main(data_dir):
    data_dir = Path(data_dir)
    manifest = json.loads((data_dir / "manifest.json").read_text())
    out = {}
    for e in manifest["entries"]:
        f = {role: data_dir / r["path"] for role, r in e["files"].items()}
        if e["kind"] == "idx":
            y = np.concatenate([idx(f["train-labels"]), idx(f["test-labels"])])
            out[e["name"]] = {
                "train": int(idx(f["train-images"]).shape[0]),
                "test": int(idx(f["test-images"]).shape[0]),
                "class_counts": np.bincount(y, minlength=len(e["classes"])).tolist(),
                "pixel_sum": int(idx(f["train-images"]).sum(dtype=np.int64)
                                 + idx(f["test-images"]).sum(dtype=np.int64)),
            }
        elif e["kind"] == "csv":
            table = np.loadtxt(f["data"], delimiter=",", dtype=np.int64)
            out[e["name"]] = {
                "all": int(table.shape[0]),
                "class_counts": np.bincount(table[:, -1], minlength=10).tolist(),
                "pixel_sum": int(table[:, :-1].sum()),
            }
        else:
            im = Image.open(f["image"])
            a = np.asarray(im.convert("RGB") if im.mode in ("P", "RGBA", "CMYK") else im)
            scale = 65535.0 if a.dtype == np.uint16 else 255.0
            channels = 1 if a.ndim == 2 else a.shape[2]
            out[e["name"]] = {"shape": [channels, a.shape[0], a.shape[1]],
                              "mean": float(a.astype(np.float64).mean() / scale),
                              "jpeg": f["image"].suffix.lower() in (".jpg", ".jpeg")}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
