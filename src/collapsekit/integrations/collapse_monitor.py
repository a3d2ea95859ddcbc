"""Per-epoch collapse tracking: NC1-NC4, effective rank, RankMe, alpha-ReQ, LiDAR, spread;
JSON-lines history and threshold warnings."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from collapsekit._validation import check_labels, check_positive_int
from collapsekit.engine.analyzer import Analyzer
from collapsekit.functional.alpha_req import DEFAULT_FIT_RANGE
from collapsekit.metrics import keys
from collapsekit.report.history import append_history
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


#: What a monitor row keeps of the engine's exact metrics (the registry's ``monitor``;
#: besides ``num_samples`` and ``lidar``).
MONITOR_KEYS = keys("monitor")


class CollapseMonitor:
    """Stream an epoch's features through the analysis engine, then log collapse metrics.

    Every value comes from :meth:`collapsekit.Analyzer.exact_metrics`, the same code as
    ``analyze()``: NC1-NC3 from the class statistics, effective rank, RankMe and alpha-ReQ
    from the total and uncentred covariance, and the std of L2-normalised rows from running
    sums, all exact over the epoch's rows in one pass. NC4 (NCC agreement) needs the final
    class means, so it runs over ``ncc_features`` passed to :meth:`end_epoch` when given.
    Label-free (self-supervised) use: pass ``labels=None`` to :meth:`update` (NC metrics then
    need labels and are left out) and feed augmented views (n, q, D) to :meth:`update_views`
    to add ``lidar`` (Thilak et al. 2023) to each row.

    Args:
        num_classes, dim: labels must lie in ``[0, num_classes)``; classifier weight row ``j``
            is class ``j`` (``num_classes=1`` for label-free use).
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

    # size: public entry point: one keyword per monitor option
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
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.dim = check_positive_int(dim, "dim")
        self.device = device
        self.alpha_fit_range = alpha_fit_range
        self.analyzer = self._fresh_analyzer()
        self.views = LiDARStats(dim, device=device)
        self.history_path = Path(history) if history is not None else None
        self.warn_below = dict(warn_below or {})
        self.warn_above = dict(warn_above or {})
        self.lidar_delta, self.lidar_eps = lidar_delta, lidar_eps
        self.rows: list[dict[str, Any]] = []

    def _fresh_analyzer(self) -> Analyzer:
        # no per-class scatters and a token sample: a monitor logs the one-pass metrics only
        return Analyzer(
            self.dim,
            device=self.device,
            sample_rows=2,
            exact_per_class=False,
            alpha_fit_range=self.alpha_fit_range,
        )

    def reset(self) -> None:
        self.analyzer = self._fresh_analyzer()
        self.views.reset()

    def update(self, features: Any, labels: Any = None) -> None:
        """Add one batch of features (N x D) and labels (N,); ``labels=None``: label-free."""
        if labels is not None:
            n = int(getattr(features, "shape", [len(features)])[0])
            labels = check_labels(labels, n, self.num_classes, "labels")
        self.analyzer.update(features, labels)

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
        a = self.analyzer
        n = a.n_rows
        out: dict[str, float] = {"num_samples": float(n)}
        if n >= 2:
            batches = None
            if weights is not None and ncc_features is not None:
                feats = ncc_features

                def batches() -> Iterable[tuple[Any, Any, Any]]:
                    return ((x, None, None) for x in feats)

            metrics = a.exact_metrics(
                weights if a.labelled else None,
                bias=bias if a.labelled else None,
                ncc_batches=batches,
            )
            out.update({k: metrics[k] for k in MONITOR_KEYS if k in metrics})
        if self.views.num_sources >= 2:
            out["lidar"] = self.views.compute(self.lidar_delta, self.lidar_eps)
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
