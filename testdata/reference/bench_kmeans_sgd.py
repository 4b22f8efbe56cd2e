#!/usr/bin/python3
"""Time scikit-learn on the data BenchmarkKMeans100kx8 and BenchmarkSGD100k use.

    /usr/bin/python3 testdata/reference/bench_kmeans_sgd.py          # scikit-learn only
    /usr/bin/python3 testdata/reference/bench_kmeans_sgd.py --go     # also run the Go
                                                                     # benchmarks, print ratios
Data come from gen_kmeans.py's splitmix64 generator, bit-identical to the Go
side (refBlobs / sgdStream in functions/*_test.go):
  k-means: blobs(100000, 8, 6, 1.0, 2024), KMeans(n_clusters=6, n_init=10)
  SGD:     sgd_stream(100000, 10, 7, 1.0), SGDRegressor() defaults, shuffle=False
Each timing is the median of `--runs` runs (default 3).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import SGDRegressor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_kmeans import blobs  # noqa: E402
from gen_sgd import sgd_stream  # noqa: E402


def timed(fn, runs):
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--go", action="store_true", help="run the Go benchmarks too")
    args = ap.parse_args()

    x = blobs(100000, 8, 6, 1.0, 2024)
    res = {}
    res["kmeans"] = timed(lambda: KMeans(n_clusters=6, n_init=10, random_state=0).fit(x), args.runs)
    print(f"sklearn KMeans 100000x8 k=6 n_init=10 (lloyd): {res['kmeans']*1e3:.1f} ms")
    res["kmeans_elkan"] = timed(
        lambda: KMeans(n_clusters=6, n_init=10, random_state=0, algorithm="elkan").fit(x), args.runs)
    print(f"sklearn KMeans 100000x8 k=6 n_init=10 (elkan): {res['kmeans_elkan']*1e3:.1f} ms")

    xs, ys = sgd_stream(100000, 10, 7, 1.0)

    def per_row():
        m = SGDRegressor(shuffle=False)
        for i in range(xs.shape[0]):
            m.partial_fit(xs[i:i + 1], ys[i:i + 1])

    def batch():
        SGDRegressor(shuffle=False).partial_fit(xs, ys)

    res["sgd_per_row"] = timed(per_row, 1)
    print(f"sklearn SGDRegressor partial_fit loop, 100000 rows one at a time: {res['sgd_per_row']*1e3:.1f} ms")
    res["sgd_batch"] = timed(batch, args.runs)
    print(f"sklearn SGDRegressor one partial_fit over 100000 rows: {res['sgd_batch']*1e3:.2f} ms")

    if not args.go:
        return
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    files = ["functions/errors.go", "functions/kmeans.go", "functions/kmeans_test.go",
             "functions/sgd.go", "functions/sgd_test.go"]
    out = subprocess.run(["go", "test", *files, "-run", "^$", "-bench", "KMeans100kx8|SGD100k",
                          "-benchtime", "5x"], cwd=root, capture_output=True, text=True, check=True).stdout
    go = {m.group(1): float(m.group(2)) / 1e9
          for m in re.finditer(r"^Benchmark(\S+?)-\d+\s+\d+\s+([\d.]+) ns/op", out, re.M)}
    print(out)
    pairs = [("KMeans100kx8/auto", "kmeans", "Go k-means (auto) / sklearn lloyd"),
             ("KMeans100kx8/lloyd", "kmeans", "Go k-means (lloyd) / sklearn lloyd"),
             ("KMeans100kx8/elkan", "kmeans_elkan", "Go k-means (elkan) / sklearn elkan"),
             ("SGD100k/per_row", "sgd_per_row", "Go SGD per row / sklearn partial_fit loop"),
             ("SGD100k/batch", "sgd_per_row", "Go SGD batch / sklearn partial_fit loop"),
             ("SGD100k/batch", "sgd_batch", "Go SGD batch / sklearn one partial_fit")]
    for g, p, label in pairs:
        if g in go:
            r = go[g] / res[p]
            print(f"{label}: {go[g]*1e3:.2f} ms / {res[p]*1e3:.2f} ms = {r:.3f} (speed-up {1/r:.1f}x)")


if __name__ == "__main__":
    main()
