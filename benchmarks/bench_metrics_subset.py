"""``analyze(metrics=MONAI's four indicators)`` alone, cold (baseline simulated), best of R.

    python benchmarks/bench_metrics_subset.py [--repeats 5]

Prints the best wall time and the best process CPU time (all threads) of
``analyze(x, y, metrics=...)`` on the data of ``bench_vs_monai.py`` (N = 5,000, D = 768,
K = 10). Run it alternately from two checkouts (``PYTHONPATH=src``) to compare them: on a busy
machine collapsekit against itself is steadier than against MONAI.
"""

from __future__ import annotations

import argparse
import time

import torch

from collapsekit import analyze
from collapsekit.inference import null_model

MONAI_INDICATORS = [
    "effective_rank_score",
    "centroid_similarity",
    "per_class_effective_rank_min",
    "silhouette",
]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--d", type=int, default=768)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    g = torch.Generator().manual_seed(0)
    warm = torch.randn(300, a.d, generator=g)
    analyze(warm, torch.arange(300) % a.k, bootstrap=0)
    y = torch.randint(0, a.k, (a.n,), generator=g)
    x = torch.randn(a.k, a.d, generator=g)[y] + torch.randn(a.n, a.d, generator=g)
    wall = cpu = float("inf")
    for _ in range(a.repeats):
        null_model._CACHE.clear()  # the first call's cost: baseline simulation included
        c0, t0 = time.process_time(), time.perf_counter()
        analyze(x, y, metrics=MONAI_INDICATORS)
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    threads = torch.get_num_threads()
    print(f"N={a.n} D={a.d} K={a.k} threads={threads}: wall {wall:.3f} s, cpu {cpu:.3f} s")


if __name__ == "__main__":
    main()
