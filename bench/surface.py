"""2-D loss-surface scans: ours (benches/surface.rs) against the
loss-landscapes package and a plain PyTorch loop, on the same ResNet-20, the
same filter-normalised directions and the same 500 evaluation images, at the
same thread count.

The PyTorch loop is what a user writes without a library: for each grid
point, set every parameter to center + x d1 + y d2, then evaluate loss and
accuracy in evaluation mode under no_grad. Its losses are checked against
ours point by point. loss-landscapes' `random_plane` draws its own
directions (uniform, every parameter moved, filter-normalised) and computes
the loss only; it is timed on the same number of points, as called (copying
the model and drawing the directions included) and, to compare with the
scans that are given their directions, less that setup (its first lines,
timed alone in the same process, median of 5).

Each side is timed in fresh processes with glibc's allocator as it comes
and with freed buffers kept (ours: runtime::allocator; Python: the same two
thresholds through MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_, which
`make bench` sets for a second worker): by default both hand a forward
pass's activation buffers back to the kernel and fault them in again.

    surface.py --worker OURS.jsonl   time the Python sides against the last
                                     run in OURS.jsonl; print a JSON line
    surface.py --report OURS.jsonl THEIRS.jsonl
                                     medians and ranges over all runs
"""
import copy
import json
import os
import statistics
import time
from pathlib import Path

import loss_landscapes
import loss_landscapes.metrics
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file

from common import read_runs, worker_or_report
from loss_landscapes.model_interface.model_parameters import orthogonal_to, rand_u_like
from loss_landscapes.model_interface.model_wrapper import wrap_model


class Block(nn.Module):
    """A CIFAR-style basic block, named as ours (and torchvision's)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet20(nn.Module):
    def __init__(self, channels=1, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        cin = 16
        for stage, width in enumerate([16, 32, 64], start=1):
            blocks = []
            for b in range(3):
                blocks.append(Block(cin, width, 2 if stage > 1 and b == 0 else 1))
                cin = width
            setattr(self, f"layer{stage}", nn.Sequential(*blocks))
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def plain_loop(model, center, d1, d2, xs, ys, images, labels):
    """Loss and accuracy at every point, row-major (x fastest), as ours."""
    params = dict(model.named_parameters())
    losses = []
    with torch.no_grad():
        for y in ys:
            for x in xs:
                for name, p in params.items():
                    p.copy_(center[name] + x * d1[name] + y * d2[name])
                logits = model(images)
                losses.append(F.cross_entropy(logits, labels).item())
                (logits.argmax(1) == labels).float().mean().item()
    return losses


def loss_landscapes_setup_seconds(model, repeats=5):
    """The part of `random_plane` before its grid, as it is written there
    (loss-landscapes 3.0.6): copy the model, draw a uniform direction and an
    orthogonal one, filter-normalise both. Median seconds over `repeats`."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        start = wrap_model(copy.deepcopy(model)).get_module_parameters()
        one = rand_u_like(start)
        two = orthogonal_to(one)
        one.filter_normalize_(start)
        two.filter_normalize_(start)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def worker(ours_path):
    """Times both Python sides against the last run of ours in ours_path (the
    files it wrote are those of that run); prints one JSON line."""
    ours = [json.loads(l) for l in Path(ours_path).read_text().splitlines() if l.strip()][-1]
    torch.set_num_threads(ours["threads"])
    folder = Path(ours["grid_file"]).parent
    center = load_file(folder / "model.safetensors")
    d1, d2 = load_file(folder / "d1.safetensors"), load_file(folder / "d2.safetensors")
    data = load_file(folder / "eval.safetensors")
    images, labels = data["images"], data["labels"]

    model = ResNet20()
    missing, unexpected = model.load_state_dict(center, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(f"the PyTorch twin does not match our names: missing {missing}, unexpected {unexpected}")
    model.eval()
    side = int(round(ours["points"] ** 0.5))
    axis = torch.linspace(-1.0, 1.0, side, dtype=torch.float64).tolist()
    with torch.no_grad():
        model(images)  # warm-up

    t = time.perf_counter()
    loop_losses = plain_loop(model, center, d1, d2, axis, axis, images, labels)
    loop_pps = ours["points"] / (time.perf_counter() - t)
    our_losses = json.loads(Path(ours["grid_file"]).read_text())
    agree = max(abs(a - b) for a, b in zip(loop_losses, our_losses))

    model.load_state_dict(center, strict=False)
    metric = loss_landscapes.metrics.Loss(F.cross_entropy, images, labels)
    t = time.perf_counter()
    loss_landscapes.random_plane(model, metric, distance=1, steps=side, normalization="filter", deepcopy_model=True)
    ll_seconds = time.perf_counter() - t
    ll_setup = loss_landscapes_setup_seconds(model)
    ll_pps = ours["points"] / ll_seconds
    ll_scan_pps = ours["points"] / (ll_seconds - ll_setup)
    retained = all(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"))
    print(json.dumps({"threads": torch.get_num_threads(), "points": ours["points"], "images": images.shape[0],
                      "retained": retained,
                      "loop_points_per_second": loop_pps, "loss_landscapes_points_per_second": ll_pps,
                      "loss_landscapes_scan_points_per_second": ll_scan_pps, "loss_landscapes_setup_s": ll_setup,
                      "max_loss_difference": agree}))


def spread(values, digits):
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def report(ours_path, theirs_path):
    ours, theirs, threads = read_runs(ours_path, theirs_path)
    side = int(round(ours[0]["points"] ** 0.5))
    print(f"\n2-D loss-surface scan: ResNet-20, Fashion-MNIST 14x14, {theirs[0]['images']} images per point, "
          f"{side}x{side} points, {threads} threads (torch {torch.__version__}), fresh processes; median over "
          f"{len(ours)} processes per side, alternating, range in brackets")
    for allocator, retained in [("glibc's allocator as it comes", False), ("freed buffers kept", True)]:
        mine = [r[allocator_key(retained)] for r in ours]
        them = [r for r in theirs if r["retained"] == retained]
        print(f"\n{allocator}:")
        print(f"{'':<40}{'points/s':>22}{'ours is':>10}")
        print(f"{'deepscope':<40}{spread([m['points_per_second'] for m in mine], 2):>22}")
        for name, key in [("PyTorch loop", "loop_points_per_second"),
                          ("loss-landscapes 3.0.6, less its setup", "loss_landscapes_scan_points_per_second")]:
            row(name, [m["points_per_second"] for m in mine], [r[key] for r in them])
        print(f"{'deepscope, copying and drawing included':<40}"
              f"{spread([m['with_setup_points_per_second'] for m in mine], 2):>22}")
        row("loss-landscapes 3.0.6 random_plane", [m["with_setup_points_per_second"] for m in mine],
            [r["loss_landscapes_points_per_second"] for r in them])
        ours_setup = [m["setup_s"] * 1e3 for m in mine]
        setup = [r["loss_landscapes_setup_s"] * 1e3 for r in them]
        print(f"setup alone: deepscope {spread(ours_setup, 1)} ms, loss-landscapes {spread(setup, 1)} ms")
    agree = max(r["max_loss_difference"] for r in theirs)
    print(f"largest |loss(ours) - loss(PyTorch loop)| over the grids: {agree:.2e}")
    one = [r["one_process_s"] for r in ours]
    two = [r["two_processes_s"] for r in ours]
    merged = max(r["max_loss_difference"] for r in ours)
    print(f"\n{ours[0]['side']}x{ours[0]['side']} grid: 1 process x {threads} threads {spread(one, 1)} s, "
          f"2 processes (shards) x {max(threads // 2, 1)} threads {spread(two, 1)} s "
          f"({statistics.median(one) / statistics.median(two):.2f}x); merged grids equal the single ones to "
          f"{merged:.1e}")


def allocator_key(retained):
    return "retained" if retained else "default"


def row(name, mine, theirs):
    print(f"{name:<40}{spread(theirs, 2):>22}{statistics.median(mine) / statistics.median(theirs):>9.2f}x")


if __name__ == "__main__":
    worker_or_report(__doc__, worker, report, worker_args=1)
