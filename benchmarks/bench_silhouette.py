"""Exact cosine silhouette in O(N K D) vs sklearn.metrics.silhouette_score (O(N^2 D)).

python benchmarks/bench_silhouette.py [--sizes 2000 10000 20000 --d 128 --k 10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import silhouette_score

from collapsekit.functional import silhouette


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000, 20000])
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--k", type=int, default=10)
    a = p.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'N':>7s} {'sklearn s':>10s} {'collapsekit s':>14s} {'speed-up':>9s} {'|diff|':>9s}")
    for n in a.sizes:
        y = rng.integers(0, a.k, n)
        x = (rng.standard_normal((a.k, a.d))[y] + rng.standard_normal((n, a.d))).astype(np.float32)
        silhouette(x[:500], y[:500])
        t0 = time.perf_counter()
        ours = silhouette(x, y)
        t1 = time.perf_counter()
        theirs = silhouette_score(x.astype(np.float64), y, metric="cosine")
        t2 = time.perf_counter()
        ratio, diff = (t2 - t1) / (t1 - t0), abs(ours - theirs)
        print(f"{n:7d} {t2 - t1:10.3f} {t1 - t0:14.4f} {ratio:8.0f}x {diff:9.1e}")


if __name__ == "__main__":
    main()
