"""Scaling of the ClassStats pass and of the NC metric computation in N, K and D, with the
exponent fitted on a log-log scale (time ~ size^p).

    python benchmarks/bench_scaling.py
"""

from __future__ import annotations

import math
import time

import torch

from collapsekit import ClassStats


def timed(n: int, k: int, d: int) -> tuple[float, float]:
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, k, (n,), generator=g)
    x = torch.randn(n, d, generator=g) + torch.randn(k, d, generator=g)[y]
    s = ClassStats(k, d)
    t0 = time.perf_counter()
    for xb, yb in zip(x.split(4096), y.split(4096), strict=True):
        s.update(xb, yb)
    t1 = time.perf_counter()
    s.neural_collapse()
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def slope(xs: list[int], ts: list[float]) -> float:
    lx = [math.log(v) for v in xs]
    lt = [math.log(max(t, 1e-6)) for t in ts]
    mx, mt = sum(lx) / len(lx), sum(lt) / len(lt)
    return sum((a - mx) * (b - mt) for a, b in zip(lx, lt, strict=True)) / sum(
        (a - mx) ** 2 for a in lx
    )


def main() -> None:
    timed(4096, 10, 64)
    sweeps = {
        "N (K=100, D=256)": ([25_000, 50_000, 100_000, 200_000], lambda v: (v, 100, 256)),
        "K (N=100k, D=256)": ([1_000, 2_000, 4_000, 8_000], lambda v: (100_000, v, 256)),
        "D (N=50k, K=100)": ([128, 256, 512, 1024], lambda v: (50_000, 100, v)),
    }
    for name, (values, shape) in sweeps.items():
        passes, metrics = [], []
        for v in values:
            tp, tm = timed(*shape(v))
            passes.append(tp)
            metrics.append(tm)
        print(f"{name}: sizes {values}")
        print(
            "   pass    s: "
            + " ".join(f"{t:7.3f}" for t in passes)
            + f"   exponent {slope(values, passes):.2f}"
        )
        print(
            "   metrics s: "
            + " ".join(f"{t:7.3f}" for t in metrics)
            + f"   exponent {slope(values, metrics):.2f}"
        )


if __name__ == "__main__":
    main()
