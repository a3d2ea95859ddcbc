"""Seeded bootstrap intervals, every resample of a chunk computed at once from the rows'
multiplicities (:class:`~collapsekit.metrics.spec.Resamples`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from collapsekit._threads import small_work_threads
from collapsekit.functional.resampled import multiplicities
from collapsekit.metrics.spec import BootstrapFn, Resamples

#: Resamples computed together: bounds the B x N x N temporaries and sets how often progress
#: is reported.
CHUNK = 25


def resample_indices(
    n: int, y: torch.Tensor | None, generator: torch.Generator, b: int = 1
) -> torch.Tensor:
    """B x N rows drawn with replacement; with labels, within each class (class sizes kept).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> idx = resample_indices(6, torch.tensor([0, 0, 0, 1, 1, 1]), g, 2)
        >>> idx.shape, bool((idx[:, :3] < 3).all()), bool((idx[:, 3:] >= 3).all())
        (torch.Size([2, 6]), True, True)
    """
    if y is None:
        return torch.randint(0, n, (b, n), generator=generator)
    y_cpu = y.cpu()
    parts = []
    for c in torch.unique(y_cpu):
        idx = torch.nonzero(y_cpu == c).flatten()
        parts.append(idx[torch.randint(0, idx.numel(), (b, idx.numel()), generator=generator)])
    return torch.cat(parts, 1)


# size: public function: the data, hooks and resampling options
def resampled_values(
    x: torch.Tensor,
    y: torch.Tensor | None,
    reference: object,
    resamples: int,
    hooks: Mapping[str, BootstrapFn],
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, torch.Tensor]:
    """Each hook's value on ``resamples`` stratified resamples of the rows (NaN where a
    resample is degenerate), computed :data:`CHUNK` resamples at a time; ``progress(done,
    total)`` after each chunk.

    Example:
        >>> from collapsekit.metrics import spec
        >>> x = torch.randn(40, 5, generator=torch.Generator().manual_seed(0))
        >>> hooks = {"effective_rank": spec("effective_rank").bootstrap}
        >>> v = resampled_values(x, None, None, 30, hooks)
        >>> v["effective_rank"].shape
        torch.Size([30])
    """
    g = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    rows = x.double()
    ref = None
    if reference is not None:
        ref = torch.as_tensor(reference).to(x.device).double()
        ref = ref if ref.shape[0] == n else None  # not paired row by row: no CKA interval
    labels, k = None, 0
    if y is not None:
        present, labels = torch.unique(y, return_inverse=True)
        k = int(present.numel())
        labels = labels if k >= 2 else None
    out: dict[str, list[torch.Tensor]] = {key: [] for key in hooks}
    shared: dict[str, object] = {}  # per-row terms, computed once for every chunk
    for lo in range(0, resamples, CHUNK):
        b = min(CHUNK, resamples - lo)
        idx = resample_indices(n, labels, g, b).to(x.device)
        batch = Resamples(rows, labels, k, ref, multiplicities(idx, n), shared=shared)
        # a chunk is many small operations (B N D each): one intra-op thread unless large
        with small_work_threads(float(b) * n * x.shape[1], x.device):
            for key, fn in hooks.items():
                out[key].append(fn(batch).double().cpu())
        if progress is not None:
            progress(lo + b, resamples)
    return {key: torch.cat(v) if v else torch.empty(0) for key, v in out.items()}


def recentred_percentile(
    values: torch.Tensor, estimate: float | None, level: float
) -> tuple[float, float] | None:
    """Percentile interval of the finite ``values`` re-centred on ``estimate``:
    ``[est - (median - q_lo), est + (q_hi - median)]`` (None with fewer than two).

    Resampling with replacement duplicates rows, which biases some statistics (the effective
    rank of 14 rows drops in every resample); the re-centred interval keeps the bootstrap's
    spread without its bias, and always contains the estimate.

    Example:
        >>> recentred_percentile(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]), 10.0, 0.5)
        (9.0, 11.0)
    """
    t = values.double()
    t = t[torch.isfinite(t)]
    if t.numel() < 2:
        return None
    alpha = (1.0 - level) / 2.0
    q = torch.quantile(t, torch.tensor([alpha, 0.5, 1.0 - alpha], dtype=torch.float64))
    lo, mid, hi = (float(v) for v in q)
    if estimate is None:
        return lo, hi
    return estimate - (mid - lo), estimate + (hi - mid)


# size: public function: the data, hooks and resampling options
def bootstrap_intervals(
    x: torch.Tensor,
    y: torch.Tensor | None,
    reference: object,
    resamples: int,
    hooks: Mapping[str, BootstrapFn],
    seed: int = 0,
    level: float = 0.95,
    estimates: Mapping[str, float] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, tuple[float, float]]:
    """Intervals over ``resamples`` stratified resamples of the rows.

    ``hooks`` maps each metric key to its values on a batch of resamples (the registry's
    ``MetricSpec.bootstrap``). A resample on which a metric is not defined (NaN, inf: zero
    variance, coinciding class means) is skipped for that key. With ``estimates`` (the values
    on all rows) each interval is re-centred on its estimate (:func:`recentred_percentile`).

    Example:
        >>> from collapsekit.metrics import spec
        >>> x = torch.randn(40, 5, generator=torch.Generator().manual_seed(0))
        >>> from collapsekit.functional.effective_rank import effective_rank
        >>> hooks, est = {"effective_rank": spec("effective_rank").bootstrap}, effective_rank(x)
        >>> out = bootstrap_intervals(x, None, None, 50, hooks, estimates={"effective_rank": est})
        >>> lo, hi = out["effective_rank"]
        >>> lo < est < hi
        True
    """
    values = resampled_values(x, y, reference, resamples, hooks, seed, progress)
    out: dict[str, tuple[float, float]] = {}
    for key, vals in values.items():
        est = None if estimates is None else estimates.get(key)
        interval = recentred_percentile(vals, est, level)
        if interval is not None:
            out[key] = interval
    return out
