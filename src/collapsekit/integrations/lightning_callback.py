"""A Lightning callback that tracks neural collapse of a named layer every epoch."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch

from collapsekit.integrations.feature_capture import FeatureCapture
from collapsekit.integrations.torchmetrics_metric import NeuralCollapseMetric
from collapsekit.report.history import append_history

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
    """

    def __init__(
        self,
        layer: str,
        num_classes: int,
        dim: int,
        capture: Literal["input", "output"] = "input",
        classifier: str | None = None,
        history: str | Path | None = "collapsekit-history.jsonl",
        label_fn: Any = None,
    ) -> None:
        super().__init__()
        self.layer, self.capture_mode = layer, capture
        self.num_classes, self.dim = num_classes, dim
        self.classifier = classifier
        self.history = Path(history) if history is not None else None
        self.label_fn = label_fn or labels_from_batch
        self.metric: NeuralCollapseMetric | None = None
        self._capture: FeatureCapture | None = None
        self.rows: list[dict[str, Any]] = []

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        if self.metric is None:
            self.metric = NeuralCollapseMetric(self.num_classes, self.dim).to(pl_module.device)
            self._capture = FeatureCapture(pl_module, self.layer, self.capture_mode)
        self.metric.reset()

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        assert self.metric is not None and self._capture is not None
        feats = self._capture.last
        if feats is not None:
            self.metric.update(feats, self.label_fn(batch).to(feats.device))

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        assert self.metric is not None
        if self.classifier is not None:
            w = pl_module.get_submodule(self.classifier).weight.detach()
            self.metric.weights = w
        values = self.metric.compute()
        row = {"epoch": trainer.current_epoch, **values}
        self.rows.append(row)
        finite = {f"collapse/{k}": v for k, v in values.items() if torch.isfinite(torch.tensor(v))}
        pl_module.log_dict(finite, sync_dist=False)
        if self.history is not None and trainer.is_global_zero:
            append_history(self.history, row)

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if self._capture is not None:
            self._capture.remove()
            self._capture = None
