"""Silhouette score, exact, without the N x N distance matrix."""

from __future__ import annotations

from typing import Any, Literal

import torch

from collapsekit._threads import small_work_threads
from collapsekit.functional._common import (
    compact_labels,
    features_and_labels,
    row_tile,
)

#: Rows of a tile are converted to float64 and normalised while they sit in cache (4 MiB).
_CACHE_BYTES = 4 * 2**20


def _scores_from_class_means(
    mean_dist: torch.Tensor, own: torch.Tensor, counts: torch.Tensor
) -> torch.Tensor:
    """Per-row silhouette from the mean distance of each row to each class (own class:
    the mean over the other members)."""
    rows = torch.arange(mean_dist.shape[0], device=mean_dist.device)
    a = mean_dist[rows, own]
    other = mean_dist.clone()
    other[rows, own] = torch.inf
    b = other.min(1).values
    denom = torch.maximum(a, b)
    s = torch.where(denom > 0, (b - a) / torch.where(denom > 0, denom, 1.0), 0.0)
    return torch.where(counts[own] > 1, s, 0.0)


def cosine_silhouette_rows(
    units: torch.Tensor, labels: torch.Tensor, class_unit_sums: torch.Tensor, counts: torch.Tensor
) -> torch.Tensor:
    """Cosine silhouette of each row from the per-class sums of unit vectors (O(rows K D)).

    The mean cosine distance of unit row u_i to class c is ``1 - u_i . T_c / n_c`` with
    ``T_c`` the sum of the class's unit vectors; for its own class the row itself is removed:
    ``(n_c - 1 - (u_i . T_c - ||u_i||^2)) / (n_c - 1)``. ``units`` are L2-normalised rows
    (float64; zero rows stay zero), ``labels`` index the rows of ``class_unit_sums`` (K x D)
    and ``counts`` (K,). This is what makes the silhouette streamable: ``T`` and ``counts``
    come from a first pass, the rows from a second.

    Example:
        >>> import torch
        >>> u = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]).double()
        >>> y = torch.tensor([0, 0, 1, 1])
        >>> sums = torch.stack([u[:2].sum(0), u[2:].sum(0)])
        >>> cosine_silhouette_rows(u, y, sums, torch.tensor([2, 2]))
        tensor([1., 1., 1., 1.], dtype=torch.float64)
    """
    cnt = counts.double()
    dots = units @ class_unit_sums.T
    mean_dist = 1.0 - dots / cnt.clamp_min(1.0)
    rows = torch.arange(units.shape[0], device=units.device)
    self_sq = units.square().sum(1)
    n_own = cnt[labels]
    own = (n_own - 1.0 - (dots[rows, labels] - self_sq)) / (n_own - 1.0).clamp_min(1.0)
    mean_dist[rows, labels] = own
    mean_dist[:, counts == 0] = torch.inf  # classes absent here are no neighbours
    return _scores_from_class_means(mean_dist.clamp_min(0.0), labels, counts)


def silhouette_samples(
    features: Any,
    labels: Any,
    metric: Literal["cosine", "euclidean"] = "cosine",
    memory_bytes: int = 256 * 2**20,
) -> torch.Tensor:
    """Per-row silhouette values (float64), as ``sklearn.metrics.silhouette_samples``."""
    x, y = features_and_labels(features, labels, min_classes=2)
    with small_work_threads(4.0 * x.shape[0] * x.shape[1] * 8, x.device):
        ids, yc = compact_labels(y)
        k, n = ids.numel(), x.shape[0]
        if k >= n:
            raise ValueError(
                f"labels: expected 2 <= number of classes <= N - 1 (silhouette), received {k} "
                f"classes for {n} rows"
            )
        counts = torch.bincount(yc, minlength=k)
        if metric == "cosine":
            return _cosine_samples(x, yc, counts, memory_bytes)
        if metric != "euclidean":
            raise ValueError(f"metric: expected 'cosine' or 'euclidean', received {metric!r}")
        return _euclidean_samples(x, yc, counts, memory_bytes)


def _cosine_samples(
    x: torch.Tensor, yc: torch.Tensor, counts: torch.Tensor, memory_bytes: int
) -> torch.Tensor:
    """:func:`silhouette_samples` with the cosine distance, in O(N K D)."""
    k, n = counts.numel(), x.shape[0]
    out = torch.empty(n, dtype=torch.float64, device=x.device)
    # mean cosine distance of row i to class c = 1 - u_i . T_c / n_c, T_c = sum of the
    # class's unit rows u; own class excludes i itself: (n_c - 1 - (u_i . T_c - ||u_i||^2))
    # / (n_c - 1). Two sweeps over cache-sized tiles of rows, each converted to float64 and
    # normalised in cache (no N x D float64 copy): the first sums T_c, the second scores.
    step = max(64, _CACHE_BYTES // (8 * x.shape[1]))
    inv_norm = torch.empty(n, dtype=torch.float64, device=x.device)
    totals = torch.zeros(k, x.shape[1], dtype=torch.float64, device=x.device)
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        u = x[lo:hi].to(torch.float64, copy=True)
        norms = torch.linalg.vector_norm(u, dim=1)
        inv_norm[lo:hi] = torch.where(norms > 0, 1.0 / torch.where(norms > 0, norms, 1.0), 0.0)
        u.mul_(inv_norm[lo:hi, None])
        ys, order = torch.sort(yc[lo:hi], stable=True)
        present, seg = torch.unique_consecutive(ys, return_counts=True)
        sums = torch.nn.functional.embedding_bag(order, u, torch.cumsum(seg, 0) - seg, mode="sum")
        totals.index_add_(0, present, sums)

    def units(lo: int, hi: int) -> torch.Tensor:
        return x[lo:hi].to(torch.float64, copy=True).mul_(inv_norm[lo:hi, None])

    tile = max(1, min(step, row_tile(k, memory_bytes)))
    for lo in range(0, n, tile):
        hi = min(n, lo + tile)
        out[lo:hi] = cosine_silhouette_rows(units(lo, hi), yc[lo:hi], totals, counts)
    return out


def _euclidean_samples(
    x: torch.Tensor, yc: torch.Tensor, counts: torch.Tensor, memory_bytes: int
) -> torch.Tensor:
    """:func:`silhouette_samples` with the Euclidean distance: O(N^2 D), row tiles."""
    k, n = counts.numel(), x.shape[0]
    cnt = counts.double()
    out = torch.empty(n, dtype=torch.float64, device=x.device)
    xc = x.double() - x.double().mean(0, keepdim=True)  # no cancellation from a common offset
    sq = xc.square().sum(1)
    onehot = torch.zeros(n, k, dtype=torch.float64, device=x.device)
    onehot[torch.arange(n, device=x.device), yc] = 1.0
    tile = row_tile(n, memory_bytes)
    for lo in range(0, n, tile):
        xi, yi = xc[lo : lo + tile], yc[lo : lo + tile]
        d2 = (sq[lo : lo + tile, None] + sq[None, :] - 2.0 * (xi @ xc.T)).clamp_min(0.0)
        rows = torch.arange(xi.shape[0], device=x.device)
        d2[rows, rows + lo] = 0.0
        sums = d2.sqrt() @ onehot
        own_n = (cnt[yi] - 1.0).clamp_min(1.0)
        mean_dist = sums / cnt
        mean_dist[rows, yi] = sums[rows, yi] / own_n
        out[lo : lo + tile] = _scores_from_class_means(mean_dist, yi, counts)
    return out


def silhouette(
    features: Any,
    labels: Any,
    metric: Literal["cosine", "euclidean"] = "cosine",
    memory_bytes: int = 256 * 2**20,
) -> float:
    """Mean silhouette coefficient (b - a) / max(a, b) over rows, scikit-learn's definition.

    a = mean distance to the other rows of the own class, b = lowest mean distance to another
    class; singleton classes score 0. Ranges over [-1, 1]: near 1 = tight, separated classes;
    near 0 = overlapping classes (class collapse); negative = rows sit closer to another class.

    ``metric="cosine"`` is exact in O(N K D) with O(K D) memory: the mean cosine distance from
    a row to a class is 1 - x_i . mean of the class's unit vectors (own row removed).
    ``metric="euclidean"`` needs every pairwise distance, O(N^2 D), tiled within
    ``memory_bytes``.

    Reference: Rousseeuw, "Silhouettes", J. Comput. Appl. Math. 1987; matches
    ``sklearn.metrics.silhouette_score``.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
        >>> round(silhouette(x, torch.tensor([0, 0, 1, 1])), 4)
        0.9931
    """
    return float(silhouette_samples(features, labels, metric, memory_bytes).mean())
