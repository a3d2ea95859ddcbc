"""Where analyze() spends its time: cumulative seconds per kernel (cProfile), one process.

    python benchmarks/profile_analyze.py [--n 2000 --d 768 --k 10] [--reference]

Prints the whole call's time and the cumulative time of each collapsekit function that
``analyze`` calls, largest first (a function that calls another includes its time).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import torch

from collapsekit import analyze
from collapsekit.inference import null_model


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--d", type=int, default=768)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--reference", action="store_true", help="add a paired target domain")
    p.add_argument("--top", type=int, default=18)
    a = p.parse_args()
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, a.k, (a.n,), generator=g)
    x = torch.randn(a.k, a.d, generator=g)[y] + torch.randn(a.n, a.d, generator=g)
    ref = x @ torch.randn(a.d, a.d, generator=g) / a.d**0.5 if a.reference else None
    analyze(x[:300], y[:300], reference=None if ref is None else ref[:300], bootstrap=0)
    null_model._CACHE.clear()
    t0 = time.perf_counter()
    analyze(x, y, reference=ref, bootstrap=0)
    total = time.perf_counter() - t0
    null_model._CACHE.clear()  # profile the first-call cost: the baseline simulation included
    prof = cProfile.Profile()
    prof.enable()
    analyze(x, y, reference=ref, bootstrap=0)
    prof.disable()
    stats = pstats.Stats(prof)
    rows = []
    for (path, _line, func), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if "collapsekit" in path and func != "analyze":
            rows.append((ct, f"{path.split('collapsekit/')[-1]}:{func}"))
    print(f"N={a.n} D={a.d} K={a.k} reference={a.reference} threads={torch.get_num_threads()}")
    print(f"analyze(bootstrap=0): {total:.3f} s (unprofiled)")
    for ct, name in sorted(rows, reverse=True)[: a.top]:
        print(f"  {ct:7.3f} s  {100 * ct / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
