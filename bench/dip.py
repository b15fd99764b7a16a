#!/usr/bin/env python3
"""Deep Image Prior step speed: the same hourglass as benches/dip.rs in
PyTorch eager (tests/python/dip_skip.py, the net our test checks ours
against), the same step, sizes and threads, and the ratio (`make bench`).

One step: fresh N(0, (1/30)^2) noise on the U[0, 0.1) code, forward in
training mode, MSE, backward, torch.optim.Adam (lr 0.01), output average
0.99. Seconds per step = (time of 2 + N steps - time of 2 steps) / N, with a
fresh net each time, as our side measures. This machine's speed drifts
between processes, so each side runs in several processes, alternating,
and the report gives the median and the range.

    dip.py --worker                      one measurement, a JSON line
    dip.py --report OURS.jsonl THEIRS.jsonl
"""
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests" / "python"))
from common import read_runs, set_threads, worker_or_report  # noqa: E402
from dip_skip import PAPER_DEFAULT, Skip  # noqa: E402

SIZES = [(128, 20), (256, 10)]


def run(size, steps):
    torch.manual_seed(0)
    net = Skip(PAPER_DEFAULT, 3).train()
    target = torch.rand(1, 3, size, size)
    code = torch.rand(1, 32, size, size) * 0.1
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    avg = None
    t = time.perf_counter()
    for _ in range(steps):
        x = code + torch.randn_like(code) / 30
        out = net(x)
        loss = (out - target).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        out = out.detach()
        avg = out if avg is None else avg * 0.99 + out * 0.01
        loss.item()
    return time.perf_counter() - t


def worker():
    set_threads()
    per_step = {str(size): (run(size, 2 + steps) - run(size, 2)) / steps for size, steps in SIZES}
    print(json.dumps({"threads": torch.get_num_threads(), "seconds_per_step": per_step}))


def report(ours_path, theirs_path):
    ours, theirs, threads = read_runs(ours_path, theirs_path)
    print(f"Deep Image Prior steps, paper default net (5 x 128, skip 4), {threads} threads "
          f"(torch {torch.__version__}); median over {len(ours)} processes per side, range in brackets")
    print(f"{'size':<10} {'deepscope (s/step)':>26} {'PyTorch eager (s/step)':>28} {'speed ratio':>12}")
    for size, _ in SIZES:
        a = [r["seconds_per_step"][str(size)] for r in ours]
        b = [r["seconds_per_step"][str(size)] for r in theirs]
        ma, mb = statistics.median(a), statistics.median(b)
        print(f"{size}x{size:<6} {ma:>9.3f} [{min(a):.3f}-{max(a):.3f}] {mb:>11.3f} [{min(b):.3f}-{max(b):.3f}] "
              f"{mb / ma:>11.2f}x")


if __name__ == "__main__":
    worker_or_report(__doc__, worker, report)
