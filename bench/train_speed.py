#!/usr/bin/env python3
"""Training speed, PyTorch eager side, and the comparison table (`make bench`).

The same work as benches/train_speed.rs: LeNet-5 on Fashion-MNIST 28x28 and
the ZFNet-style net on Fashion-MNIST resized to 64x64 (antialiased bilinear,
as ours), batches of 128 in a seeded shuffle, cross-entropy, SGD with
momentum 0.9, dropout in the ZFNet's classifier; the same libtorch and the
same number of threads. Steps per second after a 5-step warm-up: the median
of 5 (LeNet) or 3 (ZFNet) timed runs, as on our side.
"""
import argparse
import gzip
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BATCH = 128


def fashion_train(data_dir, n):
    manifest = json.loads((Path(data_dir) / "manifest.json").read_text())
    entry = next(e for e in manifest["entries"] if e["name"] == "fashion-mnist")
    def idx(role):
        raw = gzip.decompress((Path(data_dir) / entry["files"][role]["path"]).read_bytes())
        ndim = raw[3]
        dims = [int(d) for d in np.frombuffer(raw[4:4 + 4 * ndim], dtype=">u4")]
        return np.frombuffer(raw[4 + 4 * ndim:], dtype=np.uint8).reshape(dims)
    x = torch.from_numpy(idx("train-images")[:n].copy()).unsqueeze(1).float() / 255.0
    y = torch.from_numpy(idx("train-labels")[:n].copy()).long()
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rust", type=Path, required=True, help="JSON printed by the Rust bench")
    args = parser.parse_args()
    ours = json.loads(args.rust.read_text())
    torch.set_num_threads(ours["threads"])
    data_dir = os.environ["DEEPSCOPE_DATA"]
    rows = []
    x, y = fashion_train(data_dir, ours["lenet5_steps"] * BATCH)
    rows.append(("LeNet-5, 28x28", ours["lenet5"], steps_per_second(lenet(), x, y, ours["lenet5_steps"], 5)))
    x, y = fashion_train(data_dir, ours["zfnet64_steps"] * BATCH)
    x64 = F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False)
    rows.append(("ZFNet-style, 64x64", ours["zfnet64"], steps_per_second(zfnet(), x64, y, ours["zfnet64_steps"], 3)))
    print(f"training speed, batch {BATCH}, SGD momentum, {ours['threads']} threads (torch {torch.__version__})")
    print(f"{'model':<22} {'deepscope':>14} {'PyTorch eager':>14} {'ratio':>7}")
    for name, a, b in rows:
        print(f"{name:<22} {a:>8.2f} step/s {b:>8.2f} step/s {a / b:>6.2f}x")


if __name__ == "__main__":
    main()
