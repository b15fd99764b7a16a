"""Runs the PyTorch twin of the DIP hourglass (dip_skip.py) on the weights
and input a Rust test wrote, in training mode (batch-norm batch statistics),
and writes the output and the gradient of its mean square for comparison.

Usage: dip_reference.py DIR CONFIG_JSON
DIR holds weights.safetensors and input.safetensors; writes output.safetensors.
"""
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).parent))
from dip_skip import Skip  # noqa: E402

d = Path(sys.argv[1])
cfg = json.loads(sys.argv[2])
weights = load_file(d / "weights.safetensors")
x = load_file(d / "input.safetensors")["input"]
net = Skip(cfg, out_channels=int(cfg["out_channels"]))
net.load_deepscope(weights)
net.train()
y = net(x)
(y.square().mean()).backward()
grads = {f"grad.{k}": p.grad for k, p in net.named_parameters()}
save_file({"output": y.detach().contiguous(), "grad.out_conv.weight": grads["grad.out_conv.weight"].contiguous(),
           "grad.level0.down.conv1.weight": grads["grad.level0.down.conv1.weight"].contiguous()},
          d / "output.safetensors")
