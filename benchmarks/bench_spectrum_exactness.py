"""Spectra of float32 rows against numpy's float64 SVD of the same stored values.

    python benchmarks/bench_spectrum_exactness.py [--routes moments memory streamed generator]

Low-rank float32 rows (the collapsed regime) in 768 and 128 dimensions, N = 2000, with and
without a common offset, through four routes:

* ``moments``: ``Analyzer.exact_metrics`` after batches of 300 (the D x D moments, one pass,
  no rows held: a tail below the moments' float64 floor is cut);
* ``memory``: ``analyze(x)`` (every row held in the sample);
* ``streamed``: ``analyze`` of a re-iterable list of batches with ``sample_rows=64`` (the
  moments, and a second pass when the tail needs it);
* ``generator``: the same batches as a one-shot generator (no second pass: the tail is cut).

Prints the largest relative error over effective rank, its score, RankMe and alpha-ReQ (when
the reference has one) per route, and the effective rank's error alone.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import collapsekit as ck

CASES = [
    ("rank 3 in 768", 3, 768, 0.0),
    ("rank 5 in 768", 5, 768, 0.0),
    ("rank 10 in 128", 10, 128, 0.0),
    ("rank 5 in 768, offset 10", 5, 768, 10.0),
    ("rank 5 in 768, offset 100", 5, 768, 100.0),
    ("rank 5 in 768, offset 1000", 5, 768, 1000.0),
    ("full rank 256, offset 1e4", None, 256, 1e4),
]
KEYS = ["effective_rank", "effective_rank_score", "rankme", "alpha_req"]


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


def references(x: torch.Tensor) -> dict[str, float]:
    x64 = x.double().numpy()
    n, d = x64.shape
    s = np.linalg.svd(x64 - x64.mean(0), compute_uv=False)
    er = entropy_rank(s)
    out = {
        "effective_rank": er,
        "effective_rank_score": 1 - er / min(n - 1, d),
        "rankme": entropy_rank(np.linalg.svd(x64, compute_uv=False)[: min(n, d)], 1e-7),
    }
    lam = s**2 / n
    last = min(100, int((lam > lam[0] * 1e-12).sum()))
    if last >= 12:
        ranks = np.arange(11, last + 1, dtype=np.float64)
        out["alpha_req"] = -np.polyfit(np.log(ranks), np.log(lam[10:last]), 1)[0]
    return out


def route(name: str, x: torch.Tensor) -> tuple[dict[str, float], str]:
    batches = [(b, torch.zeros(b.shape[0], dtype=torch.long)) for b in x.split(300)]
    if name == "moments":
        a = ck.Analyzer(sample_rows=2)
        for xb, yb in batches:
            a.update(xb, yb)
        return a.exact_metrics(metrics=KEYS), ""
    kw = {"bootstrap": 0, "metrics": KEYS}
    if name == "memory":
        r = ck.analyze(x, **kw)
    elif name == "streamed":
        r = ck.analyze(batches, sample_rows=64, **kw)
    else:
        r = ck.analyze(iter(batches), sample_rows=64, **kw)
    return r.metrics, r.provenance.get("effective_rank", "")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--routes", nargs="+", default=["moments", "memory", "streamed", "generator"])
    p.add_argument("--provenance", action="store_true")
    args = p.parse_args()
    head = " | ".join(f"{r}: ER / worst" for r in args.routes)
    print(f"| data | effective rank (float64 SVD) | {head} |")
    print("|---|---|" + "---|" * len(args.routes))
    for name, rank, dim, offset in CASES:
        x = rows(rank, dim, offset)
        ref = references(x)
        cells = []
        for r in args.routes:
            got, prov = route(r, x)
            errs = {k: abs(got[k] / ref[k] - 1) if k in got else float("inf") for k in ref}
            cells.append(f"{errs['effective_rank']:.1e} / {max(errs.values()):.1e}")
            if args.provenance:
                print(f"  [{r}] {prov}")
        print(f"| {name} | {ref['effective_rank']:.6g} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
