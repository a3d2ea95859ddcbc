"""Which pairs of classes cannot be told apart: a two-sample test on class means, from moments.

For classes ``c`` and ``c'`` with ``n_c`` rows, mean ``mu_c`` and unbiased within-class variance
``v_c = sum_{i in c} ||h_i - mu_c||^2 / (n_c - 1)`` (a trace: summed over the D dimensions),

    T_cc' = ||mu_c - mu_c'||^2 / (v_c / n_c + v_c' / n_c').

If the two classes are one population split at random (the random-label null of the same class
sizes), ``mu_c - mu_c'`` has covariance ``Sigma (1/n_c + 1/n_c')`` and the denominator is an
unbiased estimate of its trace, so ``E[T] = 1``. The numerator is a weighted chi-square whose
relative standard deviation is ``sqrt(2 / d_eff)`` with ``d_eff = tr(Sigma)^2 / tr(Sigma^2)``
the effective dimension of the within-class covariance. A pair is *merged* (cannot be told
apart) when ``T < 1 + z * sqrt(2 / d_eff)``, ``z`` the one-sided normal quantile at
``alpha / P`` (Bonferroni over the ``P = K (K - 1) / 2`` pairs): a pair that is one population
passes with probability at least ``1 - alpha`` jointly over all pairs.

Why this statistic (and not pairwise probes, pairwise CDNV or pairwise silhouette): it is exact
over every row from the streamed moments (counts, means, per-class squared deviations, the
pooled within scatter), costs O(K^2 D) (the upper triangle, in row tiles of O(K) memory)
with no second pass, has a known null (mean 1, spread from
``d_eff``) for any class sizes, and is invariant to scale, rotation and offset. ``1/T`` is the
pairwise CDNV with the finite-sample bias removed (Galanti et al. 2021 use the raw ratio, whose
random-label value depends on the class sizes).

Why the *within-class* covariance for ``d_eff``: under the null for one pair the relevant noise
is the within-class noise of those classes; the total covariance of well-separated data is
dominated by the K-1 between-class directions and would inflate the spread (more false merges).
Under random labels the two coincide.

Reference: Hotelling-type two-sample test in high dimension (Bai & Saranadasa 1996; Chen & Qin
2010, "A two-sample test for high-dimensional data with applications to gene-set testing").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from collapsekit.functional._common import row_tile


@dataclass(frozen=True)
class PairwiseSeparation:
    """Result of :func:`pairwise_separation_from_moments`.

    Attributes:
        pairs: (P, 2) long tensor of merged pairs ``(i, j)``, ``i < j`` (row indices of ``means``).
        statistic: (P,) float64 ``T`` of those pairs.
        threshold: ``1 + z * spread``; pairs with ``T`` below it are merged.
        null_mean: ``E[T]`` under the random-label null (1).
        spread: relative standard deviation of ``T`` under the null, ``sqrt(2 / d_eff)``.
        effective_dim: ``tr(Sigma_W)^2 / tr(Sigma_W^2)``.
        z: the Bonferroni normal quantile used.
        num_pairs: number of pairs tested (classes with at least 2 rows).
        min_statistic: smallest ``T`` over all tested pairs (inf when none).
    """

    pairs: torch.Tensor
    statistic: torch.Tensor
    threshold: float
    null_mean: float
    spread: float
    effective_dim: float
    z: float
    num_pairs: int
    min_statistic: float


def bonferroni_z(alpha: float, tests: int) -> float:
    """One-sided standard-normal quantile at ``alpha / tests``.

    Example:
        >>> round(bonferroni_z(0.05, 1), 3)
        1.645
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: expected a level in (0, 1), received {alpha!r}")
    p = alpha / max(int(tests), 1)
    return float(-torch.special.ndtri(torch.tensor(p, dtype=torch.float64)))


def effective_dimension(cov: torch.Tensor) -> float:
    """``tr(C)^2 / tr(C^2)`` of a symmetric PSD matrix (D for isotropic, 1 for rank one).

    Example:
        >>> effective_dimension(torch.eye(5, dtype=torch.float64))
        5.0
    """
    c = cov.double()
    t1 = float(torch.diagonal(c).sum())
    t2 = float(c.square().sum())
    if t2 <= 0.0 or not math.isfinite(t2):
        return 1.0
    return t1 * t1 / t2


def _tile_statistic(
    mt: torch.Tensor,
    sqn: torch.Tensor,
    noise: torch.Tensor,
    start: int,
    stop: int,
    scale: torch.Tensor,
) -> torch.Tensor:
    """``T_cc'`` of rows ``start:stop`` against classes ``start:`` (the upper triangle and
    the diagonal block), by the Gram expansion."""
    dist = sqn[start:stop, None] + sqn[None, start:] - 2.0 * (mt[start:stop] @ mt[start:].T)
    dist = dist.clamp_min(0.0)
    denom = noise[start:stop, None] + noise[None, start:]
    # identical means and no spread: 0/0 -> merged (T = 0); spread-free distinct: T = inf
    tiny = dist <= 64 * torch.finfo(torch.float64).eps * scale
    t = torch.where(denom > 0, dist / denom.clamp_min(torch.finfo(torch.float64).tiny), 0.0)
    return torch.where((denom <= 0) & ~tiny, torch.full_like(t, math.inf), t)


def _exact_statistic(
    mt: torch.Tensor, noise: torch.Tensor, gi: torch.Tensor, gj: torch.Tensor, scale: torch.Tensor
) -> torch.Tensor:
    """``T`` of the pairs (gi, gj) from the differences of the means (no Gram cancellation)."""
    exact = (mt[gi] - mt[gj]).square().sum(1)
    den = noise[gi] + noise[gj]
    close = exact <= 64 * torch.finfo(torch.float64).eps * scale
    te = torch.where(den > 0, exact / den.clamp_min(torch.finfo(torch.float64).tiny), 0.0)
    te = torch.where((den <= 0) & ~close, torch.full_like(te, math.inf), te)
    return torch.where(close & (den <= 0), torch.zeros_like(te), te)


# size: public kernel, the moments plus three keyword options (level, tile budget, widening)
def pairwise_separation_from_moments(
    means: torch.Tensor,
    counts: torch.Tensor,
    class_sq_deviation: torch.Tensor,
    effective_dim: float,
    alpha: float = 0.01,
    tile_bytes: int = 64 * 2**20,
    widen: float = 1.0,
) -> PairwiseSeparation:
    """Merged pairs of classes: ``T_cc'`` below ``1 + z sqrt(2 / d_eff)`` (module docstring).

    Args:
        means: (K, D) class means (any float dtype; computed in float64).
        counts: (K,) rows per class.
        class_sq_deviation: (K,) ``sum_{i in c} ||h_i - mu_c||^2``.
        effective_dim: ``d_eff`` of the pooled within-class covariance
            (:func:`effective_dimension`).
        alpha: family-wise level over all pairs (Bonferroni).
        tile_bytes: memory budget of one tile of the K x K statistic (O(K^2 D) work, tiled).
        widen: the threshold is ``1 + widen x z x spread`` (the verdict widens the screen when a
            pairwise probe confirms its candidates).

    Read it: ``T ~ 1`` means the two class means differ no more than random halves of one
    class would; healthy, well separated classes give ``T`` in the hundreds or more.
    Degenerate cases: classes with fewer than 2 rows are not tested; two classes with zero
    within-class spread are merged when their means coincide and separate otherwise.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(300, 20, generator=g, dtype=torch.float64)
        >>> y = torch.arange(300) % 3
        >>> x[y == 2] += 3.0                     # class 2 separated; 0 and 1 one population
        >>> means = torch.stack([x[y == c].mean(0) for c in range(3)])
        >>> dev = torch.stack([(x[y == c] - means[c]).square().sum() for c in range(3)])
        >>> res = pairwise_separation_from_moments(means, torch.tensor([100] * 3), dev, 20.0)
        >>> res.pairs.tolist()
        [[0, 1]]
    """
    m = means.double()
    n = counts.to(device=m.device, dtype=torch.float64)
    sq = class_sq_deviation.to(device=m.device, dtype=torch.float64)
    k = m.shape[0]
    if n.shape != (k,) or sq.shape != (k,):
        raise ValueError(
            f"counts, class_sq_deviation: expected shape ({k},) to match means, received "
            f"{tuple(n.shape)} and {tuple(sq.shape)}"
        )
    if not effective_dim > 0:
        raise ValueError(f"effective_dim: expected a positive number, received {effective_dim!r}")
    tested = torch.nonzero(n >= 2).flatten()
    kt = int(tested.numel())
    num_pairs = kt * (kt - 1) // 2
    z = bonferroni_z(alpha, num_pairs)
    spread = math.sqrt(2.0 / effective_dim)
    if not widen > 0:
        raise ValueError(f"widen: expected a positive number, received {widen!r}")
    threshold = 1.0 + widen * z * spread
    empty = torch.zeros(0, 2, dtype=torch.long, device=m.device)
    if kt < 2:
        return PairwiseSeparation(
            empty, torch.zeros(0, dtype=torch.float64, device=m.device), threshold, 1.0,
            spread, effective_dim, z, 0, math.inf,
        )  # fmt: skip
    mt = m[tested]
    mt = mt - mt.mean(0)  # centring shrinks the offset before the Gram expansion
    nt = n[tested]
    noise = sq[tested] / (nt - 1.0) / nt  # v_c / n_c
    sqn = mt.square().sum(1)
    scale = sqn.max().clamp_min(torch.finfo(torch.float64).tiny)
    rows = row_tile(kt, tile_bytes)
    found_i, found_j, found_t = [], [], []
    min_t = math.inf
    for start in range(0, kt, rows):
        stop = min(start + rows, kt)
        t = _tile_statistic(mt, sqn, noise, start, stop, scale)
        idx = torch.arange(start, stop, device=m.device)
        upper = idx[:, None] < torch.arange(start, kt, device=m.device)[None, :]
        # candidates near the threshold are recomputed exactly (no Gram cancellation)
        cand = upper & (t < 2.0 * threshold + 1.0)
        ii, jj = torch.nonzero(cand, as_tuple=True)
        if ii.numel():
            gi, gj = ii + start, jj + start
            te = _exact_statistic(mt, noise, gi, gj, scale)
            t[ii, jj] = te
            keep = te < threshold
            found_i.append(gi[keep])
            found_j.append(gj[keep])
            found_t.append(te[keep])
        if bool(upper.any()):
            min_t = min(min_t, float(t[upper].min()))
    if found_i:
        pi, pj, pt = torch.cat(found_i), torch.cat(found_j), torch.cat(found_t)
    else:
        pi = pj = torch.zeros(0, dtype=torch.long, device=m.device)
        pt = torch.zeros(0, dtype=torch.float64, device=m.device)
    pairs = torch.stack([tested[pi], tested[pj]], dim=1) if pi.numel() else empty
    return PairwiseSeparation(pairs, pt, threshold, 1.0, spread, effective_dim, z, num_pairs, min_t)


def component_labels(pairs: torch.Tensor, num: int) -> torch.Tensor:
    """The smallest member of each node's connected component in the graph on ``0..num-1``
    with edges ``pairs`` ((P, 2) long): minimum-label propagation with pointer jumping, in
    tensor operations (a Python union-find over millions of merged pairs took minutes).

    Example:
        >>> component_labels(torch.tensor([[2, 5], [5, 0], [3, 4]]), 7).tolist()
        [0, 1, 0, 3, 3, 0, 6]
    """
    lab = torch.arange(num, device=pairs.device)
    if not pairs.numel():
        return lab
    a, b = pairs[:, 0], pairs[:, 1]
    while True:
        low = torch.minimum(lab[a], lab[b])
        new = lab.scatter_reduce(0, a, low, "amin").scatter_reduce_(0, b, low, "amin")
        while True:  # labels are members of the component: follow them to a fixed point
            jumped = new[new]
            if torch.equal(jumped, new):
                break
            new = jumped
        if torch.equal(new, lab):
            return lab
        lab = new


def connected_groups(pairs: torch.Tensor | list[tuple[int, int]], num: int) -> list[list[int]]:
    """Connected components with two or more members of the graph on ``0..num-1`` with edges
    ``pairs`` (:func:`component_labels`), each sorted, ordered by their smallest member.

    Example:
        >>> connected_groups([(0, 1), (1, 3), (4, 5)], 6)
        [[0, 1, 3], [4, 5]]
    """
    edges = torch.as_tensor(pairs, dtype=torch.long).reshape(-1, 2)
    lab = component_labels(edges, num)
    order = torch.argsort(lab, stable=True)  # by component, members ascending inside
    _, sizes = torch.unique_consecutive(lab[order], return_counts=True)
    return [g.tolist() for g in order.split(sizes.tolist()) if g.numel() >= 2]
