"""Spectra of float32 rows against numpy's float64 SVD of the same stored values.

    python benchmarks/bench_spectrum_exactness.py

Low-rank float32 rows (the collapsed regime) in 768 and 128 dimensions, N = 2000, with and
without a common offset, streamed in batches of 300 through ``analyze`` (every row held: the
spectra then come from the N x N Gram of the rows) and through ``Analyzer.exact_metrics`` (the
D x D moments). Prints the relative error of the effective rank and RankMe.
"""

from __future__ import annotations

import numpy as np
import torch

import collapsekit as ck

CASES = [
    ("rank 3 in 768", 3, 768, 0.0),
    ("rank 5 in 768", 5, 768, 0.0),
    ("rank 10 in 128", 10, 128, 0.0),
    ("rank 5 in 768, offset 10", 5, 768, 10.0),
    ("rank 5 in 768, offset 100", 5, 768, 100.0),
    ("full rank 256, offset 1e4", None, 256, 1e4),
]


def rows(rank: int | None, dim: int, offset: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(11)
    if rank is None:
        x = torch.randn(2000, dim, generator=g, dtype=torch.float64)
    else:
        a = torch.randn(2000, rank, generator=g, dtype=torch.float64)
        x = a @ torch.randn(rank, dim, generator=g, dtype=torch.float64)
    return (x + offset).to(torch.float32)


def entropy_rank(s: np.ndarray, eps: float = 0.0) -> float:
    p = s / s.sum() + eps
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def main() -> None:
    print("| data | effective rank (float64 SVD) | error, moments | RankMe error, moments |")
    print("|---|---|---|---|")
    for name, rank, dim, offset in CASES:
        x = rows(rank, dim, offset)
        x64 = x.double().numpy()
        ref_er = entropy_rank(np.linalg.svd(x64 - x64.mean(0), compute_uv=False))
        ref_rm = entropy_rank(np.linalg.svd(x64, compute_uv=False)[: min(x64.shape)], 1e-7)
        a = ck.Analyzer(sample_rows=2)
        for xb in x.split(300):
            a.update(xb, torch.zeros(xb.shape[0], dtype=torch.long))
        got = a.exact_metrics(metrics=["effective_rank", "rankme"])
        e1 = abs(got["effective_rank"] / ref_er - 1)
        e2 = abs(got["rankme"] / ref_rm - 1)
        print(f"| {name} | {ref_er:.6g} | {e1:.1e} | {e2:.1e} |")


if __name__ == "__main__":
    main()
