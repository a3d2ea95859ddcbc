"""Seeded percentile-bootstrap intervals for the metrics that are cheap to recompute."""

from __future__ import annotations

from collections.abc import Callable

import torch

from collapsekit.functional.centroid_similarity import centroid_similarity
from collapsekit.functional.effective_rank import entropy_rank
from collapsekit.functional.linear_cka import linear_cka
from collapsekit.functional.neural_collapse import neural_collapse
from collapsekit.functional.silhouette import silhouette
from collapsekit.functional.spectrum import singular_values
from collapsekit.functional.std_of_l2_normalized import std_of_l2_normalized


def resample_indices(n: int, y: torch.Tensor | None, generator: torch.Generator) -> torch.Tensor:
    """Rows drawn with replacement; with labels, within each class (class sizes kept)."""
    if y is None:
        return torch.randint(0, n, (n,), generator=generator)
    y_cpu = y.cpu()
    parts = []
    for c in torch.unique(y_cpu):
        idx = torch.nonzero(y_cpu == c).flatten()
        parts.append(idx[torch.randint(0, idx.numel(), (idx.numel(),), generator=generator)])
    return torch.cat(parts)


def bootstrap_intervals(
    x: torch.Tensor,
    y: torch.Tensor | None,
    reference: object,
    resamples: int,
    seed: int = 0,
    level: float = 0.95,
    estimates: dict[str, float] | None = None,
) -> dict[str, tuple[float, float]]:
    """Percentile intervals over ``resamples`` stratified resamples of the rows.

    With ``estimates`` (the values computed on all rows), each interval is re-centred on its
    estimate: ``[est - (median - q_lo), est + (q_hi - median)]``. Resampling with replacement
    duplicates rows, which biases some statistics (the effective rank of 14 rows drops in
    every resample); the re-centred interval keeps the bootstrap's spread without its bias, and
    always contains the estimate.

    Covers effective_rank, std_of_l2_normalized, and with labels centroid_similarity,
    silhouette, nc1 and cdnv; with a reference, linear_cka (rows resampled in pairs).

    Example:
        >>> import torch
        >>> x = torch.randn(40, 5, generator=torch.Generator().manual_seed(0))
        >>> ci = bootstrap_intervals(x, None, None, resamples=50)
        >>> lo, hi = ci["effective_rank"]
        >>> 1.0 <= lo <= hi <= 5.0
        True
    """
    g = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    ref = None
    if reference is not None:
        ref = torch.as_tensor(reference).to(x.device)
    k = 0 if y is None else int(torch.unique(y).numel())
    fns: dict[str, Callable[[torch.Tensor, torch.Tensor | None, torch.Tensor | None], float]] = {
        "effective_rank": lambda xs, ys, rs: entropy_rank(singular_values(xs)),
        "std_of_l2_normalized": lambda xs, ys, rs: std_of_l2_normalized(xs),
    }
    if k >= 2:
        fns["centroid_similarity"] = lambda xs, ys, rs: centroid_similarity(xs, ys)
        if k < n:
            fns["silhouette"] = lambda xs, ys, rs: silhouette(xs, ys)
        fns["nc1"] = lambda xs, ys, rs: neural_collapse(xs, ys)["nc1"]
        fns["cdnv"] = lambda xs, ys, rs: neural_collapse(xs, ys)["cdnv"]
    if ref is not None and ref.shape[0] == n:
        fns["linear_cka"] = lambda xs, ys, rs: linear_cka(xs, rs)
    values: dict[str, list[float]] = {key: [] for key in fns}
    for _ in range(resamples):
        idx = resample_indices(n, y if k >= 2 else None, g).to(x.device)
        xs = x[idx]
        ys = y[idx] if y is not None else None
        rs = ref[idx] if ref is not None and ref.shape[0] == n else None
        for key, fn in fns.items():
            try:
                values[key].append(fn(xs, ys, rs))
            except ValueError:
                continue  # a degenerate resample (e.g. zero variance) is skipped
    alpha = (1.0 - level) / 2.0
    out: dict[str, tuple[float, float]] = {}
    for key, vals in values.items():
        t = torch.tensor(vals, dtype=torch.float64)
        t = t[torch.isfinite(t)]
        if t.numel() >= 2:
            q = torch.quantile(t, torch.tensor([alpha, 0.5, 1.0 - alpha], dtype=torch.float64))
            lo, mid, hi = (float(v) for v in q)
            if estimates is not None and key in estimates:
                est = estimates[key]
                lo, hi = est - (mid - lo), est + (hi - mid)
            out[key] = (lo, hi)
    return out
