#!/usr/bin/env python3
"""Transfer speed: scikit-learn, openTSNE and a PyTorch forward-hook loop on
the inputs benches/transfer.rs wrote to target/bench-transfer/, and the
comparison table (`make bench`).

- Probes: LogisticRegression (lbfgs) and LinearSVC at C = 1, tol 1e-4 (the
  defaults), iterations unbounded in practice; the median of as many fits
  as our side made (3, or 1 for the SVM on 5,000 x 4,096). Where there are
  fewer examples than features (LinearSVC then solves the dual), our SVM
  is compared twice with the same LinearSVC fits: ours in the primal
  (svm) and by dual coordinate descent (svm_dual). Each
  side's objective is reported in deepscope's unscaled form, so that a
  faster time at a higher objective shows as what it is.
- t-SNE: openTSNE (its defaults: FFT gradients, PCA start) and
  scikit-learn's TSNE (Barnes-Hut, theta 0.5), perplexity 30, 1,000
  iterations of which 250 exaggerated, learning rate N/12; one run each.
  Every embedding's KL divergence is measured here by one exact
  computation (scikit-learn's P at perplexity 30 over all points).
- Features: torchvision-style nn.Sequential ZFNet with a forward hook on
  relu7, eval mode, no_grad, batches of 250; median of 3 after a warm-up.

The same thread count as our side (torch and the BLAS under numpy).
"""
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file
from scipy.special import logsumexp
from sklearn.linear_model import LogisticRegression
from sklearn.manifold import TSNE as SkTSNE
from sklearn.manifold._t_sne import _joint_probabilities, _kl_divergence
from sklearn.metrics import pairwise_distances
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).parent))
from common import setup, time_and_peak  # noqa: E402
from train_speed import zfnet  # noqa: E402

FOLDER = Path(__file__).resolve().parent.parent / "target" / "bench-transfer"
REPEATS = 3
C = 1.0
TOL = 1e-4


def median_of(f, repeats=REPEATS):
    runs = [time_and_peak(f) for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), runs[-1][2]


def logistic_objective(model, x, y):
    z = x @ model.coef_.T + model.intercept_
    ce = (logsumexp(z, axis=1) - z[np.arange(len(y)), y]).sum()
    return C * ce + 0.5 * (model.coef_ ** 2).sum()


def svm_objective(model, x, y):
    s = x @ model.coef_.T + model.intercept_
    t = np.where(np.arange(s.shape[1])[None, :] == y[:, None], 1.0, -1.0)
    slack = np.maximum(0.0, 1.0 - t * s)
    return 0.5 * ((model.coef_ ** 2).sum() + (model.intercept_ ** 2).sum()) + C * (slack ** 2).sum()


def probes(name, ours):
    t = load_file(str(FOLDER / f"{name}.safetensors"))
    x, y, xt, yt = t["x_train"], t["y_train"], t["x_test"], t["y_test"]
    out = {}
    for key, make, objective in [
        ("logistic", lambda: LogisticRegression(C=C, tol=TOL, max_iter=100_000), logistic_objective),
        ("svm", lambda: LinearSVC(C=C, tol=TOL, max_iter=1_000_000), svm_objective),
    ]:
        seconds, model = median_of(lambda: make().fit(x, y), ours[key]["runs"])
        out[key] = {"seconds": seconds, "accuracy": float((model.predict(xt) == yt).mean()),
                    "objective": float(objective(model, x, y))}
    return out


def exact_kl(p, embedding):
    """KL(P || Q) of an embedding, Q the Student-t of its points."""
    y = np.ascontiguousarray(embedding, dtype=np.float64)
    kl, _ = _kl_divergence(y.ravel(), p, 1, y.shape[0], 2, compute_error=True)
    return float(kl)


def tsne(ours, threads):
    t = load_file(str(FOLDER / "tsne.safetensors"))
    x = t["x"].astype(np.float64)
    n = x.shape[0]
    lr = ours["learning_rate"]
    from openTSNE import TSNE as OpenTSNE

    open_s, _, open_y = time_and_peak(lambda: np.asarray(OpenTSNE(
        perplexity=30, early_exaggeration_iter=250, n_iter=750, learning_rate=lr,
        n_jobs=threads, random_state=0).fit(x)))
    sk_s, _, sk_y = time_and_peak(lambda: SkTSNE(
        perplexity=30, max_iter=1000, learning_rate=lr, method="barnes_hut", angle=0.5,
        random_state=0, n_jobs=threads).fit_transform(x))
    p = _joint_probabilities(pairwise_distances(x, squared=True), 30.0, 0)
    return {"points": n, "ours_kl": exact_kl(p, t["ours"]),
            "openTSNE": {"seconds": open_s, "kl": exact_kl(p, open_y)},
            "scikit-learn": {"seconds": sk_s, "kl": exact_kl(p, sk_y)}}


def features():
    images = torch.from_numpy(load_file(str(FOLDER / "features.safetensors"))["images"])
    net = zfnet().eval()
    relu7 = net[20]
    assert isinstance(relu7, torch.nn.ReLU) and isinstance(net[19], torch.nn.Linear)
    caught = []
    relu7.register_forward_hook(lambda _m, _i, out: caught.append(out))

    def run():
        caught.clear()
        with torch.no_grad():
            for batch in images.split(250):
                net(batch)
        return torch.cat(caught)

    run()
    seconds, f = median_of(run)
    return {"seconds": seconds, "dimension": f.shape[1]}


def main():
    ours, _ = setup(__doc__)
    with threadpool_limits(ours["threads"]):
        theirs = {"probe_1024": probes("probe-1024", ours["probe_1024"]),
                  "probe_4096": probes("probe-4096", ours["probe_4096"]),
                  "probe_few": probes("probe-few", ours["probe_few"]),
                  "tsne": tsne(ours["tsne"], ours["threads"]), "features": features()}

    print(f"transfer, {ours['threads']} threads (torch {torch.__version__}); "
          f"objective: C * sum of losses + penalty (lower is closer to the minimum)")
    print(f"{'work':<34} {'deepscope':>30} {'Python':>42} {'speed ratio':>12}")
    for key, label in [("probe_1024", "20,000 x 1,024"), ("probe_4096", "5,000 x 4,096"),
                       ("probe_few", "1,000 x 4,096")]:
        rows = [("logistic", "logistic", "LogisticRegression"), ("svm", "svm", "LinearSVC")]
        if "svm_dual" in ours[key]:
            # Ours by dual coordinate descent, LinearSVC's own algorithm there.
            rows.append(("svm_dual", "svm", "LinearSVC"))
        for kind, their_kind, tool in rows:
            a, b = ours[key][kind], theirs[key][their_kind]
            print(f"{kind + ' ' + label:<34} {a['seconds']:>7.2f} s {100 * a['accuracy']:>5.1f}% {a['objective']:>12.4f} "
                  f"{b['seconds']:>7.2f} s {100 * b['accuracy']:>5.1f}% {b['objective']:>12.4f} {tool:>11} "
                  f"{b['seconds'] / a['seconds']:>8.2f}x")
    t, o = ours["tsne"], theirs["tsne"]
    print(f"t-SNE {t['points']:,} x 50 (KL measured exactly; ours by our own code: {t['kl']:.4f})")
    for tool in ["openTSNE", "scikit-learn"]:
        print(f"{'  vs ' + tool:<34} {t['seconds']:>7.1f} s KL {o['ours_kl']:.4f} {'':>9} "
              f"{o[tool]['seconds']:>7.1f} s KL {o[tool]['kl']:.4f} {'':>19} {o[tool]['seconds'] / t['seconds']:>8.2f}x")
    f, g = ours["features"], theirs["features"]
    print(f"{'relu7 of ' + str(f['images']) + ' images (ZFNet 64px)':<34} {f['seconds']:>7.3f} s {'':>21} "
          f"{g['seconds']:>7.3f} s (forward hook) {'':>12} {g['seconds'] / f['seconds']:>8.2f}x")


if __name__ == "__main__":
    main()
