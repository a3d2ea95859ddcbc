"""A ``torchmetrics.Metric`` whose states are the NC sufficient statistics (sum-reduced).

torchmetrics synchronises states across DDP processes by summing, so the states must not
depend on a per-process shift. Each batch is first summarised exactly (shifted float32 GEMM,
as in :class:`ClassStats`), then converted to shift-free float64 moments: per-class counts,
sums and squared norms, and the pooled second moment ``sum_i h_i h_i^T``. ``compute`` turns the
summed moments back into a :class:`ClassStats` (float64 algebra). The conversion cancels the
mean in float64 rather than float32: exact to ~1e-16 * (offset / spread)^2, i.e. 1e-8 relative
even when features sit at 1e4 with 1e-2 spread.
"""

from __future__ import annotations

from typing import Any

import torch

from collapsekit.stats.class_stats import ClassStats

try:
    from torchmetrics import Metric
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "collapsekit.integrations.torchmetrics_metric needs torchmetrics: "
        "pip install 'collapsekit[torchmetrics]'"
    ) from _exc


class NeuralCollapseMetric(Metric):
    """Streaming NC1-NC3 (+ effective rank) as a torchmetrics ``Metric``; DDP-safe by sums.

    Example:
        >>> import torch
        >>> m = NeuralCollapseMetric(num_classes=3, dim=4)
        >>> y = torch.arange(30) % 3
        >>> m.update(torch.randn(30, 4) + 6 * torch.eye(4)[y], y)
        >>> out = m.compute()
        >>> bool(out["nc1"] < 1.0)
        True
    """

    full_state_update = False
    is_differentiable = False
    higher_is_better = None
    counts: torch.Tensor
    class_sums: torch.Tensor
    class_sq: torch.Tensor
    second_moment: torch.Tensor

    def __init__(
        self, num_classes: int, dim: int, weights: torch.Tensor | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.num_classes, self.dim = num_classes, dim
        self.weights = weights
        f64 = torch.float64
        self.add_state("counts", torch.zeros(num_classes, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("class_sums", torch.zeros(num_classes, dim, dtype=f64), dist_reduce_fx="sum")
        self.add_state("class_sq", torch.zeros(num_classes, dtype=f64), dist_reduce_fx="sum")
        self.add_state("second_moment", torch.zeros(dim, dim, dtype=f64), dist_reduce_fx="sum")

    def update(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        batch = ClassStats(self.num_classes, self.dim, device=self.counts.device)
        batch.update(features, labels)
        # shift-free moments: add back n s s^T + s r^T + r s^T per class (float64)
        s, r, n = batch.shift.double(), batch.resid_sum, batch.counts.double()
        cross = s.T @ r
        self.second_moment += batch.scatter + cross + cross.T + (s * n[:, None]).T @ s
        self.class_sums += r + n[:, None] * s
        self.class_sq += batch.resid_sq + 2.0 * (s * r).sum(1) + n * s.square().sum(1)
        self.counts += batch.counts

    def to_class_stats(self) -> ClassStats:
        """The summed moments as a :class:`ClassStats` (shifted to the class means)."""
        stats = ClassStats(self.num_classes, self.dim, device=self.counts.device)
        stats.counts = self.counts.clone()
        stats.resid_sum = self.class_sums.clone()
        stats.resid_sq = self.class_sq.clone()
        stats.scatter = self.second_moment.clone()
        seen = self.counts > 0
        means = torch.zeros(
            self.num_classes, self.dim, dtype=torch.float32, device=self.counts.device
        )
        means[seen] = (self.class_sums[seen] / self.counts[seen, None].double()).float()
        stats._reshift(means)
        return stats

    def compute(self) -> dict[str, float]:
        stats = self.to_class_stats()
        return {
            "num_samples": float(stats.num_samples),
            **stats.neural_collapse(weights=self.weights),
        }
