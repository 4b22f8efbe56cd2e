#!/usr/bin/python3
"""Reference SGDRegressor results from scikit-learn for functions/sgd_test.go.

Run with Debian's python3-sklearn (1.2.x):  /usr/bin/python3 gen_sgd.py
Writes sgd.json beside this script.

The training stream is regenerated on both sides with gen_kmeans.py's
splitmix64 generator (bit-identical in numpy and Go); sgd.json records a
checksum. Rows are always learned in input order (shuffle=False).
"""
import json
import os
import sys
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDRegressor

from gen_kmeans import checksum, splitmix_uniform


def sgd_stream(n, d, seed, scale):
    """x uniform on [-scale, scale)^d; y = x . w + 0.5 + noise with
    w_j = (j+1)/d * (-1)^j for j < d-1 and w_{d-1} = 0 (a feature L1 should
    drop); noise uniform on [-0.1, 0.1)."""
    u = splitmix_uniform(seed, 0, n * d)
    x = (scale * (2.0 * u - 1.0)).reshape(n, d)
    w = np.array([((j + 1) / d) * (-1.0 if j % 2 else 1.0) for j in range(d)])
    w[d - 1] = 0.0
    noise = 0.2 * splitmix_uniform(seed, n * d, n) - 0.1
    y = np.empty(n)
    for i in range(n):  # fixed summation order, mirrored in Go
        s = 0.0
        for j in range(d):
            s += x[i, j] * w[j]
        y[i] = s + 0.5 + noise[i]
    return x, y


LEARNING_RATES = ["invscaling", "constant", "optimal", "adaptive"]
PENALTIES = ["l2", "l1", "elasticnet", None]


def params(lr, penalty):
    p = dict(learning_rate=lr, penalty=penalty, shuffle=False, random_state=0)
    if lr == "optimal":
        p["alpha"] = 0.1  # 'optimal' starts at eta = 1/(alpha t0) ~ 10 with alpha 1e-4: divergent
    elif penalty in ("l1", "elasticnet"):
        p["alpha"] = 0.01  # large enough that truncation reaches zero
    if lr == "constant" or lr == "adaptive":
        p["eta0"] = 0.05
    return p


def main():
    n, d, seed, scale = 1000, 5, 99, 1.0
    x, y = sgd_stream(n, d, seed, scale)
    cases = []
    warnings.simplefilter("ignore", ConvergenceWarning)
    for lr in LEARNING_RATES:
        for pen in PENALTIES:
            p = params(lr, pen)
            # One partial_fit over the whole stream in order.
            m = SGDRegressor(**p)
            m.partial_fit(x, y)
            cases.append({"mode": "partial_fit", "epochs": 1, "params": p,
                          "coef": m.coef_.tolist(), "intercept": float(m.intercept_[0]), "t": m.t_})
            # fit with several passes: early stopping / adaptive eta decay.
            m = SGDRegressor(max_iter=40, **p)
            m.fit(x, y)
            cases.append({"mode": "fit", "epochs": 40, "params": p, "n_iter": m.n_iter_,
                          "coef": m.coef_.tolist(), "intercept": float(m.intercept_[0]), "t": m.t_})
    # The seed's way: one partial_fit call per sample.
    m = SGDRegressor(shuffle=False)
    for i in range(n):
        m.partial_fit(x[i:i + 1], y[i:i + 1])
    cases.append({"mode": "per_sample", "epochs": 1, "params": {"penalty": "l2", "learning_rate": "invscaling"},
                  "coef": m.coef_.tolist(), "intercept": float(m.intercept_[0]), "t": m.t_})
    out = {"sklearn": sklearn.__version__, "numpy": np.__version__,
           "n": n, "d": d, "seed": seed, "scale": scale,
           "checksum_x": checksum(x), "checksum_y": checksum(y), "cases": cases}
    for c in cases:
        print(c["mode"], c["params"].get("learning_rate"), c["params"].get("penalty"), c.get("n_iter"),
              ["%.4f" % v for v in c["coef"]], "%.4f" % c["intercept"], file=sys.stderr)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sgd.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
