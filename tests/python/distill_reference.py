#!/usr/bin/env python3
"""PyTorch reference for tests/distill.rs: the distillation loss as the
usual PyTorch code writes it, and its gradient with respect to the student
logits.

Reads inputs.safetensors (student [B, K], teacher [B, K] logits, labels
[B]) from the folder given, and writes reference.safetensors with, for each
(T, a) of SETTINGS, loss_<i> [1] and grad_<i> [B, K]:
  (1 - a) * F.cross_entropy(z, y)
    + a * T**2 * F.kl_div(F.log_softmax(z / T, 1), F.softmax(v / T, 1), reduction="batchmean")
"""
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

SETTINGS = [(1.0, 0.0), (4.0, 0.5), (20.0, 1.0), (2.5, 0.9)]


def main(folder):
    folder = Path(folder)
    t = load_file(str(folder / "inputs.safetensors"))
    student, teacher, labels = t["student"], t["teacher"], t["labels"]
    out = {}
    for i, (temperature, alpha) in enumerate(SETTINGS):
        z = student.clone().requires_grad_(True)
        soft = F.kl_div(F.log_softmax(z / temperature, dim=1), F.softmax(teacher / temperature, dim=1),
                        reduction="batchmean")
        loss = (1 - alpha) * F.cross_entropy(z, labels) + alpha * temperature ** 2 * soft
        loss.backward()
        out[f"loss_{i}"] = loss.detach().reshape(1)
        out[f"grad_{i}"] = z.grad
    save_file(out, str(folder / "reference.safetensors"))


if __name__ == "__main__":
    main(sys.argv[1])
