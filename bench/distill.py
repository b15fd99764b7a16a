#!/usr/bin/env python3
"""Distillation speed: a plain PyTorch loop on the same work as
benches/distill.rs, and the comparison (`make bench`).

784-1200-1200-10 teacher (eval mode, under no_grad at every step),
784-800-800-10 student, loss (1 - a) CE + a T^2 KL(batchmean) with T 20,
a 0.9, Adam 1e-3, batches of 128 in a seeded shuffle over the first 3,200
Fashion-MNIST training images, for 3 epochs and for 20; steps per second,
median of 3 runs after a warm-up, the same thread count as our side. This
machine's speed drifts between processes, so each side runs in several
processes, alternating (`make bench`), and the report gives the median and
the range over them, the ratios of the medians and whether the goals are
met (teacher on the fly at least 1.0x, cached logits at least 1.5x).

    distill.py --worker                      one measurement, a JSON line
    distill.py --report OURS.jsonl THEIRS.jsonl
"""
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from common import fashion_idx, read_runs, set_threads, worker_or_report  # noqa: E402

IMAGES, BATCH, REPEATS = 3200, 128, 3
EPOCHS = (3, 20)
GOALS = {"on_the_fly": 1.0, "cached": 1.5}
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


def worker():
    set_threads()
    data_dir = Path(os.environ["DEEPSCOPE_DATA"])
    x = torch.from_numpy(fashion_idx(data_dir, "train-images")[:IMAGES].copy()).unsqueeze(1).float() / 255.0
    y = torch.from_numpy(fashion_idx(data_dir, "train-labels")[:IMAGES].copy()).long()
    torch.manual_seed(0)
    teacher = mlp(1200, 1200).eval()
    runs = []
    for epochs in EPOCHS:
        run(teacher, x, y, epochs)
        rate = statistics.median(run(teacher, x, y, epochs) for _ in range(REPEATS))
        runs.append({"epochs": epochs, "steps_per_second": rate})
    print(json.dumps({"threads": torch.get_num_threads(), "runs": runs}))


def spread(values):
    return f"{statistics.median(values):.1f} [{min(values):.1f}-{max(values):.1f}]"


def report(ours_path, theirs_path):
    ours, theirs, threads = read_runs(ours_path, theirs_path)
    med = statistics.median
    print(f"distillation, {threads} threads (torch {torch.__version__}); steps per second, median over "
          f"{len(ours)} processes per side, alternating (each the median of {REPEATS} runs), range in brackets")
    for i, epochs in enumerate(EPOCHS):
        them = [r["runs"][i]["steps_per_second"] for r in theirs]
        print(f"{epochs} epochs")
        for key, name in [("on_the_fly", "deepscope, teacher on the fly"),
                          ("cached", "deepscope, teacher logits cached")]:
            mine = [r["runs"][i][key] for r in ours]
            ratio = med(mine) / med(them)
            goal = GOALS[key]
            print(f"  {name:<40} {spread(mine):>22} {ratio:>7.2f}x  goal {goal}x: "
                  f"{'met' if ratio >= goal else 'NOT met'}")
        print(f"  {'PyTorch loop, teacher on the fly':<40} {spread(them):>22} {1.0:>7.2f}x")


if __name__ == "__main__":
    worker_or_report(__doc__, worker, report)
