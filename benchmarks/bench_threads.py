"""Which torch operations collapse when another process is busy (OpenMP oversubscription).

    python benchmarks/bench_threads.py [--busy 1] [--n 5000 --d 768]

Starts ``--busy`` spinning neighbour processes (``while True: pass``; killed at the end), then
times each operation of the spectrum and NC kernels with 1 thread and with the default
thread count, and prints the slow-down of the default against 1 thread.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable

import torch

from timing import best_of


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--busy", type=int, default=1)
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--d", type=int, default=768)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    default_threads = torch.get_num_threads()
    g = torch.Generator().manual_seed(0)
    x32 = torch.randn(a.n, a.d, generator=g)
    x64 = x32.double()
    xt32 = x32.T.contiguous()
    gram64 = x64.T @ x64
    small = torch.randn(200, 32, generator=g)

    from collapsekit import functional

    ops: dict[str, Callable[[], object]] = {
        "float32 X.T @ X (transposed view)": lambda: x32.T @ x32,
        "float32 Xt @ Xt.T (contiguous copy)": lambda: xt32 @ xt32.T,
        "float64 X.T @ X": lambda: x64.T @ x64,
        "float32 -> float64 copy": lambda: x32.double(),
        "float64 column mean and centring": lambda: x64 - x64.mean(0, keepdim=True),
        "eigvalsh D x D float64": lambda: torch.linalg.eigvalsh(gram64),
        "svdvals float64 N x D": lambda: torch.linalg.svdvals(x64),
        "functional.effective_rank float32": lambda: functional.effective_rank(x32),
        "functional.effective_rank 200 x 32": lambda: functional.effective_rank(small),
    }
    neighbours = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(a.busy)
    ]
    try:
        time.sleep(0.5)
        print(f"N={a.n} D={a.d} busy neighbours={a.busy} default threads={default_threads}")
        print(f"{'operation':40s} {'1 thread':>10s} {'default':>10s} {'slow-down':>10s}")
        for name, fn in ops.items():
            torch.set_num_threads(1)
            fn()
            t1 = best_of(fn, a.repeats)
            torch.set_num_threads(default_threads)
            fn()
            tn = best_of(fn, a.repeats)
            print(f"{name:40s} {t1:9.4f}s {tn:9.4f}s {tn / t1:9.2f}x")
    finally:
        for proc in neighbours:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()
