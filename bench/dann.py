#!/usr/bin/env python3
"""DANN training speed: a plain PyTorch loop on the same work as
benches/dann.rs, and the comparison (`make bench`).

MNIST -> MNIST-M with DANN's digit nets (conv 32@5x5, ReLU, pool; conv
48@5x5, ReLU, pool; label predictor 100-100-10; domain classifier 100-2),
the images our side wrote (target/bench-dann-data.npz: 3,200 per domain),
batches of 64 source and 64 target images, each domain in its own seeded
shuffle, the gradient reversal as a torch.autograd.Function with DANN's
lambda schedule, SGD with momentum 0.9 from 0.01 on DANN's learning-rate
schedule, 3 epochs of the source (150 steps); steps per second, median of 3
runs after a warm-up, the same thread count as our side.

And the same with pytorch-adapt 0.0.83's DANNHook (Musgrave et al.; the
library that installs beside torch 2.13: `make bench` puts its pinned
packages, bench/requirements-adapt.txt, in .venv/pytorch-adapt without
touching the main environment), with the same nets except that its domain
classifier ends in the one logit its binary cross-entropy expects, its
reversal weight set to DANN's lambda at every step, and its own way of
combining the losses (their mean).
"""
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from common import setup  # noqa: E402

BATCH, EPOCHS, REPEATS = 64, 3, 3


class Reverse(torch.autograd.Function):
    """Identity forward; the gradient times -lambda backward."""

    @staticmethod
    def forward(ctx, x, lam):
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad.neg() * ctx.lam, None


def nets():
    features = nn.Sequential(
        nn.Conv2d(3, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 48, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    classifier = nn.Sequential(
        nn.Linear(768, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10))
    discriminator = nn.Sequential(nn.Linear(768, 100), nn.ReLU(), nn.Linear(100, 2))
    return features, classifier, discriminator


def _batches(n, n_target):
    """The (source, target) index batches of the whole run: the source in a
    seeded shuffle per epoch, the target drawn alongside from its own
    shuffle, reshuffled when it runs out."""
    g_source, g_target = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
    target_order, target_pos = torch.randperm(n_target, generator=g_target), 0
    out = []
    for _ in range(EPOCHS):
        order = torch.randperm(n, generator=g_source)
        for i in range(0, n, BATCH):
            idx = order[i:i + BATCH]
            if target_pos + len(idx) > n_target:
                target_order, target_pos = torch.randperm(n_target, generator=g_target), 0
            out.append((idx, target_order[target_pos:target_pos + len(idx)]))
            target_pos += len(idx)
    return out


def run(source, labels, target):
    """Steps per second of the plain loop."""
    torch.manual_seed(0)
    features, classifier, discriminator = nets()
    params = [*features.parameters(), *classifier.parameters(), *discriminator.parameters()]
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    batches = _batches(len(source), len(target))
    start = time.perf_counter()
    for step, (idx, t_idx) in enumerate(batches):
        xs, ys, xt = source.index_select(0, idx), labels.index_select(0, idx), target.index_select(0, t_idx)
        p = step / len(batches)
        lam = 2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0
        for group in opt.param_groups:
            group["lr"] = 0.01 / (1.0 + 10.0 * p) ** 0.75
        fs, ft = features(xs), features(xt)
        class_loss = F.cross_entropy(classifier(fs), ys)
        d = discriminator(Reverse.apply(torch.cat([fs, ft]), lam))
        domains = torch.cat([torch.zeros(len(fs), dtype=torch.long), torch.ones(len(ft), dtype=torch.long)])
        loss = class_loss + F.cross_entropy(d, domains)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()
    return len(batches) / (time.perf_counter() - start)


def library_run(source, labels, target):
    """Steps per second of pytorch-adapt's DANNHook on the same batches."""
    from pytorch_adapt.hooks import DANNHook
    from pytorch_adapt.layers import GradientReversal

    torch.manual_seed(0)
    features, classifier, discriminator = nets()
    discriminator[-1] = nn.Linear(100, 1)
    discriminator.append(nn.Flatten(0))
    params = [*features.parameters(), *classifier.parameters(), *discriminator.parameters()]
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    hook = DANNHook(opts=[opt], gradient_reversal_weight=1.0)
    reversal = next(m for m in _members(hook) if isinstance(m, GradientReversal))
    models = {"G": features, "C": classifier, "D": discriminator}
    batches = _batches(len(source), len(target))
    start = time.perf_counter()
    for step, (idx, t_idx) in enumerate(batches):
        p = step / len(batches)
        reversal.update_weight(2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0)
        for group in opt.param_groups:
            group["lr"] = 0.01 / (1.0 + 10.0 * p) ** 0.75
        data = {"src_imgs": source.index_select(0, idx), "src_labels": labels.index_select(0, idx),
                "target_imgs": target.index_select(0, t_idx),
                "src_domain": torch.zeros(len(idx)), "target_domain": torch.ones(len(t_idx))}
        hook({**models, **data})
    return len(batches) / (time.perf_counter() - start)


def _members(obj, seen=None):
    """Every pytorch-adapt object reachable from obj's attributes (the
    hook keeps its reversal layer a few wrappers deep)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    yield obj
    for value in vars(obj).values() if hasattr(obj, "__dict__") else ():
        for v in value if isinstance(value, (list, tuple)) else (value,):
            if type(v).__module__.startswith("pytorch_adapt"):
                yield from _members(v, seen)


def main():
    ours, _ = setup(__doc__)
    data = np.load(ours["data"])
    source, labels, target = (torch.from_numpy(data[k]) for k in ("source", "labels", "target"))
    rows = [("deepscope (fit_objective, Method::Dann)", ours["steps_per_second"])]
    run(source, labels, target)
    theirs = statistics.median(run(source, labels, target) for _ in range(REPEATS))
    try:
        library_run(source, labels, target)
        rows.append(("pytorch-adapt 0.0.83 DANNHook",
                     statistics.median(library_run(source, labels, target) for _ in range(REPEATS))))
    except ImportError as e:
        print(f"pytorch-adapt not importable ({e}): `make bench` installs it into .venv/pytorch-adapt")
    rows.append(("PyTorch loop", theirs))
    print(f"DANN on MNIST -> MNIST-M, {ours['threads']} threads (torch {torch.__version__}); "
          f"training steps per second, median of {REPEATS}, and our rate over each")
    for name, rate in rows:
        print(f"{name:<42} {rate:>8.1f} {ours['steps_per_second'] / rate:>8.2f}x")


if __name__ == "__main__":
    main()
