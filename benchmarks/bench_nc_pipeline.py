"""Full NC pipeline vs a textbook implementation (per-class covariances, as research tutorials
do it: loop over classes, np-style pinv, full K x K matrices), same process, same data.

    python benchmarks/bench_nc_pipeline.py [--n 50000 --d 512 --k 100 --batch 4096]
"""

from __future__ import annotations

import argparse
import itertools
import time

import torch

from collapsekit import ClassStats


def textbook_nc(x: torch.Tensor, y: torch.Tensor, k: int) -> dict[str, float]:
    """The usual tutorial code: float32, class loops, explicit covariances and pinv."""
    means, covs, variances = [], [], []
    for c in range(k):
        xc = x[y == c]
        mu = xc.mean(0)
        dev = xc - mu
        covs.append(dev.T @ dev)  # per-class scatter, D x D each
        variances.append((dev * dev).sum(1).mean())
        means.append(mu)
    m = torch.stack(means)
    mu_g = m.mean(0)
    sigma_w = sum(covs) / x.shape[0]
    mt = m - mu_g
    sigma_b = mt.T @ mt / k
    nc1 = torch.trace(sigma_w @ torch.linalg.pinv(sigma_b, hermitian=True)) / k
    norms = mt.norm(dim=1)
    cos = (mt @ mt.T) / torch.outer(norms, norms)
    iu = torch.triu_indices(k, k, 1)
    pair_cos = cos[iu[0], iu[1]]
    cdnv = []
    for i, j in itertools.combinations(range(k), 2):
        cdnv.append((variances[i] + variances[j]) / (2 * (m[i] - m[j]).square().sum()))
    g = mt @ mt.T
    etf = (torch.eye(k) - 1.0 / k) / (k - 1) ** 0.5
    return {
        "nc1": float(nc1),
        "cdnv": float(torch.stack(cdnv).mean()),
        "equinorm": float(norms.std() / norms.mean()),
        "equiangularity": float(pair_cos.std()),
        "etf_error": float((g / g.norm() - etf).norm()),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=50_000)
    p.add_argument("--d", type=int, default=512)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--offset", type=float, default=0.0, help="common offset added to features")
    a = p.parse_args()
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, a.k, (a.n,), generator=g)
    x = torch.randn(a.k, a.d, generator=g)[y] + 0.5 * torch.randn(a.n, a.d, generator=g) + a.offset

    def ours() -> dict[str, float]:
        s = ClassStats(a.k, a.d)
        for xb, yb in zip(x.split(a.batch), y.split(a.batch), strict=True):
            s.update(xb, yb)
        return s.neural_collapse()

    ours()
    textbook_nc(x[:2000], y[:2000], a.k)  # warm-up
    t0 = time.perf_counter()
    got = ours()
    t1 = time.perf_counter()
    ref = textbook_nc(x, y, a.k)
    t2 = time.perf_counter()
    exact = ClassStats(a.k, a.d)
    exact.update(x.double(), y)
    truth = exact.neural_collapse()
    print(f"N={a.n} D={a.d} K={a.k} offset={a.offset} cpu threads={torch.get_num_threads()}")
    print(f"collapsekit (one streamed pass + metrics): {t1 - t0:7.2f} s")
    print(f"textbook (per-class covariances, float32): {t2 - t1:7.2f} s")
    print(f"speed-up: {(t2 - t1) / (t1 - t0):.1f}x")
    print(f"{'metric':16s} {'float64 truth':>14s} {'collapsekit':>12s} {'textbook':>12s}")
    for key in ref:
        err_o = abs(got[key] - truth[key]) / abs(truth[key])
        err_t = abs(ref[key] - truth[key]) / abs(truth[key])
        print(f"{key:16s} {truth[key]:14.6g} {err_o:12.1e} {err_t:12.1e}  (relative errors)")


if __name__ == "__main__":
    main()
