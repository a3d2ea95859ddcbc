"""Per-epoch collapse tracking: NC1-NC4, effective rank, RankMe, alpha-ReQ, LiDAR, spread;
JSON-lines history and threshold warnings."""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from collapsekit._validation import check_features
from collapsekit.functional._common import l2_normalize
from collapsekit.functional.alpha_req import DEFAULT_FIT_RANGE, alpha_req_from_eigenvalues
from collapsekit.functional.effective_rank import entropy_rank
from collapsekit.functional.rankme import rankme_from_singular_values
from collapsekit.functional.spectrum import singular_values_from_covariance
from collapsekit.report.history import append_history
from collapsekit.stats.class_stats import ClassStats
from collapsekit.stats.lidar_stats import LiDARStats


class CollapseWarning(UserWarning):
    """Emitted when a monitored quantity crosses its threshold."""


def check_thresholds(
    row: dict[str, Any],
    warn_below: dict[str, float] | None = None,
    warn_above: dict[str, float] | None = None,
    epoch: Any = None,
) -> list[str]:
    """Messages for every finite metric of ``row`` below its ``warn_below`` or above its
    ``warn_above`` threshold; each is also emitted as a :class:`CollapseWarning`.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     check_thresholds({"rankme": 1.5, "alpha_req": 3.0}, {"rankme": 2}, {"alpha_req": 2})
        ['rankme = 1.5 fell below 2', 'alpha_req = 3 rose above 2']
    """
    alerts = []
    for limits, below in ((warn_below or {}, True), (warn_above or {}, False)):
        for key, limit in limits.items():
            value = row.get(key)
            if not (isinstance(value, int | float) and math.isfinite(value)):
                continue
            if below and value < limit:
                alerts.append(f"{key} = {value:.4g} fell below {limit:g}")
            elif not below and value > limit:
                alerts.append(f"{key} = {value:.4g} rose above {limit:g}")
    where = f"epoch {epoch}: " if epoch is not None else ""
    for a in alerts:
        warnings.warn(f"{where}{a}", CollapseWarning, stacklevel=3)
    return alerts


class CollapseMonitor:
    """Stream an epoch's features through :class:`ClassStats`, then log collapse metrics.

    Everything except NC4 comes from the one streamed pass (one GEMM per batch): NC1-NC3 from
    the class statistics, effective rank, RankMe and alpha-ReQ from the total and uncentred
    covariance, and the std of L2-normalised rows from running sums. NC4 (NCC agreement) needs
    the final class means, so it runs over ``ncc_features`` passed to :meth:`end_epoch` when
    given. Label-free (self-supervised) use: pass ``labels=None`` to :meth:`update` (every row
    in one class; NC metrics then need labels and are left out) and feed augmented views
    (n, q, D) to :meth:`update_views` to add ``lidar`` (Thilak et al. 2023) to each row.

    Args:
        num_classes, dim: as for :class:`ClassStats` (``num_classes=1`` for label-free use).
        history: path of the JSON-lines history file (``None``: keep rows in memory only).
        warn_below: thresholds such as ``{"rankme": 8.0, "lidar": 4.0, "effective_rank": 2.0}``;
            a metric below its threshold adds a warning to the row and emits CollapseWarning.
        warn_above: the same for metrics whose *rise* means collapse, e.g.
            ``{"alpha_req": 2.0, "nc1": 10.0}``.
        alpha_fit_range: eigenvalue ranks of the alpha-ReQ fit (see
            :func:`collapsekit.functional.alpha_req`); the key is left out of a row when fewer
            than two non-zero eigenvalues fall in the range.
        lidar_delta, lidar_eps: LiDAR's regulariser and entropy epsilon.

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
        warn_above: dict[str, float] | None = None,
        alpha_fit_range: tuple[int, int] = DEFAULT_FIT_RANGE,
        lidar_delta: float = 1e-4,
        lidar_eps: float = 1e-7,
    ) -> None:
        self.stats = ClassStats(num_classes, dim, device=device)
        self.views = LiDARStats(dim, device=device)
        self.history_path = Path(history) if history is not None else None
        self.warn_below = dict(warn_below or {})
        self.warn_above = dict(warn_above or {})
        self.alpha_fit_range = alpha_fit_range
        self.lidar_delta, self.lidar_eps = lidar_delta, lidar_eps
        self.rows: list[dict[str, Any]] = []
        self._unit_sum = torch.zeros(dim, dtype=torch.float64)
        self._unit_sq = torch.zeros(dim, dtype=torch.float64)

    def reset(self) -> None:
        self.stats.reset()
        self.views.reset()
        self._unit_sum.zero_()
        self._unit_sq.zero_()

    def update(self, features: Any, labels: Any = None) -> None:
        """Add one batch of features (N x D) and labels (N,); ``labels=None``: label-free."""
        if labels is None:
            n = int(getattr(features, "shape", [len(features)])[0])
            labels = torch.zeros(n, dtype=torch.long)
        self.stats.update(features, labels)
        # already validated by stats.update: no second finiteness pass
        x = check_features(features, "features", self.stats.dim, self.stats.device, 0, False)
        unit = l2_normalize(x)
        self._unit_sum = self._unit_sum.to(unit.device) + unit.sum(0)
        self._unit_sq = self._unit_sq.to(unit.device) + unit.square().sum(0)

    def update_views(self, views: Any) -> None:
        """Add augmented views (n, q, D): q views of each of n source samples (for LiDAR)."""
        self.views.update(views)

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
            with contextlib.suppress(ValueError):  # too few eigenvalues for the fit range
                out["alpha_req"] = alpha_req_from_eigenvalues(sv.square(), self.alpha_fit_range)
        if self.views.num_sources >= 2:
            out["lidar"] = self.views.compute(self.lidar_delta, self.lidar_eps)
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
        alerts = check_thresholds(row, self.warn_below, self.warn_above, epoch)
        if alerts:
            row["warnings"] = alerts
        self.rows.append(row)
        if self.history_path is not None:
            append_history(self.history_path, row)
        if reset:
            self.reset()
        return row
