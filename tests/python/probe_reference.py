#!/usr/bin/env python3
"""scikit-learn reference probes, for tests/transfer_probe.rs.

Reads features.safetensors (x_train [N, D] f64, y_train [N] i64, x_test,
y_test, written by deepscope) and the C of each probe from the command line,
fits LogisticRegression (lbfgs, multinomial) and LinearSVC (squared hinge,
one-vs-rest, liblinear), both with tight tolerances and enough iterations
to converge, and writes probe.json: for each, the test accuracy and the
primal objective of its solution in deepscope's form:
  logistic: C * sum_i CE + 0.5 ||W||^2 (intercepts not penalised)
  svm:      sum_k 0.5 (||w_k||^2 + b_k^2) + C * sum_i max(0, 1 - t_ik s_ik)^2
"""
import json
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from scipy.special import logsumexp
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC


def main(dir_, c_logistic, c_svm):
    t = load_file(str(Path(dir_) / "features.safetensors"))
    x, y, xt, yt = t["x_train"], t["y_train"], t["x_test"], t["y_test"]
    k = int(y.max()) + 1

    lr = LogisticRegression(C=c_logistic, tol=1e-10, max_iter=100_000).fit(x, y)
    z = x @ lr.coef_.T + lr.intercept_
    ce = (logsumexp(z, axis=1) - z[np.arange(len(y)), y]).sum()
    logistic = c_logistic * ce + 0.5 * (lr.coef_ ** 2).sum()

    svm = LinearSVC(C=c_svm, tol=1e-10, max_iter=1_000_000).fit(x, y)
    s = x @ svm.coef_.T + svm.intercept_
    targets = np.where(np.arange(k)[None, :] == y[:, None], 1.0, -1.0)
    slack = np.maximum(0.0, 1.0 - targets * s)
    hinge = 0.5 * ((svm.coef_ ** 2).sum() + (svm.intercept_ ** 2).sum()) + c_svm * (slack ** 2).sum()

    out = {
        "logistic": {"objective": float(logistic), "accuracy": float((lr.predict(xt) == yt).mean())},
        "svm": {"objective": float(hinge), "accuracy": float((svm.predict(xt) == yt).mean())},
    }
    (Path(dir_) / "probe.json").write_text(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]))
