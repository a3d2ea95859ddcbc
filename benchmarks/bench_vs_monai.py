"""The collapse-indicator suite vs MONAI 1.6.1's compute_embedding_collapse, same inputs.

    pip install -r benchmarks/requirements.txt    # MONAI, benchmark environment only
    python benchmarks/bench_vs_monai.py [--n 2000 --d 768 --k 10]

Also times collapsekit's whole indicator suite (analyze) at N=20,000, D=768, K=10.
"""

from __future__ import annotations

import argparse
import time

import torch

from collapsekit import analyze
from collapsekit.integrations.monai import compute_embedding_collapse


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--d", type=int, default=768)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--suite-n", type=int, default=20000)
    a = p.parse_args()
    try:
        from monai.metrics.embedding_collapse import compute_embedding_collapse as monai_collapse
    except ImportError:
        raise SystemExit(
            "MONAI is not installed: pip install -r benchmarks/requirements.txt"
        ) from None
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, a.k, (a.n,), generator=g)
    x = torch.randn(a.k, a.d, generator=g)[y] + torch.randn(a.n, a.d, generator=g)
    target = x @ torch.randn(a.d, a.d, generator=g) / a.d**0.5
    compute_embedding_collapse(x[:200], y[:200], target[:200])
    t0 = time.perf_counter()
    ours = compute_embedding_collapse(x, y, target)
    t1 = time.perf_counter()
    theirs = monai_collapse(x, y, target)
    t2 = time.perf_counter()
    print(f"N={a.n} D={a.d} K={a.k} cpu threads={torch.get_num_threads()}")
    print(f"MONAI 1.6.1 compute_embedding_collapse: {t2 - t1:8.2f} s")
    ratio = (t2 - t1) / (t1 - t0)
    print(f"collapsekit (same keys):               {t1 - t0:8.3f} s   speed-up {ratio:.0f}x")
    worst = max(abs(float(ours[k]) - float(v)) for k, v in theirs.items() if v is not None)
    print(f"largest |difference| over the {len(theirs)} keys: {worst:.1e}")
    ys = torch.randint(0, a.k, (a.suite_n,), generator=g)
    xs = torch.randn(a.k, a.d, generator=g)[ys] + torch.randn(a.suite_n, a.d, generator=g)
    analyze(xs[:1000], ys[:1000], bootstrap=0)
    t3 = time.perf_counter()
    analyze(xs, ys, bootstrap=0)
    t4 = time.perf_counter()
    analyze(xs, ys, bootstrap=0, uniformity_rows=None)
    t5 = time.perf_counter()
    print(
        f"whole analyze() suite, N={a.suite_n} D={a.d} K={a.k}: {t4 - t3:.2f} s "
        f"(exact uniformity on all rows: {t5 - t4:.2f} s)"
    )


if __name__ == "__main__":
    main()
