#!/usr/bin/env python3
"""openTSNE reference embedding, for tests/transfer.rs.

Reads tsne.safetensors (x [N, D] f64, y [N] class labels and ours [N, 2],
deepscope's embedding) and the perplexity, embeds x with openTSNE (Barnes-Hut, theta
0.5, 250 exaggerated iterations then 750, as the original code), and writes
tsne.json: for each embedding the exact KL divergence (scikit-learn's
perplexity-calibrated, symmetrised P against the Student-t Q) and, as
scikit-learn computes it, the trustworthiness with k = 5 and 12; and for
ours the leave-one-out accuracy of scikit-learn's KNeighborsClassifier with
k = 5 and 12 (each point classified by its k nearest other points).
"""
import json
import sys
from pathlib import Path

import numpy as np

from openTSNE import TSNE
from safetensors.numpy import load_file
from scipy.spatial.distance import squareform
from sklearn.manifold import trustworthiness
from sklearn.manifold._t_sne import _joint_probabilities
from sklearn.metrics import pairwise_distances
from sklearn.neighbors import KNeighborsClassifier


def exact_kl(p, y):
    d = pairwise_distances(y, squared=True)
    q = 1.0 / (1.0 + d)
    np.fill_diagonal(q, 0.0)
    q = np.maximum(q / q.sum(), np.finfo(np.double).eps)
    off = ~np.eye(len(y), dtype=bool)
    return float((p[off] * np.log(p[off] / q[off])).sum())


def main(dir_, perplexity):
    t = load_file(str(Path(dir_) / "tsne.safetensors"))
    x, y, ours = t["x"], t["y"], t["ours"]
    emb = TSNE(
        perplexity=perplexity,
        n_iter=750,
        early_exaggeration_iter=250,
        negative_gradient_method="bh",
        theta=0.5,
        random_state=0,
        n_jobs=1,
    ).fit(x)
    p = squareform(_joint_probabilities(pairwise_distances(x, squared=True), perplexity, 0))
    out = {"kl_ours": exact_kl(p, ours), "kl_theirs": exact_kl(p, np.asarray(emb))}
    for k in (5, 12):
        out[f"trust_{k}_theirs"] = float(trustworthiness(x, emb, n_neighbors=k))
        out[f"trust_{k}_ours"] = float(trustworthiness(x, ours, n_neighbors=k))
        # Leave one out: fit on the other points, predict the one left.
        hits = 0
        for i in range(len(y)):
            rest = np.arange(len(y)) != i
            knn = KNeighborsClassifier(n_neighbors=k).fit(ours[rest], y[rest])
            hits += int(knn.predict(ours[i : i + 1])[0] == y[i])
        out[f"knn_{k}_ours"] = hits / len(y)
    (Path(dir_) / "tsne.json").write_text(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
