#!/usr/bin/env python3
"""Distillation speed: a plain PyTorch loop on the same work as
benches/distill.rs, and the comparison (`make bench`).

784-1200-1200-10 teacher (eval mode, under no_grad at every step),
784-800-800-10 student, loss (1 - a) CE + a T^2 KL(batchmean) with T 20,
a 0.9, Adam 1e-3, batches of 128 in a seeded shuffle over the first 3,200
Fashion-MNIST training images, for 3 epochs and for 20; steps per second,
median of 3 runs after a warm-up, the same thread count as our side.
"""
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from common import fashion_idx, setup  # noqa: E402

IMAGES, BATCH, REPEATS = 3200, 128, 3
T, ALPHA = 20.0, 0.9


def mlp(*widths):
    layers, previous = [nn.Flatten()], 784
    for w in widths:
        layers += [nn.Linear(previous, w), nn.ReLU()]
        previous = w
    return nn.Sequential(*layers, nn.Linear(previous, 10))


def run(teacher, x, y, epochs):
    student = mlp(800, 800)
    opt = torch.optim.Adam(student.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    steps = 0
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), BATCH):
            idx = order[i:i + BATCH]
            xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            with torch.no_grad():
                soft = F.softmax(teacher(xb) / T, dim=1)
            z = student(xb)
            loss = (1 - ALPHA) * F.cross_entropy(z, yb) + ALPHA * T * T * F.kl_div(
                F.log_softmax(z / T, dim=1), soft, reduction="batchmean")
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss.item()
            steps += 1
    return steps / (time.perf_counter() - start)


def main():
    ours, data_dir = setup(__doc__)
    x = torch.from_numpy(fashion_idx(data_dir, "train-images")[:IMAGES].copy()).unsqueeze(1).float() / 255.0
    y = torch.from_numpy(fashion_idx(data_dir, "train-labels")[:IMAGES].copy()).long()
    torch.manual_seed(0)
    teacher = mlp(1200, 1200).eval()
    print(f"distillation, {ours['threads']} threads (torch {torch.__version__}); steps per second, median of {REPEATS}")
    for r in ours["runs"]:
        epochs = r["epochs"]
        run(teacher, x, y, epochs)
        theirs = statistics.median(run(teacher, x, y, epochs) for _ in range(REPEATS))
        print(f"{epochs} epochs")
        print(f"  {'deepscope, teacher on the fly':<40} {r['on_the_fly']:>8.1f} {r['on_the_fly'] / theirs:>8.2f}x")
        print(f"  {'deepscope, teacher logits cached':<40} {r['cached']:>8.1f} {r['cached'] / theirs:>8.2f}x")
        print(f"  {'PyTorch loop, teacher on the fly':<40} {theirs:>8.1f} {1.0:>8.2f}x")


if __name__ == "__main__":
    main()
