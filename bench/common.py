"""What the Python side of every benchmark shares: reading our side's
results, matching its thread count, and reading Fashion-MNIST from the data
folder's manifest."""
import argparse
import gzip
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch


def setup(description):
    """Parses --rust, sets torch's threads to ours; returns (ours, data folder)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rust", type=Path, required=True, help="JSON printed by the Rust bench")
    args = parser.parse_args()
    ours = json.loads(args.rust.read_text())
    torch.set_num_threads(ours["threads"])
    return ours, Path(os.environ["DEEPSCOPE_DATA"])


def fashion_idx(data_dir, role, verify=False):
    """One Fashion-MNIST IDX file ("train-images", ...) as a numpy array;
    with verify, its SHA-256 is checked against the manifest first."""
    manifest = json.loads((data_dir / "manifest.json").read_text())
    entry = next(e for e in manifest["entries"] if e["name"] == "fashion-mnist")
    record = entry["files"][role]
    raw = (data_dir / record["path"]).read_bytes()
    if verify and hashlib.sha256(raw).hexdigest() != record["sha256"]:
        raise SystemExit(f"{record['path']}: checksum mismatch")
    raw = gzip.decompress(raw)
    ndim = raw[3]
    dims = [int(d) for d in np.frombuffer(raw[4:4 + 4 * ndim], dtype=">u4")]
    return np.frombuffer(raw[4 + 4 * ndim:], dtype=np.uint8).reshape(dims)
