#!/usr/bin/env python3
"""Model summary speed: torchinfo.summary on torchvision's VGG-16 and
ResNet-18 (3x224x224, batch 1, verbose 0), the same work as
benches/summary.rs, and the comparison (`make bench`).

Median of 20 calls after a warm-up, on an already built model in eval
mode, the same thread count as our side. torchinfo runs a forward pass
with hooks; its totals are printed beside ours. Each side runs in several
processes, alternating (this machine's speed drifts between processes);
the report gives the median and range over them.

    summary.py --worker                      one measurement, a JSON line
    summary.py --report OURS.jsonl THEIRS.jsonl
"""
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torchvision
from torchinfo import summary

sys.path.insert(0, str(Path(__file__).parent))
from common import read_runs, set_threads, worker_or_report  # noqa: E402

NETS = ["vgg16", "resnet18"]

REPEATS = 20


def worker():
    set_threads()
    out = {"threads": torch.get_num_threads()}
    for name in NETS:
        model = getattr(torchvision.models, name)(weights=None).eval()
        run = lambda: summary(model, input_size=(1, 3, 224, 224), verbose=0)  # noqa: E731
        run()
        times = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            s = run()
            times.append(time.perf_counter() - start)
        out[name] = {"seconds": statistics.median(times), "parameters": s.total_params,
                     "mult_adds": s.total_mult_adds}
    print(json.dumps(out))


def report(ours_path, theirs_path):
    ours, theirs, threads = read_runs(ours_path, theirs_path)
    med = statistics.median
    print(f"model summary, {threads} threads (torch {torch.__version__}); median of {REPEATS} calls "
          f"on a built model, 3x224x224, in each of {len(ours)} processes per side, alternating; "
          f"median and range over the processes")
    print(f"{'net':<10} {'deepscope':>24} {'torchinfo':>24} {'speed ratio':>12}   "
          f"parameters (ours / torchinfo), mult-adds (ours / torchinfo)")
    for name in NETS:
        a = [1e3 * r[name]["seconds"] for r in ours]
        b = [1e3 * r[name]["seconds"] for r in theirs]
        print(f"{name:<10} {med(a):>8.3f} ms ({min(a):.3f}-{max(a):.3f}) {med(b):>7.1f} ms ({min(b):.1f}-{max(b):.1f}) "
              f"{med(b) / med(a):>11.0f}x   {ours[0][name]['parameters']} / {theirs[0][name]['parameters']}, "
              f"{ours[0][name]['mult_adds']} / {theirs[0][name]['mult_adds']}")


if __name__ == "__main__":
    worker_or_report(__doc__, worker, report)
