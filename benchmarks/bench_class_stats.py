"""One ClassStats pass vs the floor: a bare float32 ``X.T @ X`` over the same batches.

    python benchmarks/bench_class_stats.py [--n 100000 --d 512 --k 100 --batch 4096 --device cpu]

Prints the ratio (goal <= 1.5x) and the relative error of nc1 against a float64 pass.
"""

from __future__ import annotations

import argparse

import torch

from collapsekit import ClassStats
from timing import best_of


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--d", type=int, default=512)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    a = p.parse_args()
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    g = torch.Generator(device="cpu").manual_seed(0)
    y = torch.randint(0, a.k, (a.n,), generator=g)
    centers = torch.randn(a.k, a.d, generator=g) * 2
    x = (centers[y] + torch.randn(a.n, a.d, generator=g)).to(getattr(torch, a.dtype))
    x, y = x.to(dev), y.to(dev)
    xb, yb = x.split(a.batch), y.split(a.batch)

    def gemm() -> None:
        acc = torch.zeros(a.d, a.d, device=dev)
        for b in xb:
            bf = b.float()
            acc += bf.T @ bf

    def one_pass() -> ClassStats:
        s = ClassStats(a.k, a.d, device=dev)
        for b, t in zip(xb, yb, strict=True):
            s.update(b, t)
        return s

    gemm()
    one_pass()  # warm-up
    t_gemm = best_of(gemm, a.repeats, sync)
    t_pass = best_of(one_pass, a.repeats, sync)
    stats = one_pass()
    ref = ClassStats(a.k, a.d, device=dev)
    ref.update(x.double(), y)
    nc, nc_ref = stats.neural_collapse(), ref.neural_collapse()
    worst = max(abs(nc[k] - nc_ref[k]) / max(abs(nc_ref[k]), 1e-300) for k in nc_ref)
    name = (
        torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu x{torch.get_num_threads()}"
    )
    flops = 2 * a.n * a.d * a.d
    print(f"device={name} N={a.n} D={a.d} K={a.k} batch={a.batch} dtype={a.dtype}")
    print(f"bare float32 X.T@X : {t_gemm * 1e3:9.1f} ms  ({flops / t_gemm / 1e9:7.1f} GFLOP/s)")
    print(f"ClassStats pass    : {t_pass * 1e3:9.1f} ms  ({flops / t_pass / 1e9:7.1f} GFLOP/s)")
    print(f"ratio pass/GEMM    : {t_pass / t_gemm:9.2f}x   (goal <= 1.5x)")
    print(f"max rel. error of NC metrics vs float64 pass: {worst:.2e}")


if __name__ == "__main__":
    main()
