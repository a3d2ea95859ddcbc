"""Coverage of the bootstrap intervals on draws from a Gaussian model with a known answer.

    python benchmarks/bench_interval_coverage.py [--draws 200 --n 200 --d 64 --k 4 --level 0.9]

Model: K classes of equal size, class means fixed (``sep`` x a Gaussian draw), isotropic
within-class noise; the reference is a fixed linear map of the rows plus noise. For each
draw of N rows, the same stratified resamples as ``analyze()`` (``resampled_values``) give
the bootstrap values; each interval method is applied to them. Two answers are checked:

* ``population``: the metric on one draw of ``--big`` rows (the population value, up to
  the estimator's bias at that size);
* ``E at N``: the mean of the metric over ``--ref-draws`` independent draws of N rows (what
  a bootstrap interval of a biased statistic describes: cohort-to-cohort variability).

Prints coverage (share of draws whose interval holds the answer) and the mean width.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import torch

from collapsekit.functional.centroid_similarity import centroid_similarity
from collapsekit.functional.effective_rank import effective_rank
from collapsekit.functional.linear_cka import linear_cka
from collapsekit.functional.neural_collapse import neural_collapse
from collapsekit.functional.silhouette import silhouette
from collapsekit.functional.std_of_l2_normalized import std_of_l2_normalized
from collapsekit.inference.bootstrap import resampled_values
from collapsekit.metrics import REGISTRY

KEYS = ("nc1", "cdnv", "effective_rank", "silhouette", "linear_cka", "centroid_similarity",
        "std_of_l2_normalized")  # fmt: skip


def metrics(x: torch.Tensor, y: torch.Tensor, ref: torch.Tensor) -> dict[str, float]:
    nc = neural_collapse(x, y)
    return {
        "nc1": nc["nc1"],
        "cdnv": nc["cdnv"],
        "effective_rank": effective_rank(x),
        "silhouette": silhouette(x, y),
        "linear_cka": linear_cka(x, ref),
        "centroid_similarity": centroid_similarity(x, y),
        "std_of_l2_normalized": std_of_l2_normalized(x),
    }


class Model:
    def __init__(self, d: int, k: int, dr: int, sep: float, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.k, self.d = k, d
        self.means = sep * torch.randn(k, d, generator=g, dtype=torch.float64) + 1.0
        decay = torch.arange(1, d + 1, dtype=torch.float64) ** -0.5  # a decaying spectrum
        self.scale = decay * (d / decay.square().sum()).sqrt()
        self.map = torch.randn(d, dr, generator=g, dtype=torch.float64) / d**0.5

    def draw(self, n: int, g: torch.Generator) -> tuple[torch.Tensor, ...]:
        y = torch.arange(n) % self.k
        noise = torch.randn(n, self.d, generator=g, dtype=torch.float64) * self.scale
        x = self.means[y] + noise
        ref = x @ self.map + 0.5 * torch.randn(
            n, self.map.shape[1], generator=g, dtype=torch.float64
        )
        return x, y, ref


def intervals(v: torch.Tensor, est: float, level: float) -> dict[str, tuple[float, float]]:
    v = v[torch.isfinite(v)]
    a = (1.0 - level) / 2.0
    q = torch.quantile(v, torch.tensor([a, 0.5, 1.0 - a], dtype=torch.float64)).tolist()
    z = statistics.NormalDist().inv_cdf(1.0 - a)
    sd = float(v.std())
    return {
        "re-centred percentile": (est - (q[1] - q[0]), est + (q[2] - q[1])),
        "percentile": (q[0], q[2]),
        "basic": (2 * est - q[2], 2 * est - q[0]),
        "normal": (est - z * sd, est + z * sd),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--draws", type=int, default=200)
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--k", type=int, default=4)
    p.add_argument("--dr", type=int, default=16)
    p.add_argument("--sep", type=float, default=0.5)
    p.add_argument("--level", type=float, default=0.9)
    p.add_argument("--resamples", type=int, nargs="+", default=[200, 100, 50])
    p.add_argument("--big", type=int, default=100_000)
    p.add_argument("--ref-draws", type=int, default=1000)
    a = p.parse_args()
    torch.manual_seed(0)
    model = Model(a.d, a.k, a.dr, a.sep)
    hooks = {s.key: s.bootstrap for s in REGISTRY if s.key in KEYS and s.bootstrap is not None}
    g = torch.Generator().manual_seed(1)
    population = metrics(*model.draw(a.big, g))
    many = [metrics(*model.draw(a.n, g)) for _ in range(a.ref_draws)]
    expected = {k: statistics.fmean(m[k] for m in many) for k in KEYS}
    sd_true = {k: statistics.stdev(m[k] for m in many) for k in KEYS}
    hits: dict[tuple[str, str, int, str], int] = {}
    widths: dict[tuple[str, str, int], list[float]] = {}
    t0 = time.perf_counter()
    for i in range(a.draws):
        x, y, ref = model.draw(a.n, g)
        est = metrics(x, y, ref)
        vals = resampled_values(x, y, ref, max(a.resamples), hooks, seed=1000 + i)
        for b in a.resamples:
            for key in KEYS:
                for method, (lo, hi) in intervals(vals[key][:b], est[key], a.level).items():
                    widths.setdefault((key, method, b), []).append(hi - lo)
                    for name, target in (("population", population), ("E at N", expected)):
                        hit = int(lo <= target[key] <= hi)
                        hits[(key, method, b, name)] = hits.get((key, method, b, name), 0) + hit
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(
        f"{a.draws} draws of N={a.n}, D={a.d}, K={a.k} (reference D={a.dr}), nominal "
        f"{a.level:.0%}; {time.perf_counter() - t0:.0f} s, load {load}, threads "
        f"{torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"
    )
    print(
        "| metric | population | E at N (sd over draws) | method | B | coverage of population "
        "| coverage of E at N | mean width |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for key in KEYS:
        for method in ("re-centred percentile", "normal", "percentile", "basic"):
            for b in a.resamples:
                cp = hits[(key, method, b, "population")] / a.draws
                ce = hits[(key, method, b, "E at N")] / a.draws
                w = statistics.fmean(widths[(key, method, b)])
                print(
                    f"| {key} | {population[key]:.5g} | {expected[key]:.5g} "
                    f"({sd_true[key]:.2g}) | {method} | {b} | {cp:.2f} | {ce:.2f} | "
                    f"{w:.3g} |"
                )
    assert all(math.isfinite(v) for v in population.values())


if __name__ == "__main__":
    main()
