"""The engine's side of ``compute()``: what was asked (:class:`Request`), and the
:class:`~collapsekit.metrics.MetricContext` of an Analyzer's statistics that every metric is
evaluated over (:func:`build_context`; the report is assembled above, in
:mod:`collapsekit.report.assemble`). Nothing here computes a metric.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from collapsekit._validation import as_tensor, check_features
from collapsekit.engine.state import started
from collapsekit.metrics import Classifier, MetricContext, Options, RowSample, evaluate, resolve
from collapsekit.metrics.context import Progress, RowPass
from collapsekit.metrics.neural_collapse import check_ood

if TYPE_CHECKING:
    from collapsekit.engine.analyzer import Analyzer
    from collapsekit.verdict import Thresholds

#: Largest cohort for which ``compute`` bootstraps by default (``bootstrap=None``).
AUTO_BOOTSTRAP_MAX_ROWS = 500


@dataclass(frozen=True)
class Request:
    """What one ``compute()`` was asked for (validated by ``Analyzer.compute``)."""

    weights: Any = None
    bias: Any = None
    ood_features: Any = None
    second_pass: RowPass | None = None
    bootstrap: int | None = None
    interval_level: float = 0.95
    thresholds: Thresholds | None = None
    metrics: tuple[str, ...] | None = None
    options: Options = field(default_factory=Options)


def classifier(a: Analyzer, ids: list[int], weights: Any, bias: Any) -> Classifier | None:
    """The classifier rows matched to the reported classes (by label value or name)."""
    dim, class_stats, _ = started(a)
    dev = class_stats.device
    if weights is None:
        if bias is not None:
            raise ValueError("bias: expected weights with it (NC3/NC4 need the classifier)")
        return None
    if not a.labelled:
        raise ValueError("weights: expected labels as well (NC3/NC4 compare classes)")
    w = check_features(weights, "weights", dim, dev)
    rows = a.encoder.weight_rows(ids, w.shape[0])
    b = None
    if bias is not None:
        b = as_tensor(bias, "bias", dev).double().flatten()
        if b.numel() != w.shape[0]:
            raise ValueError(
                f"bias: expected {w.shape[0]} values (one per weight row), received {b.numel()}"
            )
        if not bool(torch.isfinite(b).all()):
            raise ValueError("bias: expected finite values, received NaN or Inf")
    return Classifier(w, torch.tensor(rows, dtype=torch.long, device=dev), b)


def build_context(
    a: Analyzer,
    request: Request,
    progress: Progress | None = None,
    *,
    with_sample: bool = True,
) -> MetricContext:
    """The metric context of everything ``a`` accumulated (``with_sample=False``: the
    one-pass statistics only, as the per-epoch monitors use)."""
    dim, cs, units = started(a)
    present = cs.present_classes().tolist()
    if a.labelled:
        have = set(present)
        ids = [i for i in a.encoder.canonical_order() if i in have]
        names = [a.encoder.names[c] for c in ids]
    else:
        ids, names = present, ["all"]
    ood = None if request.ood_features is None else check_ood(request.ood_features, dim, cs.device)
    ctx = MetricContext(
        class_stats=cs,
        n=a.n_rows,
        d=dim,
        labelled=bool(a.labelled),
        ids=ids,
        names=names,
        units=units,
        per_class=a.per_class,
        per_class_note=a.per_class_note,
        cross=a.cross,
        classifier=classifier(a, ids, request.weights, request.bias),
        ood=ood,
        row_pass=request.second_pass,
        encode_labels=a.encode_again,
        options=request.options,
    )
    if progress is not None:
        ctx.progress = progress
    res = a.reservoir
    if with_sample and res.rows is not None:
        y = None if res.labels is None else ctx.position[res.labels.to(cs.device)]
        ctx.sample = RowSample(res.rows, y, res.reference, res.size == a.n_rows)
    return ctx


def exact_only(a: Analyzer, request: Request) -> dict[str, float]:
    """The one-pass metrics (and NC4 from ``request.second_pass`` when weights are given):
    what the per-epoch monitors log."""
    ctx = build_context(a, request, with_sample=False)
    ctx.row_pass_labelled = False
    kinds = ["one pass"]
    if request.second_pass is not None and ctx.classifier is not None:
        kinds.append("rows")
    else:
        ctx.row_pass = None
    values, _ = evaluate(ctx, request.metrics, exactness=kinds)
    return values


def metric_list(metrics: Iterable[str] | None) -> tuple[str, ...] | None:
    """``metrics=`` validated: None, or known metric keys (ValueError naming the unknown)."""
    if metrics is None:
        return None
    return tuple(s.key for s in resolve(metrics))
