#!/usr/bin/env python3
"""Reference weights and outputs from torchvision, for tests/weights_torchvision.rs.

For AlexNet, VGG-11 and ResNet-18 with seeded random weights (batch-norm
running statistics randomised too, so buffers matter): the state dict as a
PyTorch .pt file and as safetensors, a fixed input batch and the model's
eval-mode output. Also torch.nn.functional.local_response_norm on a random
tensor, for our LRN.
"""
import sys
from pathlib import Path

import torch
import torchvision
from safetensors.torch import save_file


def main(out_dir):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(2)
    x = torch.randn(2, 3, 224, 224)
    refs = {"input": x}
    for name in ["alexnet", "vgg11", "resnet18"]:
        model = getattr(torchvision.models, name)(weights=None).eval()
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.5, 0.5)
                    m.running_var.uniform_(0.5, 2.0)
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)
            refs[f"{name}.output"] = model(x)
        sd = model.state_dict()
        torch.save(sd, out / f"{name}.pt")
        save_file({k: v.contiguous() for k, v in sd.items()}, out / f"{name}.safetensors")
    lrn_in = torch.randn(3, 7, 5, 4)
    refs["lrn.input"] = lrn_in
    refs["lrn.output"] = torch.nn.functional.local_response_norm(lrn_in, 5, 1e-4, 0.75, 2.0)
    refs["lrn4.output"] = torch.nn.functional.local_response_norm(lrn_in, 4, 0.3, 0.6, 1.0)
    save_file(refs, out / "reference.safetensors")


if __name__ == "__main__":
    main(sys.argv[1])
