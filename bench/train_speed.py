#!/usr/bin/env python3
"""Training speed, PyTorch eager side, and the comparison table (`make bench`).

The same work as benches/train_speed.rs: LeNet-5 on Fashion-MNIST 28x28 and
the ZFNet-style net on Fashion-MNIST resized to 64x64 (antialiased bilinear,
as ours), batches of 128 in a seeded shuffle, cross-entropy, SGD with
momentum 0.9, dropout in the ZFNet's classifier; the same libtorch and the
same number of threads. Steps per second after a 5-step warm-up: the median
of 5 (LeNet) or 3 (ZFNet) timed runs, as on our side. This machine's speed
differs from process to process, so `make bench` runs each side in three
processes, alternating, and reports medians and ranges (--worker measures
once; --report compares).
"""
import json
import os
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from common import fashion_idx, read_runs, worker_or_report


BATCH = 128
# The same work as the Rust side (benches/train_speed.rs).
LENET_STEPS, ZF_STEPS = 200, 30
THREADS = int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1))


def fashion_train(data_dir, n):
    x = torch.from_numpy(fashion_idx(data_dir, "train-images")[:n].copy()).unsqueeze(1).float() / 255.0
    y = torch.from_numpy(fashion_idx(data_dir, "train-labels")[:n].copy()).long()
    return x, y


def lenet():
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(),
                         nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def zfnet():
    lrn = lambda: nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0)
    return nn.Sequential(
        nn.Conv2d(1, 32, 7, stride=2, padding=3), nn.ReLU(), nn.MaxPool2d(3, 2, 1), lrn(),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2, 1), lrn(),
        nn.Conv2d(64, 96, 3, padding=1), nn.ReLU(), nn.Conv2d(96, 96, 3, padding=1), nn.ReLU(),
        nn.Conv2d(96, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, 1), nn.Flatten(),
        nn.Linear(1024, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 256), nn.ReLU(),
        nn.Dropout(0.5), nn.Linear(256, 10))


def steps_per_second(model, x, y, steps, repeats):
    torch.manual_seed(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()

    def run(n):
        perm = torch.randperm(n * BATCH)
        for i in range(n):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            loss.item()

    run(5)
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        run(steps)
        rates.append(steps / (time.perf_counter() - t))
    return statistics.median(rates)


def worker():
    """One measurement in this process; prints a JSON line."""
    torch.set_num_threads(THREADS)
    data_dir = Path(os.environ["DEEPSCOPE_DATA"])
    x, y = fashion_train(data_dir, LENET_STEPS * BATCH)
    lenet_rate = steps_per_second(lenet(), x, y, LENET_STEPS, 5)
    x, y = fashion_train(data_dir, ZF_STEPS * BATCH)
    x64 = F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False)
    zf_rate = steps_per_second(zfnet(), x64, y, ZF_STEPS, 3)
    print(json.dumps({"threads": THREADS, "lenet5": lenet_rate, "zfnet64": zf_rate}))


def report(ours_path, theirs_path):
    """Medians (and ranges) over processes, and the ratios."""
    ours, theirs, _ = read_runs(ours_path, theirs_path)
    print(f"training speed, batch {BATCH}, SGD momentum, {THREADS} threads (torch {torch.__version__}); "
          f"median over {len(ours)} processes per side, range in brackets")
    print(f"{'model':<20} {'deepscope (step/s)':>24} {'PyTorch eager (step/s)':>26} {'ratio':>6}")
    for key, name in [("lenet5", "LeNet-5, 28x28"), ("zfnet64", "ZFNet-style, 64x64")]:
        a = [r[key] for r in ours]
        b = [r[key] for r in theirs]
        ma, mb = statistics.median(a), statistics.median(b)
        print(f"{name:<20} {ma:>9.2f} [{min(a):6.1f}-{max(a):6.1f}] {mb:>11.2f} [{min(b):6.1f}-{max(b):6.1f}] "
              f"{ma / mb:>5.2f}x")


if __name__ == "__main__":
    worker_or_report("usage: train_speed.py --worker | --report OURS.jsonl THEIRS.jsonl", worker, report)
