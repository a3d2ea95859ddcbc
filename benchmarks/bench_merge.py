"""``Analyzer.merge`` of two Analyzers of K classes against building one of them.

    python benchmarks/bench_merge.py [--k 20000 --d 32 --rows-per-class 4 --repeats 3]

Both Analyzers hold K classes of ``--rows-per-class`` rows (shuffled, batches of 65,536 rows;
more rows than the default 20,000-row sample, so the per-class D x D scatters stream). Build
(every ``update``) and merge are timed alternately in this process, best of ``--repeats``
each, and their ratio printed (goal: merge < 0.5 x build).
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from collapsekit import Analyzer


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--k", type=int, default=20_000)
    p.add_argument("--d", type=int, default=32)
    p.add_argument("--rows-per-class", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    g = torch.Generator().manual_seed(0)
    n = a.k * a.rows_per_class
    y = torch.randperm(n, generator=g) % a.k
    x = torch.randn(n, a.d, generator=g)

    def build() -> Analyzer:
        out = Analyzer()
        for lo in range(0, n, 65_536):
            out.update(x[lo : lo + 65_536], y[lo : lo + 65_536])
        return out

    other = build()
    t_build = t_merge = math.inf
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        mine = build()
        t_build = min(t_build, time.perf_counter() - t0)
        t0 = time.perf_counter()
        mine.merge(other)
        t_merge = min(t_merge, time.perf_counter() - t0)
    print(
        f"K={a.k} D={a.d} N={n} per Analyzer: build {t_build:.3f}s  merge {t_merge:.3f}s  "
        f"merge/build {t_merge / t_build:.2f}x"
    )


if __name__ == "__main__":
    main()
