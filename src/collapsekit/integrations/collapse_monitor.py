"""Per-epoch collapse tracking: NC1-NC4, effective rank, RankMe, spread; JSON-lines history."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from collapsekit._validation import check_features
from collapsekit.functional._common import l2_normalize
from collapsekit.functional.effective_rank import entropy_rank
from collapsekit.functional.rankme import rankme_from_singular_values
from collapsekit.functional.spectrum import singular_values_from_covariance
from collapsekit.report.history import append_history
from collapsekit.stats.class_stats import ClassStats


class CollapseWarning(UserWarning):
    """Emitted when a monitored quantity falls below its threshold."""


class CollapseMonitor:
    """Stream an epoch's features through :class:`ClassStats`, then log collapse metrics.

    Everything except NC4 comes from the one streamed pass (one GEMM per batch): NC1-NC3 from
    the class statistics, effective rank and RankMe from the total and uncentred covariance,
    and the std of L2-normalised rows from running sums. NC4 (NCC agreement) needs the final
    class means, so it runs over ``ncc_features`` passed to :meth:`end_epoch` when given.

    Args:
        num_classes, dim: as for :class:`ClassStats`.
        history: path of the JSON-lines history file (``None``: keep rows in memory only).
        warn_below: thresholds such as ``{"effective_rank": 2.0, "std_of_l2_normalized": 0.01}``;
            a metric below its threshold adds a warning to the row and emits CollapseWarning.

    Example:
        >>> import torch
        >>> mon = CollapseMonitor(num_classes=2, dim=3, history=None)
        >>> y = torch.arange(10) % 2
        >>> mon.update(torch.randn(10, 3) + 5 * torch.eye(3)[y], y)
        >>> row = mon.end_epoch(epoch=0)
        >>> row["epoch"], row["nc1"] > 0
        (0, True)
    """

    def __init__(
        self,
        num_classes: int,
        dim: int,
        history: str | Path | None = "collapsekit-history.jsonl",
        warn_below: dict[str, float] | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        self.stats = ClassStats(num_classes, dim, device=device)
        self.history_path = Path(history) if history is not None else None
        self.warn_below = dict(warn_below or {})
        self.rows: list[dict[str, Any]] = []
        self._unit_sum = torch.zeros(dim, dtype=torch.float64)
        self._unit_sq = torch.zeros(dim, dtype=torch.float64)

    def reset(self) -> None:
        self.stats.reset()
        self._unit_sum.zero_()
        self._unit_sq.zero_()

    def update(self, features: Any, labels: Any) -> None:
        """Add one batch of features (N x D) and labels (N,)."""
        self.stats.update(features, labels)
        # already validated by stats.update: no second finiteness pass
        x = check_features(features, "features", self.stats.dim, self.stats.device, 0, False)
        unit = l2_normalize(x)
        self._unit_sum = self._unit_sum.to(unit.device) + unit.sum(0)
        self._unit_sq = self._unit_sq.to(unit.device) + unit.square().sum(0)

    def compute(
        self,
        weights: Any = None,
        bias: Any = None,
        ncc_features: Iterable[Any] | None = None,
    ) -> dict[str, float]:
        """Metrics of the rows seen since the last reset."""
        s = self.stats
        n = s.num_samples
        out: dict[str, float] = {"num_samples": float(n)}
        if n >= 2:
            total = s.total_cov()
            sv = singular_values_from_covariance(total, n)
            out["effective_rank"] = entropy_rank(sv)
            mean = s.class_means().T @ s.counts[s.present_classes()].double() / n
            out["rankme"] = rankme_from_singular_values(
                singular_values_from_covariance(total + torch.outer(mean, mean), n)
            )
            var = (self._unit_sq - self._unit_sum.square() / n) / (n - 1)
            out["std_of_l2_normalized"] = float(var.clamp_min(0.0).sqrt().mean())
        if int((s.counts > 0).sum()) >= 2:
            agreement = None
            if weights is not None and ncc_features is not None:
                counter = s.ncc_counter(weights, bias)
                for batch in ncc_features:
                    counter.update(batch)
                agreement = counter.compute()
            out.update(s.neural_collapse(weights=weights, ncc_agreement=agreement))
        return out

    def end_epoch(
        self,
        epoch: int,
        weights: Any = None,
        bias: Any = None,
        ncc_features: Iterable[Any] | None = None,
        extra: dict[str, float] | None = None,
        reset: bool = True,
    ) -> dict[str, Any]:
        """Compute, check thresholds, append the row to the history, reset for the next epoch."""
        row: dict[str, Any] = {"epoch": epoch}
        row.update(self.compute(weights, bias, ncc_features))
        row.update(extra or {})
        alerts = []
        for key, limit in self.warn_below.items():
            value = row.get(key)
            if isinstance(value, float) and math.isfinite(value) and value < limit:
                alerts.append(f"{key} = {value:.4g} fell below {limit:g}")
        if alerts:
            row["warnings"] = alerts
            for a in alerts:
                warnings.warn(f"epoch {epoch}: {a}", CollapseWarning, stacklevel=2)
        self.rows.append(row)
        if self.history_path is not None:
            append_history(self.history_path, row)
        if reset:
            self.reset()
        return row
