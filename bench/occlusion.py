#!/usr/bin/env python3
"""Occlusion and deconvnet speed: Captum on the same work as
benches/occlusion.rs, and the comparison table (`make bench`).

- Occlusion of one image with Captum's `Occlusion.attribute` (zero
  baseline, target class 0) at its best `perturbations_per_eval` (each of
  PPE timed once, the fastest then measured like ours): torchvision's ResNet-18 at 224x224 (random weights), window
  15, stride 8; the ZFNet-style net at 64x64, window 16, stride 2.
- Deconvnet: Captum's `NeuronDeconvolution` on the ZFNet's relu5 for 9
  maps x 9 images at each map's strongest position (found beforehand, not
  timed), called once per neuron, and (its fairest use) once per map with
  the 9 images batched and a selector that picks each image's position.

Median of 3 runs after a warm-up, the same libtorch and thread count as our
side; memory is the peak resident memory above what was resident before.
"""
import statistics
import sys
from pathlib import Path

import torch
import torchvision
from captum.attr import NeuronDeconvolution, Occlusion

sys.path.insert(0, str(Path(__file__).parent))
from common import setup, time_and_peak  # noqa: E402
from train_speed import zfnet  # noqa: E402

PPE = (1, 16, 64)
REPEATS = 3


def measure(f):
    f()
    runs = [time_and_peak(f) for _ in range(REPEATS)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def captum_occlusion(model, image, window, stride):
    """(seconds, peak bytes, perturbations_per_eval) at the fastest setting."""
    occ = Occlusion(model)
    x = image.unsqueeze(0)
    c = x.shape[1]
    def run(ppe):
        return occ.attribute(x, sliding_window_shapes=(c, window, window), strides=(c, stride, stride),
                             target=0, baselines=0.0, perturbations_per_eval=ppe)

    run(PPE[0])
    trial = {ppe: time_and_peak(lambda: run(ppe))[0] for ppe in PPE}
    best = min(trial, key=trial.get)
    seconds, peak = measure(lambda: run(best))
    return seconds, peak, best


def main():
    ours, _ = setup(__doc__)
    torch.manual_seed(0)
    with torch.no_grad():
        photo = torch.rand(3, 224, 224)
        digits = torch.rand(9, 1, 64, 64)
    resnet = torchvision.models.resnet18(weights=None).eval()
    zf = zfnet().eval()
    res = captum_occlusion(resnet, photo, 15, 8)
    zfo = captum_occlusion(zf, digits[0], 16, 2)

    relu5 = zf[13]
    assert isinstance(relu5, torch.nn.ReLU)
    with torch.no_grad():
        act = zf[:14](digits)
    neurons = []
    for i in range(9):
        for m in range(9):
            flat = int(act[i, m].argmax())
            neurons.append((i, (m, flat // act.shape[3], flat % act.shape[3])))
    deconv = NeuronDeconvolution(zf, relu5)

    def run_deconv():
        for i, neuron in neurons:
            deconv.attribute(digits[i:i + 1], neuron_selector=neuron)

    dec_s, dec_peak = measure(run_deconv)
    dec_rate = len(neurons) / dec_s

    # Captum's fairest use: one call per map, all 9 images at once, the
    # selector picking each image's own strongest position.
    by_map = {}
    for i, (m, y, x) in neurons:
        by_map.setdefault(m, []).append((i, y, x))

    def run_deconv_batched():
        for m, picks in by_map.items():
            idx = torch.tensor([p[0] for p in picks])
            ys = torch.tensor([p[1] for p in picks])
            xs = torch.tensor([p[2] for p in picks])
            rows = torch.arange(len(picks))
            deconv.attribute(digits[idx], neuron_selector=lambda out: out[rows, m, ys, xs])

    bat_s, bat_peak = measure(run_deconv_batched)
    bat_rate = len(neurons) / bat_s

    mib = lambda b: b / 2**20
    print(f"occlusion and deconvnet, {ours['threads']} threads (torch {torch.__version__}); "
          f"median of {REPEATS} runs; memory = peak resident above the start")
    print(f"{'work':<38} {'deepscope':>20} {'Captum':>26} {'speed ratio':>12}")
    for name, key, theirs in [("occlusion ResNet-18 224px w15 s8", "resnet18", res),
                              ("  same, full recomputation", "resnet18_full", res),
                              ("occlusion ZFNet 64px w16 s2", "zfnet", zfo),
                              ("  same, full recomputation", "zfnet_full", zfo)]:
        s, m = ours[key]["seconds"], ours[key]["peak_bytes"]
        print(f"{name:<38} {s:>8.3f} s {mib(m):>7.0f} MiB {theirs[0]:>8.3f} s {mib(theirs[1]):>6.0f} MiB "
              f"(ppe {theirs[2]:>3}) {theirs[0] / s:>8.2f}x")
    for name, key in [("  ResNet-18, approximate", "resnet18_approx"), ("  ZFNet, approximate", "zfnet_approx")]:
        a = ours[key]
        theirs = res if key.startswith("resnet") else zfo
        print(f"{name + ' ' + str(ours['approximate']):<38} {a['seconds']:>8.3f} s {mib(a['peak_bytes']):>7.0f} MiB "
              f"{theirs[0]:>8.3f} s {'':>20} {theirs[0] / a['seconds']:>8.2f}x  "
              f"(error: max |dp| / range {a['relative']:.3f}, SSIM {a['ssim']:.4f})")
    d = ours["deconv"]
    print(f"{'deconvnet ZFNet relu5, 9 maps x 9 images':<38} {d['per_second']:>8.0f} /s {mib(d['peak_bytes']):>5.0f} MiB "
          f"{dec_rate:>8.0f} /s {mib(dec_peak):>6.0f} MiB {'':>9} {d['per_second'] / dec_rate:>8.2f}x")
    print(f"{'  same, Captum one call per map':<38} {d['per_second']:>8.0f} /s {'':>9} "
          f"{bat_rate:>8.0f} /s {mib(bat_peak):>6.0f} MiB {'':>9} {d['per_second'] / bat_rate:>8.2f}x")


if __name__ == "__main__":
    main()
