#!/usr/bin/env python3
"""NumPy reference for tests/adapt.rs: the domain-adaptation losses written
from their papers' formulas, in float64, loop by loop where that is
clearest.

Reads inputs.safetensors (source [n, d], target [m, d], shared [n, d1],
private [n, d2], images [n, c, h, w], reconstructions like images) from the
folder given and writes reference.json:
  linear_mmd       ||mean(xs) - mean(xt)||^2                       (DDC)
  mk_mmd_quadratic unbiased U-statistic, kernels exp(-d / s_j)     (DAN)
  mk_mmd_linear    Gretton et al.'s linear-time estimator          (DAN)
  coral            ||C_S - C_T||_F^2 / (4 d^2), covariances over n - 1
  difference       ||H_c^T H_p||_F^2                               (DSN)
  difference_normalized  mean((U_c^T U_p)^2), rows centred over the batch
                   and scaled to unit length (the DSN authors' code)
  si_mse           mean over examples of ||e||^2 / k - (sum e)^2 / k^2
with the kernels' squared bandwidths the median squared distance between
distinct pooled rows times 2^(j - 2), j = 0..4.
"""
import json
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

KERNELS, MULTIPLIER = 5, 2.0


def kernel(x, y, widths):
    d = float(((x - y) ** 2).sum())
    return sum(np.exp(-d / s) for s in widths) / len(widths)


def main(folder):
    folder = Path(folder)
    t = {k: v.astype(np.float64) for k, v in load_file(str(folder / "inputs.safetensors")).items()}
    xs, xt = t["source"], t["target"]
    n, m = len(xs), len(xt)
    pooled = np.concatenate([xs, xt])
    distances = [float(((pooled[i] - pooled[j]) ** 2).sum())
                 for i in range(len(pooled)) for j in range(len(pooled)) if i != j]
    centre = float(np.median(distances))
    widths = [centre * MULTIPLIER ** (j - (KERNELS - 1) / 2) for j in range(KERNELS)]

    ss = sum(kernel(xs[i], xs[j], widths) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    tt = sum(kernel(xt[i], xt[j], widths) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    st = sum(kernel(xs[i], xt[j], widths) for i in range(n) for j in range(m)) / (n * m)
    quadratic = ss + tt - 2 * st

    half = n // 2
    linear = 0.0
    for i in range(half):
        s1, s2, t1, t2 = xs[2 * i], xs[2 * i + 1], xt[2 * i], xt[2 * i + 1]
        linear += kernel(s1, s2, widths) + kernel(t1, t2, widths) - kernel(s1, t2, widths) - kernel(s2, t1, widths)
    linear /= half

    d = xs.shape[1]
    coral = float(((np.cov(xs, rowvar=False) - np.cov(xt, rowvar=False)) ** 2).sum() / (4 * d * d))

    difference = float(((t["shared"].T @ t["private"]) ** 2).sum())

    def unit(h):
        h = h - h.mean(axis=0)
        return h / np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-12)
    difference_normalized = float(np.mean((unit(t["shared"]).T @ unit(t["private"])) ** 2))

    e = (t["images"] - t["reconstructions"]).reshape(len(t["images"]), -1)
    k = e.shape[1]
    si_mse = float(np.mean((e ** 2).sum(axis=1) / k - e.sum(axis=1) ** 2 / k ** 2))

    out = {"linear_mmd": float(((xs.mean(0) - xt.mean(0)) ** 2).sum()), "mk_mmd_quadratic": quadratic,
           "mk_mmd_linear": linear, "coral": coral, "difference": difference,
           "difference_normalized": difference_normalized, "si_mse": si_mse}
    (folder / "reference.json").write_text(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
