#!/usr/bin/python3
"""Reference k-means results from scikit-learn for functions/kmeans_test.go.

Run with Debian's python3-sklearn (1.2.x):  /usr/bin/python3 gen_kmeans.py
Writes kmeans.json beside this script.

The data are not stored: both sides regenerate them with the counter-based
splitmix64 generator below (integer mixing, then a few float additions in a
fixed order), which gives bit-identical values in numpy and in Go. The JSON
records a checksum of each data set so the Go test can prove it has the same
numbers.
"""
import json
import os
import sys

import numpy as np
import sklearn
from sklearn.cluster import KMeans
from sklearn.preprocessing import MinMaxScaler, StandardScaler

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
SQRT3 = 1.7320508075688772


def splitmix_uniform(seed, start, count):
    """Uniforms in [0, 1): value i is splitmix64(seed + (start+i+1)*golden) >> 11 * 2^-53."""
    with np.errstate(over="ignore"):
        i = np.arange(start + 1, start + count + 1, dtype=np.uint64)
        z = np.uint64(seed) + i * GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def blobs(n, d, centers, std, seed):
    """n rows of d features around `centers` centres drawn from [-10, 10)^d;
    row i belongs to centre i % centers; noise is Irwin-Hall(4) scaled to
    variance std^2. std = 0 gives uniform data on [-10, 10)^d instead."""
    if std == 0:
        return -10.0 + 20.0 * splitmix_uniform(seed, 0, n * d).reshape(n, d)
    c = -10.0 + 20.0 * splitmix_uniform(seed, 0, centers * d).reshape(centers, d)
    u = splitmix_uniform(seed, centers * d, n * d * 4).reshape(n * d, 4)
    noise = ((((u[:, 0] + u[:, 1]) + u[:, 2]) + u[:, 3]) - 2.0) * SQRT3
    noise = noise.reshape(n, d)
    lab = np.arange(n) % centers
    return c[lab] + std * noise


def checksum(x):
    """Sum of value * (1 + index mod 7), in row-major order, sequentially."""
    flat = x.ravel()
    w = 1.0 + (np.arange(flat.size) % 7)
    s = 0.0
    for v in (flat * w).tolist():
        s += v
    return s


CASES = [
    # name, n, d, true centres, std, seed, k, scale
    ("blobs4_k4", 2000, 5, 4, 1.0, 1, 4, "none"),
    ("blobs6_k6_overlap", 2000, 5, 6, 3.0, 2, 6, "none"),
    ("blobs8_k8_overlap", 2000, 5, 8, 4.0, 3, 8, "none"),
    ("blobs5_k7_split", 2000, 5, 5, 2.0, 4, 7, "none"),
    ("blobs6_k5_merge", 2000, 5, 6, 2.5, 5, 5, "none"),
    ("blobs6_k6_standard", 2000, 5, 6, 3.0, 6, 6, "standard"),
    ("blobs6_k6_minmax", 2000, 5, 6, 3.0, 7, 6, "minmax"),
    ("uniform_k5", 2000, 5, 1, 0.0, 8, 5, "none"),
]


def main():
    out = {"sklearn": sklearn.__version__, "numpy": np.__version__, "cases": []}
    for name, n, d, centers, std, seed, k, scale in CASES:
        x = blobs(n, d, centers, std, seed)
        xs = x
        if scale == "standard":
            xs = StandardScaler().fit_transform(x)
        elif scale == "minmax":
            xs = MinMaxScaler().fit_transform(x)
        res = {}
        for alg in ("lloyd", "elkan"):
            inert = []
            for rs in range(5):
                km = KMeans(n_clusters=k, n_init=10, random_state=rs, algorithm=alg).fit(xs)
                inert.append(float(km.inertia_))
            res[alg] = inert
        out["cases"].append({
            "name": name, "n": n, "d": d, "centers": centers, "std": std, "seed": seed,
            "k": k, "scale": scale, "n_init": 10, "checksum": checksum(x),
            # inertia for random_state 0..4 (each with n_init=10)
            "inertia_lloyd": res["lloyd"], "inertia_elkan": res["elkan"],
        })
        print(name, min(res["lloyd"]), max(res["lloyd"]), file=sys.stderr)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kmeans.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
