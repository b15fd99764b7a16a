#!/usr/bin/env python3
"""Model summary speed: torchinfo.summary on torchvision's VGG-16 and
ResNet-18 (3x224x224, batch 1, verbose 0), the same work as
benches/summary.rs, and the comparison (`make bench`).

Median of 20 calls after a warm-up, on an already built model in eval
mode, the same thread count as our side. torchinfo runs a forward pass
with hooks; its totals are printed beside ours.
"""
import statistics
import sys
import time
from pathlib import Path

import torch
import torchvision
from torchinfo import summary

sys.path.insert(0, str(Path(__file__).parent))
from common import setup  # noqa: E402

REPEATS = 20


def main():
    ours, _ = setup(__doc__)
    print(f"model summary, {ours['threads']} threads (torch {torch.__version__}); "
          f"median of {REPEATS} calls on a built model, 3x224x224")
    print(f"{'net':<10} {'deepscope':>12} {'torchinfo':>12} {'speed ratio':>12}   "
          f"parameters (ours / torchinfo), mult-adds (ours / torchinfo)")
    for name in ["vgg16", "resnet18"]:
        model = getattr(torchvision.models, name)(weights=None).eval()
        run = lambda: summary(model, input_size=(1, 3, 224, 224), verbose=0)  # noqa: E731
        run()
        times = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            s = run()
            times.append(time.perf_counter() - start)
        theirs = statistics.median(times)
        a = ours[name]
        print(f"{name:<10} {1e3 * a['seconds']:>9.3f} ms {1e3 * theirs:>9.1f} ms "
              f"{theirs / a['seconds']:>11.0f}x   {a['parameters']} / {s.total_params}, "
              f"{a['mult_adds']} / {s.total_mult_adds}")


if __name__ == "__main__":
    main()
