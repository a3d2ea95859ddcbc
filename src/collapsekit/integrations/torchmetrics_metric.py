"""A ``torchmetrics.Metric`` whose states are the *shifted* NC sufficient statistics.

Each process keeps the exact state of :class:`ClassStats`: per class a shift ``s_c`` (float32),
the count, the residual sum and residual square sum, and the pooled residual scatter, all
relative to the shifts (float64). Shifted moments do not lose the class spread at a large
offset (raw sums of ``h h^T`` at 1e4 with 1e-2 spread cancel ~1e-4 of it), but shifts differ
between processes, so the states cannot simply be summed. As torchmetrics' own
``PearsonCorrCoef`` does, the states are registered with ``dist_reduce_fx=None``: a DDP sync
gathers them, stacked along a new first axis, and :meth:`NeuralCollapseMetric.compute` merges
the per-process states exactly (:meth:`ClassStats.merge` re-expresses them around common shifts).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from collapsekit.metrics import MetricContext, evaluate, resolve
from collapsekit.metrics.registry import keys
from collapsekit.stats.class_stats import ClassStats

try:
    from torchmetrics import Metric
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "collapsekit.integrations.torchmetrics_metric needs torchmetrics: "
        "pip install 'collapsekit[torchmetrics]'"
    ) from _exc

_STATE_NAMES = ("counts", "shift", "resid_sum", "resid_sq", "scatter")
#: what the metric reports: the registry's neural-collapse metrics that are exact from the
#: class moments alone (NC4 needs a second pass and NC5 out-of-distribution rows)
NC_METRIC_KEYS = tuple(
    s.key
    for s in resolve(keys("neural collapse", by="section"))
    if s.exactness == "one pass" and s.needs <= {"classes", "weights"}
)


class NeuralCollapseMetric(Metric):
    """Streaming NC1-NC3 as a torchmetrics ``Metric``; exact at any offset and across DDP.

    ``compute()`` needs rows from two or more classes (ValueError otherwise). ``forward``
    (``metric(features, labels)``) adds the batch to the running state and returns the
    batch's own metrics; for a batch holding fewer than two classes those are undefined and
    returned as NaN (with ``num_samples``), so a training step never fails on such a batch.

    Example:
        >>> import torch
        >>> m = NeuralCollapseMetric(num_classes=3, dim=4)
        >>> y = torch.arange(30) % 3
        >>> m.update(torch.randn(30, 4) + 6 * torch.eye(4)[y], y)
        >>> out = m.compute()
        >>> bool(out["nc1"] < 1.0)
        True
        >>> batch = m(torch.randn(5, 4), torch.zeros(5, dtype=torch.long))  # one class
        >>> batch["num_samples"], math.isnan(batch["nc1"])
        (5.0, True)
    """

    full_state_update = True  # forward recomputes the batch from scratch: no state stacking
    is_differentiable = False
    higher_is_better = None
    counts: torch.Tensor
    shift: torch.Tensor
    resid_sum: torch.Tensor
    resid_sq: torch.Tensor
    scatter: torch.Tensor

    def __init__(
        self, num_classes: int, dim: int, weights: torch.Tensor | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        template = ClassStats(num_classes, dim)  # validates num_classes and dim
        self.num_classes, self.dim = template.num_classes, template.dim
        self.weights = weights
        self._batch_value = False
        for name, value in template._tensors().items():
            self.add_state(name, value.clone(), dist_reduce_fx=None)

    def _stats_from(self, tensors: dict[str, torch.Tensor]) -> ClassStats:
        stats = ClassStats(self.num_classes, self.dim, device=tensors["counts"].device)
        for name in _STATE_NAMES:
            setattr(stats, name, tensors[name])
        return stats

    def update(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Add a batch (validated by :meth:`ClassStats.update`; nothing changes on error)."""
        batch = ClassStats(self.num_classes, self.dim, device=self.counts.device)
        batch.update(features, labels)
        merged = self._stats_from({n: getattr(self, n) for n in _STATE_NAMES}).merge(batch)
        for name in _STATE_NAMES:
            setattr(self, name, getattr(merged, name))

    def to_class_stats(self) -> ClassStats:
        """The state as one :class:`ClassStats`; after a DDP sync (states stacked along a
        first axis, one entry per process) the per-process states are merged exactly."""
        states = {n: getattr(self, n) for n in _STATE_NAMES}
        if states["counts"].dim() == 1:
            return self._stats_from({n: t.clone() for n, t in states.items()})
        parts = [
            self._stats_from({n: t[i] for n, t in states.items()})
            for i in range(len(states["counts"]))
        ]
        total = parts[0].copy()
        for part in parts[1:]:
            total.merge(part)
        return total

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        self._batch_value = True
        try:
            return super().forward(*args, **kwargs)
        finally:
            self._batch_value = False

    def compute(self) -> dict[str, float]:
        return self.values_from(self.to_class_stats(), strict=not self._batch_value)

    def values_from(self, stats: ClassStats, strict: bool = True) -> dict[str, float]:
        """The metrics of ``stats`` (:meth:`to_class_stats`, e.g. taken inside
        ``sync_context()`` so that every process's rows count): ``num_samples`` and the NC
        metrics, NaN when fewer than two classes have rows (a ValueError when ``strict``)."""
        if int((stats.counts > 0).sum()) < 2:
            if strict:
                stats.neural_collapse()  # raises the documented "at least 2 classes" error
            names = [k for k in NC_METRIC_KEYS if self.weights is not None or k != "self_duality"]
            return {"num_samples": float(stats.num_samples), **dict.fromkeys(names, math.nan)}
        # the registry's computation over these class moments (as every entry point)
        ctx = MetricContext.from_class_stats(stats, weights=self.weights)
        values, _ = evaluate(ctx, NC_METRIC_KEYS)
        return {"num_samples": float(stats.num_samples), **values}
