#!/usr/bin/env python3
"""Data benchmark, Python side, and the comparison table (`make bench`).

The same work as benches/data_loading.rs: read Fashion-MNIST from the data
folder's manifest (SHA-256 check, gunzip, decode to float32 in [0, 1]) and
iterate one shuffled epoch of batches of 128, once with PyTorch eager
(randperm + index_select, the fastest plain way) and once with the usual
TensorDataset + DataLoader. Same libtorch, same number of threads; each
side the median of 5 in a process, in several processes alternating with
ours (this machine's speed drifts between processes): the report gives the
median and range over the processes and the ratios of the medians.

    data_loading.py --worker                      one measurement, a JSON line
    data_loading.py --report OURS.jsonl THEIRS.jsonl
"""
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import fashion_idx, read_runs, set_threads, worker_or_report  # noqa: E402


REPEATS = 5
BATCH = 128


def load(data_dir):
    out = {}
    for role in ["train-images", "train-labels", "test-images", "test-labels"]:
        a = torch.from_numpy(fashion_idx(data_dir, role, verify=True).copy())
        out[role] = a.unsqueeze(1).float() / 255.0 if role.endswith("images") else a.long()
    return out


def timed(fn):
    times = []
    for i in range(REPEATS):
        t = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def worker():
    set_threads()
    data_dir = Path(os.environ["DEEPSCOPE_DATA"])
    load_s = timed(lambda _: load(data_dir))
    d = load(data_dir)
    x, y = d["train-images"], d["train-labels"]

    def eager_epoch(epoch):
        g = torch.Generator().manual_seed(epoch)
        perm = torch.randperm(x.shape[0], generator=g)
        total = 0.0
        for i in range(0, x.shape[0], BATCH):
            idx = perm[i:i + BATCH]
            total += x.index_select(0, idx).sum().item() + y.index_select(0, idx).shape[0]
        return total

    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=BATCH,
                                         shuffle=True)

    def loader_epoch(_):
        total = 0.0
        for xb, yb in loader:
            total += xb.sum().item() + yb.shape[0]
        return total

    print(json.dumps({"threads": torch.get_num_threads(), "load_s": load_s,
                      "eager_s": timed(eager_epoch), "loader_s": timed(loader_epoch)}))


def spread(values):
    return f"{statistics.median(values):.3f} s ({min(values):.3f}-{max(values):.3f})"


def report(ours_path, theirs_path):
    ours, theirs, threads = read_runs(ours_path, theirs_path)
    med = statistics.median
    rows = [
        ("load Fashion-MNIST (sha256, gunzip, decode)", "load_s", "load_s", "numpy + torch"),
        ("one shuffled epoch, batches of 128", "epoch_s", "eager_s", "torch eager index_select"),
        ("one shuffled epoch, batches of 128", "epoch_s", "loader_s", "torch DataLoader"),
    ]
    print(f"data benchmark, {threads} threads (torch {torch.__version__}); median over "
          f"{len(ours)} processes per side, alternating (each the median of {REPEATS}), range in parentheses")
    print(f"{'task':<46} {'deepscope':>24} {'python':>24} {'speed-up':>9}  python side")
    for task, key, theirs_key, how in rows:
        a = [r[key] for r in ours]
        b = [r[theirs_key] for r in theirs]
        print(f"{task:<46} {spread(a):>24} {spread(b):>24} {med(b) / med(a):>8.2f}x  {how}")


if __name__ == "__main__":
    worker_or_report(__doc__, worker, report)
