"""A Lightning callback that tracks neural collapse of a named layer every epoch, and the
label-free self-supervised monitors RankMe, alpha-ReQ and LiDAR."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch

from collapsekit.functional.alpha_req import DEFAULT_FIT_RANGE
from collapsekit.integrations.collapse_monitor import check_thresholds
from collapsekit.integrations.torchmetrics_metric import NeuralCollapseMetric
from collapsekit.io.feature_capture import FeatureCapture
from collapsekit.metrics import MetricContext, Options, evaluate
from collapsekit.report.history import append_history
from collapsekit.stats.class_stats import ClassStats
from collapsekit.stats.lidar_stats import LiDARStats

try:
    import pytorch_lightning as pl
except ImportError:  # pragma: no cover - exercised only without the extra
    try:
        import lightning.pytorch as pl  # type: ignore[no-redef]
    except ImportError as _exc:
        raise ImportError(
            "collapsekit.integrations.lightning_callback needs Lightning: "
            "pip install 'collapsekit[lightning]'"
        ) from _exc


#: the label-free monitors logged every epoch (``track_ssl``)
SSL_KEYS = ("effective_rank", "rankme", "alpha_req")


def labels_from_batch(batch: Any) -> torch.Tensor:
    """The default label getter: the second item of an ``(inputs, labels, ...)`` batch."""
    return batch[1]


class CollapseCallback(pl.Callback):
    """Feed the features of ``layer`` into a :class:`NeuralCollapseMetric` during training
    (one GEMM per batch, DDP-synchronised by torchmetrics) and log NC metrics each epoch.

    Labels are taken from the batch with ``label_fn`` (default: ``batch[1]``). Rows are written
    to ``history`` (JSON lines) on rank 0 for ``collapsekit track``; the metrics are also logged
    with ``pl_module.log`` under ``collapse/<name>``.

    If ``classifier`` names a linear layer, its weights add ``self_duality`` (NC3).

    Self-supervised monitors (``track_ssl=True``, the default): every epoch also logs
    ``effective_rank``, ``rankme`` and ``alpha_req`` of the captured features, from the same
    streamed covariance (no extra pass). Label-free training: pass ``label_fn=lambda b: None``
    with ``num_classes=1`` (NC metrics need two classes and are then left out). ``views_from``
    adds ``lidar``: either the key of a ``(n, q, D)`` tensor of embedded views in the dict that
    ``training_step`` returns, or a callable ``(outputs, batch) -> views``; the views are
    streamed through a :class:`LiDARStats` and summed over DDP ranks at epoch end.
    ``warn_below`` / ``warn_above`` (e.g. ``{"lidar": 4.0}`` / ``{"alpha_req": 2.0}``) add a
    ``warnings`` list to the row and emit :class:`CollapseWarning` on rank 0.
    """

    # size: public entry point: one keyword per callback option
    def __init__(
        self,
        layer: str,
        num_classes: int,
        dim: int,
        capture: Literal["input", "output"] = "input",
        classifier: str | None = None,
        history: str | Path | None = "collapsekit-history.jsonl",
        label_fn: Any = None,
        track_ssl: bool = True,
        views_from: str | Callable[[Any, Any], Any] | None = None,
        warn_below: dict[str, float] | None = None,
        warn_above: dict[str, float] | None = None,
        alpha_fit_range: tuple[int, int] = DEFAULT_FIT_RANGE,
        lidar_delta: float = 1e-4,
        lidar_eps: float = 1e-7,
    ) -> None:
        super().__init__()
        self.layer, self.capture_mode = layer, capture
        self.num_classes, self.dim = num_classes, dim
        self.classifier = classifier
        self.history = Path(history) if history is not None else None
        self._warned_cut = False
        self.label_fn = label_fn or labels_from_batch
        self.metric: NeuralCollapseMetric | None = None
        self._capture: FeatureCapture | None = None
        self.rows: list[dict[str, Any]] = []
        self.track_ssl = track_ssl
        self.views_from = views_from
        self.warn_below, self.warn_above = dict(warn_below or {}), dict(warn_above or {})
        self.alpha_fit_range = alpha_fit_range
        self.lidar_delta, self.lidar_eps = lidar_delta, lidar_eps
        self.views: LiDARStats | None = None

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        if self.metric is None:
            self.metric = NeuralCollapseMetric(self.num_classes, self.dim).to(pl_module.device)
            self._capture = FeatureCapture(pl_module, self.layer, self.capture_mode)
        self.metric.reset()
        if self.views_from is not None:
            self.views = LiDARStats(self.dim, device=pl_module.device)

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        assert self.metric is not None and self._capture is not None
        feats = self._capture.last
        if feats is not None:
            labels = self.label_fn(batch)
            if labels is None:  # label-free: one class
                labels = torch.zeros(feats.shape[0], dtype=torch.long)
            self.metric.update(feats, labels.to(feats.device))
        if self.views is not None and self.views_from is not None:
            if callable(self.views_from):
                views = self.views_from(outputs, batch)
            else:
                views = outputs[self.views_from] if isinstance(outputs, dict) else None
            if views is not None:
                self.views.update(views.detach())

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        assert self.metric is not None
        if self.classifier is not None:
            w = pl_module.get_submodule(self.classifier).weight.detach()
            self.metric.weights = w
        # every process's states, gathered once (no-op in one process): a rank that saw no
        # rows takes part too, and every metric below reads all the rows
        with self.metric.sync_context():
            stats = self.metric.to_class_stats()
        values: dict[str, float] = {"num_samples": float(stats.num_samples)}
        if int((stats.counts > 0).sum()) >= 2:
            values = self.metric.values_from(stats)
        notes: list[str] = []
        if self.track_ssl:
            ssl, notes = self._ssl_values(stats)
            values.update(ssl)
        if self.views is not None:
            self.views.all_reduce()
            if self.views.num_sources >= 2:
                values["lidar"] = self.views.compute(self.lidar_delta, self.lidar_eps)
        row: dict[str, Any] = {"epoch": trainer.current_epoch, **values}
        if notes:  # provenance: a one-shot stream cannot resolve a spectrum tail below the floor
            row["notes"] = notes
            if not self._warned_cut and trainer.is_global_zero:
                warnings.warn(f"CollapseCallback: {notes[0]}", stacklevel=2)
                self._warned_cut = True
        if trainer.is_global_zero:
            alerts = check_thresholds(row, self.warn_below, self.warn_above, row["epoch"])
            if alerts:
                row["warnings"] = alerts
        self.rows.append(row)
        finite = {f"collapse/{k}": v for k, v in values.items() if torch.isfinite(torch.tensor(v))}
        pl_module.log_dict(finite, sync_dist=False)
        if self.history is not None and trainer.is_global_zero:
            append_history(self.history, row)

    def _ssl_values(self, stats: ClassStats) -> tuple[dict[str, float], list[str]]:
        """Effective rank, RankMe and alpha-ReQ of the streamed rows, through the registry
        (the same computation as ``analyze`` and the monitor), and the notes that say when the
        spectrum's tail was cut (the callback sees each row once: no deflated second pass)."""
        if stats.num_samples < 2:
            return {}, []
        options = Options(alpha_fit_range=self.alpha_fit_range)
        ctx = MetricContext.from_class_stats(stats, options=options)
        values, provenance = evaluate(ctx, SSL_KEYS)
        if not ctx.cache.get("tail cut"):
            return values, []
        cut = sorted(k for k in SSL_KEYS if k in provenance and "cut" in provenance[k])
        return values, [f"{', '.join(cut)}: {provenance[cut[0]]}", *ctx.notes] if cut else []

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if self._capture is not None:
            self._capture.remove()
            self._capture = None
