#!/usr/bin/python3
"""Time statsmodels 0.13 ExponentialSmoothing on the series BenchmarkHolt500x48 uses.

    /usr/bin/python3 testdata/reference/bench_holt.py

500 monthly series of 48 points (functions/holt_bench_test.go generates the
same series with the same splitmix64/Box-Muller recipe), each fitted twice:
Holt-Winters additive trend + additive seasonal (period 12) and Holt's
linear trend, then forecast 12 steps. Prints seconds per model and writes
testdata/reference/holt_bench.json with statsmodels' SSE of every fit, so
the Go tests can hold Flywheel's SSE at or below it on all 1000 fits.
Single-threaded: statsmodels fits one series at a time.
"""
import json
import math
import os
import sys
import time
import warnings

import numpy as np
from statsmodels.tsa.holtwinters import ExponentialSmoothing

warnings.simplefilter("ignore")
HERE = os.path.dirname(os.path.abspath(__file__))
MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def uniform(self):
        return (self.next() >> 11) * 2.0 ** -53

    def normal(self):
        u1, u2 = self.uniform(), self.uniform()
        return math.sqrt(-2 * math.log(1 - u1)) * math.cos(2 * math.pi * u2)


def bench_series(i, n=48):
    r = SplitMix64(1000003 * (i + 1))
    level = 100 + 50 * r.uniform()
    slope = -0.5 + 2 * r.uniform()
    amp = 5 + 20 * r.uniform()
    phase = 2 * math.pi * r.uniform()
    sd = 1 + 4 * r.uniform()
    return np.array([level + slope * t + amp * math.sin(2 * math.pi * t / 12 + phase) + sd * r.normal()
                     for t in range(n)])


MODELS = {
    "hw_add_12": dict(trend="add", seasonal="add", seasonal_periods=12),
    "holt_linear": dict(trend="add"),
}


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    series = [bench_series(i) for i in range(count)]
    out = dict(generator="testdata/reference/bench_holt.py", series=count, points=48)
    for name, kw in MODELS.items():
        sse = []
        t0 = time.perf_counter()
        for y in series:
            res = ExponentialSmoothing(y, **kw).fit()
            res.forecast(12)
            sse.append(float(res.sse))
        dt = time.perf_counter() - t0
        print(f"statsmodels {name}: {count} series in {dt:.3f} s ({dt / count * 1e3:.2f} ms/series)")
        out[name] = dict(seconds=dt, sse=sse)
    out["first_values"] = [float(v) for v in series[0][:3]]
    with open(os.path.join(HERE, "holt_bench.json"), "w") as f:
        json.dump(out, f)
        f.write("\n")


if __name__ == "__main__":
    main()
