"""Spectrum precision fix: float64 Gram (now) vs the old float32 Gram, same data, one process.

    python benchmarks/bench_spectrum_precision.py [--n 20000 --d 768 --offset 1000 --device cpu]

Prints the time of ``singular_values`` (float64 Gram + eigvalsh) against the old path (float32
Gram + float64 eigvalsh) on float32 input, their ratio, and the relative error of RankMe and
the effective rank of each path against float64 input holding the same stored values.
"""

from __future__ import annotations

import argparse
import math

import torch

from collapsekit.functional.effective_rank import entropy_rank
from collapsekit.functional.rankme import rankme_from_singular_values
from collapsekit.functional.spectrum import singular_values
from timing import best_of


def old_float32_gram(x: torch.Tensor, center: bool) -> torch.Tensor:
    """The previous implementation: float32 Gram product, float64 eigenvalues."""
    xd = x.double()
    if center:
        xd = xd - xd.mean(0, keepdim=True)
    n, d = xd.shape
    xg = xd.float()
    gram = (xg.T @ xg if n >= d else xg @ xg.T).double()
    eig = torch.linalg.eigvalsh(gram).flip(0)
    top = float(eig[0])
    eig = torch.where(eig > max(n, d) * torch.finfo(torch.float64).eps * top, eig, 0.0)
    return eig.clamp_min(0.0).sqrt()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--d", type=int, default=768)
    p.add_argument("--offset", type=float, default=1e3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = p.parse_args()
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    g = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(a.n, a.d, generator=g, device=dev) + a.offset
    exact = singular_values(x.double(), center=False)
    ref_rankme = rankme_from_singular_values(exact)
    ref_erank = entropy_rank(singular_values(x.double(), center=True))
    t_old = best_of(lambda: old_float32_gram(x, False), a.repeats, sync)
    t_new = best_of(lambda: singular_values(x, False), a.repeats, sync)
    old_rm = rankme_from_singular_values(old_float32_gram(x, False))
    new_rm = rankme_from_singular_values(singular_values(x, False))
    old_er = entropy_rank(old_float32_gram(x, True))
    new_er = entropy_rank(singular_values(x, True))

    def rel(v: float, ref: float) -> float:
        return abs(v - ref) / abs(ref) if ref else math.nan

    print(f"N={a.n} D={a.d} offset={a.offset:g} device={dev}")
    print(
        f"old float32 Gram : {t_old * 1e3:8.1f} ms  rankme rel err {rel(old_rm, ref_rankme):.2e}"
        f"  effective_rank rel err {rel(old_er, ref_erank):.2e}"
    )
    print(
        f"new float64 Gram : {t_new * 1e3:8.1f} ms  rankme rel err {rel(new_rm, ref_rankme):.2e}"
        f"  effective_rank rel err {rel(new_er, ref_erank):.2e}"
    )
    print(f"ratio new/old    : {t_new / t_old:.2f}x")


if __name__ == "__main__":
    main()
