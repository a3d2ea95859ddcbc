"""Exact cosine silhouette in O(N K D) vs sklearn.metrics.silhouette_score (O(N^2 D)).

    python benchmarks/bench_silhouette.py [--sizes 2000 10000 20000 --d 768 --k 10]

For each N and for float32 and float64 input, prints scikit-learn's time on that same array,
collapsekit's time (best of 3) and the speed-up (goal >= 100x at N=20k, D=768, both dtypes).
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
    p.add_argument("--d", type=int, default=768)
    p.add_argument("--k", type=int, default=10)
    a = p.parse_args()
    rng = np.random.default_rng(0)
    print(
        f"{'N':>7s} {'dtype':>8s} {'sklearn s':>10s} {'collapsekit s':>14s} "
        f"{'speed-up':>9s} {'|diff|':>9s}"
    )
    for n in a.sizes:
        y = rng.integers(0, a.k, n)
        x64 = rng.standard_normal((a.k, a.d))[y] + rng.standard_normal((n, a.d))
        for x in (x64.astype(np.float32), x64):
            silhouette(x[:500], y[:500])
            ours_t = []
            for _ in range(3):
                t0 = time.perf_counter()
                ours = silhouette(x, y)
                ours_t.append(time.perf_counter() - t0)
            t1 = time.perf_counter()
            theirs = silhouette_score(x, y, metric="cosine")
            t_sk = time.perf_counter() - t1
            best = min(ours_t)
            print(
                f"{n:7d} {x.dtype.name:>8s} {t_sk:10.3f} {best:14.4f} {t_sk / best:8.0f}x "
                f"{abs(ours - theirs):9.1e}",
                flush=True,
            )


if __name__ == "__main__":
    main()
