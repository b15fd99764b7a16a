"""Deep Image Prior's "skip" hourglass in plain PyTorch, with the parameter
names of deepscope's `dip::SkipConfig::build` (level{i}.skip.conv, ...):
the reference our net is checked against and the Python side of
`make bench`'s DIP timing. Written from the paper's description
(supplementary Fig. 1), module by module as its code builds it.
"""
import torch
from torch import nn


def conv(cin, cout, k, stride=1, reflect=True):
    pad = (k - 1) // 2
    if reflect:
        return nn.Conv2d(cin, cout, k, stride, padding=pad, padding_mode="reflect")
    return nn.Conv2d(cin, cout, k, stride, padding=pad)


class Level(nn.Module):
    def __init__(self, cfg, i, cin):
        super().__init__()
        act = lambda: nn.LeakyReLU(cfg["slope"])
        d, u, s = cfg["down"][i], cfg["up"][i], cfg["skip"][i]
        self.has_skip = s > 0
        if self.has_skip:
            self.skip = nn.ModuleDict({"conv": conv(cin, s, cfg["skip_k"], reflect=cfg["reflect"]),
                                       "bn": nn.BatchNorm2d(s)})
        stride = 2 if cfg["downsampling"] == "stride" else 1
        self.down = nn.ModuleDict({
            "conv1": conv(cin, d, cfg["down_k"], stride, cfg["reflect"]), "bn1": nn.BatchNorm2d(d),
            "conv2": conv(d, d, cfg["down_k"], reflect=cfg["reflect"]), "bn2": nn.BatchNorm2d(d)})
        self.pool = nn.AvgPool2d(2, 2) if stride == 1 else nn.Identity()
        last = i + 1 == len(cfg["down"])
        self.deeper = None if last else Level(cfg, i + 1, d)
        k = d if last else cfg["up"][i + 1]
        self.up_mode = cfg["upsampling"]
        self.merge = nn.ModuleDict({"bn": nn.BatchNorm2d(s + k)})
        up = {"conv1": conv(s + k, u, cfg["up_k"], reflect=cfg["reflect"]), "bn1": nn.BatchNorm2d(u)}
        if cfg["conv1x1_up"]:
            up.update({"conv2": nn.Conv2d(u, u, 1), "bn2": nn.BatchNorm2d(u)})
        self.up = nn.ModuleDict(up)
        self.act = act()

    def forward(self, x):
        a = self.act
        h = a(self.down["bn1"](self.pool(self.down["conv1"](x))))
        h = a(self.down["bn2"](self.down["conv2"](h)))
        if self.deeper is not None:
            h = self.deeper(h)
        h = nn.functional.interpolate(h, scale_factor=2, mode=self.up_mode,
                                      **({"align_corners": False} if self.up_mode == "bilinear" else {}))
        if self.has_skip:
            h = torch.cat([a(self.skip["bn"](self.skip["conv"](x))), h], 1)
        h = self.merge["bn"](h)
        h = a(self.up["bn1"](self.up["conv1"](h)))
        if "conv2" in self.up:
            h = a(self.up["bn2"](self.up["conv2"](h)))
        return h


class Skip(nn.Module):
    def __init__(self, cfg, out_channels):
        super().__init__()
        self.level0 = Level(cfg, 0, cfg["input_channels"])
        self.out_conv = nn.Conv2d(cfg["up"][0], out_channels, 1)

    def forward(self, x):
        return torch.sigmoid(self.out_conv(self.level0(x)))

    def load_deepscope(self, tensors):
        """Loads a deepscope weights dict (its names: out.weight for the output conv)."""
        renamed = {torch_name(k): v for k, v in tensors.items()}
        missing, unexpected = self.load_state_dict(renamed, strict=False)
        missing = [m for m in missing if not m.endswith("num_batches_tracked")]
        if missing or unexpected:
            raise KeyError(f"missing {missing}, unexpected {unexpected}")


def torch_name(ours):
    """deepscope's `level{i}.rest` is level i of the nest: `level0` + `.deeper` i times."""
    if ours.startswith("out."):
        return "out_conv." + ours[4:]
    head, rest = ours.split(".", 1)
    return "level0" + ".deeper" * int(head[len("level"):]) + "." + rest


PAPER_DEFAULT = dict(input_channels=32, down=[128] * 5, up=[128] * 5, skip=[4] * 5, down_k=3, up_k=3,
                     skip_k=1, upsampling="bilinear", downsampling="stride", reflect=True,
                     conv1x1_up=True, slope=0.2)
CPU = dict(PAPER_DEFAULT, down=[16, 32, 64, 64, 128], up=[16, 32, 64, 64, 128])
