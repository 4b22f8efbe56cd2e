#!/usr/bin/python3
"""Time scikit-learn's NMF on a ratings table, for `flywheel bench models`.

    /usr/bin/python3 testdata/reference/bench_nmf_ratings.py ratings.csv [--k 10] [--runs 1] [--max-iter 200]

ratings.csv holds user,item,rating lines (COPY ... TO STDOUT WITH (FORMAT csv)),
e.g. the demo's fact_ratings. Users and items become matrix rows and columns in
key order, as Flywheel's recommend(method => 'nmf') and flywheel.train do, and
the matrix stays sparse (CSR). The fit is NMF(n_components=k, init='nndsvda',
random_state=0) with scikit-learn's other defaults (cd solver, tol 1e-4,
max_iter 200), the options Flywheel uses. Prints one JSON line: the best fit
time in ms, n_iter, reconstruction_err, the matrix's shape and nonzeros.
"""
import argparse
import json
import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import NMF
from sklearn.exceptions import ConvergenceWarning


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--max-iter", type=int, default=200)
    args = ap.parse_args()
    data = np.loadtxt(args.csv, delimiter=",", dtype=np.float64, ndmin=2)
    users, rows = np.unique(data[:, 0], return_inverse=True)
    items, cols = np.unique(data[:, 1], return_inverse=True)
    X = sp.csr_matrix((data[:, 2], (rows, cols)), shape=(len(users), len(items)))
    best, model = None, None
    for _ in range(args.runs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            m = NMF(n_components=args.k, init="nndsvda", random_state=0, max_iter=args.max_iter)
            t0 = time.perf_counter()
            m.fit_transform(X)
            t = time.perf_counter() - t0
        if best is None or t < best:
            best, model = t, m
    print(json.dumps({"ms": best * 1e3, "n_iter": int(model.n_iter_), "reconstruction_err": float(model.reconstruction_err_),
                      "rows": X.shape[0], "cols": X.shape[1], "nnz": int(X.nnz)}))


if __name__ == "__main__":
    main()
