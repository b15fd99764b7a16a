#!/usr/bin/env python3
"""torch.optim reference steps, for tests/train.rs.

Reads init.safetensors (LeNet-5 weights written by deepscope, torchvision-style
names) and batches.safetensors (x0, y0, ... x4, y4), runs five steps of
cross-entropy training with torch.optim.SGD (momentum 0.9, Nesterov, weight
decay 5e-4, lr 0.05) and with torch.optim.Adam (lr 1e-3, weight decay 1e-4),
and writes the weights after each run to sgd.safetensors and adam.safetensors.
"""
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                                        nn.ReLU(), nn.Linear(84, 10))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def run(dir_, make_opt, out_name):
    torch.set_num_threads(2)
    model = LeNet5()
    model.load_state_dict(load_file(dir_ / "init.safetensors"))
    batches = load_file(dir_ / "batches.safetensors")
    opt = make_opt(model.parameters())
    for i in range(5):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(batches[f"x{i}"]), batches[f"y{i}"])
        loss.backward()
        opt.step()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, dir_ / out_name)


def main(d):
    d = Path(d)
    run(d, lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=5e-4, nesterov=True),
        "sgd.safetensors")
    run(d, lambda p: torch.optim.Adam(p, lr=1e-3, weight_decay=1e-4), "adam.safetensors")


if __name__ == "__main__":
    main(sys.argv[1])
