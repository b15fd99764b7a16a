#!/usr/bin/env python3
"""Reference model summaries from torchinfo, for tests/architectures.rs.

For torchvision's AlexNet, VGG-16, ResNet-18 and GoogLeNet (without the
auxiliary classifiers), one 3x224x224 example: torchinfo's parameter count
and mult-adds, and the parameter count PyTorch itself gives. Written as
JSON to the path given.
"""
import json
import sys

import torch
import torchvision
from torchinfo import summary


def main(out_path):
    torch.set_num_threads(2)
    models = {
        "alexnet": torchvision.models.alexnet(weights=None),
        "vgg16": torchvision.models.vgg16(weights=None),
        "resnet18": torchvision.models.resnet18(weights=None),
        "googlenet": torchvision.models.googlenet(weights=None, aux_logits=False,
                                                  init_weights=False),
    }
    refs = {}
    for name, model in models.items():
        s = summary(model.eval(), input_size=(1, 3, 224, 224), verbose=0)
        refs[name] = {
            "torchinfo_params": s.total_params,
            "torchinfo_mult_adds": s.total_mult_adds,
            "parameters": sum(p.numel() for p in model.parameters()),
        }
    with open(out_path, "w") as f:
        json.dump(refs, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
