"""Vocabulary-sized K: NC metrics with K=50,000 classes, D=1,024, tiled (no K x K matrix).

    python benchmarks/bench_large_k.py [--k 50000 --d 1024 --rows-per-class 4 --tile-mb 256]

Prints the time of the streaming pass and of the metric computation, and the peak resident
memory of the process (ru_maxrss), next to the size a K x K float64 matrix would need.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from collapsekit import ClassStats


def rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--k", type=int, default=50_000)
    p.add_argument("--d", type=int, default=1024)
    p.add_argument("--rows-per-class", type=int, default=4)
    p.add_argument("--batch", type=int, default=8192)
    p.add_argument("--tile-mb", type=int, default=256)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = p.parse_args()
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    g = torch.Generator().manual_seed(0)
    n = a.k * a.rows_per_class
    print(f"K={a.k} D={a.d} N={n} device={dev} tile budget={a.tile_mb} MiB")
    stats = ClassStats(a.k, a.d, device=dev, tile_bytes=a.tile_mb * 2**20)
    centers = torch.randn(a.k, a.d, generator=g)
    sync()
    t0 = time.perf_counter()
    for lo in range(0, n, a.batch):
        y = torch.arange(lo, min(n, lo + a.batch)) % a.k
        x = centers[y] + 0.5 * torch.randn(len(y), a.d, generator=g)
        stats.update(x.to(dev), y.to(dev))
    sync()
    t1 = time.perf_counter()
    del centers
    print(f"streaming pass     : {t1 - t0:8.1f} s")
    nc = stats.neural_collapse()
    sync()
    t2 = time.perf_counter()
    print(f"NC metrics (tiled) : {t2 - t1:8.1f} s")
    print(
        f"peak RSS           : {rss_gib():8.2f} GiB   (a K x K float64 matrix alone: "
        f"{a.k * a.k * 8 / 2**30:.1f} GiB)"
    )
    for key in ("nc1", "cdnv", "etf_error", "equiangularity", "hyperspherical_log_mean"):
        print(f"  {key:24s} {nc[key]:.6g}")


if __name__ == "__main__":
    main()
