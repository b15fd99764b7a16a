"""2-D loss-surface scans: ours (benches/surface.rs) against the
loss-landscapes package and a plain PyTorch loop, on the same ResNet-20, the
same filter-normalised directions and the same 500 evaluation images, at the
same thread count.

The PyTorch loop is what a user writes without a library: for each grid
point, set every parameter to center + x d1 + y d2, then evaluate loss and
accuracy in evaluation mode under no_grad. Its losses are checked against
ours point by point. loss-landscapes' `random_plane` draws its own
directions (uniform, every parameter moved, filter-normalised) and computes
the loss only; it is timed on the same number of points.
"""
import json
import time
from pathlib import Path

import loss_landscapes
import loss_landscapes.metrics
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file

from common import setup


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


def main():
    ours, _ = setup(__doc__)
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
    ll_pps = ours["points"] / (time.perf_counter() - t)

    threads = ours["threads"]
    print(f"\n2-D loss-surface scan: ResNet-20, Fashion-MNIST 14x14, {images.shape[0]} images per point, {side}x{side} points, {threads} threads")
    print(f"{'':<28}{'points/s':>10}{'ours is':>10}")
    print(f"{'deepscope':<28}{ours['points_per_second']:>10.2f}")
    print(f"{'PyTorch loop':<28}{loop_pps:>10.2f}{ours['points_per_second'] / loop_pps:>9.2f}x")
    print(f"{'loss-landscapes 3.0.6':<28}{ll_pps:>10.2f}{ours['points_per_second'] / ll_pps:>9.2f}x")
    print(f"largest |loss(ours) - loss(PyTorch loop)| over the grid: {agree:.2e}")
    print(f"\n{ours['side']}x{ours['side']} grid: 1 process x {threads} threads {ours['one_process_s']:.1f} s, "
          f"2 processes (shards) x {max(threads // 2, 1)} threads {ours['two_processes_s']:.1f} s "
          f"({ours['one_process_s'] / ours['two_processes_s']:.2f}x); merged grid equals the single one to "
          f"{ours['max_loss_difference']:.1e}")


if __name__ == "__main__":
    main()
