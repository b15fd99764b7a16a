"""PSNR and SSIM of the images a Rust test wrote, by scikit-image.

Usage: quality_reference.py FILE.safetensors  (a, b: RGB [3, H, W]; c, d: gray [1, H, W])
Prints JSON.
"""
import json
import sys

import numpy as np
from safetensors.numpy import load_file
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

t = {k: v.astype(np.float64) for k, v in load_file(sys.argv[1]).items()}
kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0, channel_axis=0)
print(json.dumps({
    "psnr_rgb": peak_signal_noise_ratio(t["b"], t["a"], data_range=1.0),
    "ssim_rgb": structural_similarity(t["a"], t["b"], **kw),
    "psnr_gray": peak_signal_noise_ratio(t["d"], t["c"], data_range=1.0),
    "ssim_gray": structural_similarity(t["c"], t["d"], **kw),
}))
