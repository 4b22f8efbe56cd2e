#!/usr/bin/python3
"""Time scikit-learn / numpy on the data the Go benchmarks of NMF, TF-IDF and
user CF use, and (with --go) run those benchmarks and print the ratios.

    /usr/bin/python3 testdata/reference/bench_nmf_tfidf_cf.py          # Python only
    /usr/bin/python3 testdata/reference/bench_nmf_tfidf_cf.py --go     # also Go, ratios

Data come from gen_nmf_tfidf_cf.py's generators, bit-identical to the Go side
(ratingsData / corpusData in functions/*_test.go):
  NMF:    ratings(943, 1682, 100000, 42) as a 943x1682 matrix, NMF(n_components=10,
          init='nndsvda', random_state=0), CSR and dense input (the faster counts)
  TF-IDF: corpus(20000, 5000, 7), TfidfVectorizer(stop_words='english').fit_transform;
          a top-10 query = one row of X @ X.T plus a stable argsort, as the Go
          TopN answers it (same semantics: self excluded, ties by input order)
  CF:     one user's top 10 with 20 neighbours on the dense 943x1682 matrix:
          cosine_similarity of the user's row to all, stable argsort, mean of the
          neighbours' rows, stable argsort of the unrated items
Each timing is the best of `--runs` runs (default 3; NMF runs once per input).
"""
import argparse
import os
import re
import subprocess
import sys
import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import NMF
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_nmf_tfidf_cf import corpus, ratings  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def best(fn, runs):
    times = []
    out = None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--go", action="store_true", help="run the Go benchmarks too and print ratios")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    py = {}

    users, items, vals = ratings(943, 1682, 100000, 42)
    X = sp.csr_matrix((np.array(vals, dtype=float), (users, items)), shape=(943, 1682))
    for name, data in [("csr", X), ("dense", X.toarray())]:
        def fit(data=data):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                m = NMF(n_components=10, init="nndsvda", random_state=0)
                m.fit_transform(data)
            return m
        t, m = best(fit, 1)
        print(f"sklearn NMF 943x1682 k=10 ({name}): {t*1e3:.1f} ms, n_iter {m.n_iter_}, error {m.reconstruction_err_:.6f}")
        py["nmf_" + name] = t
    py["nmf"] = min(py["nmf_csr"], py["nmf_dense"])

    docs = corpus(20000, 5000, 7)
    t, v = best(lambda: TfidfVectorizer(stop_words="english").fit(docs), args.runs)
    t, Xt = best(lambda: TfidfVectorizer(stop_words="english").fit_transform(docs), args.runs)
    print(f"sklearn TfidfVectorizer 20,000 docs: {t*1e3:.1f} ms ({Xt.shape[1]} terms)")
    py["tfidf"] = t
    XtT = Xt.T.tocsr()
    queries = [(i * 7919) % 20000 for i in range(200)]

    def top10():
        for q in queries:
            s = (Xt[q] @ XtT).toarray().ravel()
            order = np.argsort(-s, kind="stable")
            [j for j in order[:11] if j != q][:10]
    t, _ = best(top10, args.runs)
    print(f"numpy/scipy top-10 query over 20,000 docs: {t/len(queries)*1e6:.0f} us/query")
    py["top10"] = t / len(queries)

    R = X.toarray()
    rated = R != 0

    def cf():
        for u in range(0, 943, 10):
            sims = cosine_similarity(R[u:u + 1], R).ravel()
            nb = [v for v in np.argsort(-sims, kind="stable") if v != u][:20]
            mean = R[nb].mean(axis=0)
            [i for i in np.argsort(-mean, kind="stable") if not rated[u, i]][:10]
    t, _ = best(cf, args.runs)
    print(f"numpy/sklearn user-CF one user (943x1682, 20 neighbours): {t/95*1e6:.0f} us/user")
    py["cf"] = t / 95

    if not args.go:
        return
    out = subprocess.run(
        ["go", "test", "./functions/", "-run", "^$", "-bench",
         "^(BenchmarkNMF943x1682|BenchmarkTfidfVectorize20k|BenchmarkTfidfTop10|BenchmarkUserCFRecommend|BenchmarkUserCFIndex)$",
         "-benchtime", "3x", "-count", "1"],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout
    print(out)
    go = {}
    for line in out.splitlines():
        m = re.match(r"Benchmark(\w+?)(-\d+)?\s+\d+\s+([\d.]+) ns/op", line)
        if m:
            go[m.group(1)] = float(m.group(3)) / 1e9
    pairs = [("NMF943x1682", "nmf"), ("TfidfVectorize20k", "tfidf"), ("TfidfTop10", "top10"), ("UserCFRecommend", "cf")]
    for g, p in pairs:
        if g in go:
            print(f"{g:20s} Go {go[g]*1e3:10.3f} ms  Python {py[p]*1e3:10.3f} ms  Go/Python {go[g]/py[p]:.3f}")
    if "UserCFIndex" in go:
        print(f"{'UserCFIndex':20s} Go {go['UserCFIndex']*1e3:10.3f} ms  (index build per recommend() call)")


if __name__ == "__main__":
    main()
