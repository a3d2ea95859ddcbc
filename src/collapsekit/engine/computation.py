"""One ``compute()``: the registry's metrics over an Analyzer's statistics, then the
baseline, the intervals and the verdict, assembled into a :class:`Report`.

Every metric value comes from :func:`collapsekit.metrics.evaluate` over one
:class:`~collapsekit.metrics.MetricContext`; nothing here computes a metric.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from collapsekit._validation import as_tensor, check_features
from collapsekit.functional._common import l2_normalize
from collapsekit.inference.bootstrap import bootstrap_intervals
from collapsekit.inference.null_model import isotropic_null
from collapsekit.metrics import Classifier, MetricContext, Options, RowSample, evaluate, resolve
from collapsekit.metrics.context import Progress, RowPass
from collapsekit.metrics.neural_collapse import check_ood
from collapsekit.metrics.per_class import per_class_ranks
from collapsekit.metrics.probe import probe_plan
from collapsekit.metrics.spectrum import spectra
from collapsekit.report.report import Report
from collapsekit.stats.class_stats import ClassStats
from collapsekit.verdict import Thresholds, decide

if TYPE_CHECKING:
    from collapsekit.engine.analyzer import Analyzer

#: Largest cohort for which ``compute`` bootstraps by default (``bootstrap=None``).
AUTO_BOOTSTRAP_MAX_ROWS = 500
#: Largest number of classes for which the report keeps the K x K centroid-cosine matrix.
CENTROID_MATRIX_MAX_CLASSES = 64


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
    assert a.dim is not None and a.class_stats is not None
    dev = a.class_stats.device
    if weights is None:
        if bias is not None:
            raise ValueError("bias: expected weights with it (NC3/NC4 need the classifier)")
        return None
    if not a.labelled:
        raise ValueError("weights: expected labels as well (NC3/NC4 compare classes)")
    w = check_features(weights, "weights", a.dim, dev)
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
    cs = a.class_stats
    assert cs is not None and a.dim is not None and a.units is not None
    present = cs.present_classes().tolist()
    if a.labelled:
        have = set(present)
        ids = [i for i in a.encoder.canonical_order() if i in have]
        names = [a.encoder.names[c] for c in ids]
    else:
        ids, names = present, ["all"]
    ood = (
        None if request.ood_features is None else check_ood(request.ood_features, a.dim, cs.device)
    )
    ctx = MetricContext(
        class_stats=cs,
        n=a.n_rows,
        d=a.dim,
        labelled=bool(a.labelled),
        ids=ids,
        names=names,
        units=a.units,
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


def compute_report(a: Analyzer, request: Request, progress: Progress | None = None) -> Report:
    """Every requested metric, the isotropic baseline, intervals and verdict."""
    ctx = build_context(a, request, progress)
    specs = resolve(request.metrics)
    if ctx.labelled and ctx.k < 2:
        ctx.notes.append("a single class: class-separation metrics need two or more")
    ctx.progress("baseline", 0, None)
    base, base_spectrum = _baseline(a, ctx)
    ctx.progress("baseline", 1, 1)
    values, provenance = evaluate(ctx, [s.key for s in specs])
    intervals, resamples = _intervals(ctx, request)
    ctx.progress("bootstrap", resamples, resamples)
    stats = _canonical_stats(ctx)
    ranks = per_class_ranks(ctx)[0] if "per_class_ranks" in ctx.cache else {}
    clf = ctx.classifier
    verdict = decide(
        values,
        base,
        request.thresholds,
        stats=stats,
        class_names=ctx.names if ctx.labelled else None,
        per_class_rank=ranks,
        weights=None if clf is None else clf.weights[clf.rows],
        class_counts=ctx.counts if ctx.labelled else None,
        labels=ctx.labelled,
    )
    return Report(
        metrics=values,
        verdict=verdict,
        inputs=_inputs(a, ctx, request, resamples),
        intervals=intervals,
        interval_level=request.interval_level,
        baseline=base,
        spectrum=_spectrum(ctx, base_spectrum),
        centroid_cosine=_centroid_cosine(ctx),
        per_class_effective_rank=ranks,
        provenance=provenance,
    )


def _baseline(a: Analyzer, ctx: MetricContext) -> tuple[dict[str, float], list[float]]:
    # the silhouette null is needed when no probe is fitted (the verdict then reads it)
    with_silhouette = not (ctx.labelled and ctx.k >= 2 and probe_plan(ctx) is not None)
    counts = ctx.counts if ctx.labelled else None
    return isotropic_null(ctx.n, ctx.d, counts, a.seed, ctx.device, with_silhouette=with_silhouette)


def _spectrum(ctx: MetricContext, base_spectrum: list[float]) -> dict[str, list[float]]:
    if "spectra" not in ctx.cache:
        return {}
    s = spectra(ctx)[0]
    data = (s / s.sum().clamp_min(1e-300)).tolist()
    return {"data": data[:512], "isotropic": base_spectrum[:512]}


def _centroid_cosine(ctx: MetricContext) -> list[list[float]] | None:
    if not (ctx.labelled and 2 <= ctx.k <= CENTROID_MATRIX_MAX_CLASSES):
        return None
    unit = l2_normalize(ctx.means)
    return (unit @ unit.T).tolist()


def _inputs(a: Analyzer, ctx: MetricContext, request: Request, resamples: int) -> dict[str, Any]:
    labelled = ctx.labelled
    counts = ctx.counts.tolist()
    return {
        "n": ctx.n,
        "d": ctx.d,
        "dtype": a.input_dtype,
        "num_classes": ctx.k if labelled else 0,
        "class_counts": (
            {nm: int(c) for nm, c in zip(ctx.names, counts, strict=True)} if labelled else {}
        ),
        "class_names": ctx.names if labelled else None,
        "labels": labelled,
        "weights": request.weights is not None,
        "reference": ctx.cross is not None,
        "ood_features": request.ood_features is not None,
        "bootstrap_resamples": resamples,
        "sample_rows": 0 if ctx.sample is None else ctx.sample.x.shape[0],
        "passes": 2 if request.second_pass is not None else 1,
        "metrics": list(request.metrics) if request.metrics is not None else None,
        "notes": ctx.notes,
    }


def _intervals(ctx: MetricContext, request: Request) -> tuple[dict[str, tuple[float, float]], int]:
    n = ctx.n
    b = request.bootstrap
    resamples = b if b is not None else (200 if n <= AUTO_BOOTSTRAP_MAX_ROWS else 0)
    if not resamples:
        return {}, 0
    sample = ctx.sample
    if sample is None or not sample.holds_all:
        m = 0 if sample is None else sample.x.shape[0]
        ctx.notes.append(
            f"bootstrap intervals skipped: they need every row in the sample (N = {n} > "
            f"sample_rows = {m}); raise sample_rows to get them"
        )
        return {}, 0
    hooks = {
        s.key: s.bootstrap
        for s in resolve(request.metrics)
        if s.bootstrap is not None and s.key in ctx.values
    }
    y = sample.y if ctx.labelled and ctx.k >= 2 else None
    ctx.progress("bootstrap", 0, resamples)
    raw = bootstrap_intervals(
        sample.x,
        y,
        sample.reference,
        resamples,
        hooks,
        ctx.options.seed,
        request.interval_level,
        ctx.values,
    )
    out: dict[str, tuple[float, float]] = {}
    for key, (lo, hi) in raw.items():
        value = ctx.values[key]
        if lo <= value <= hi:
            out[key] = (lo, hi)
        else:  # a non-finite estimate or spread
            ctx.notes.append(f"no interval for {key}: the bootstrap gave no finite spread")
    return out, resamples


def _canonical_stats(ctx: MetricContext) -> ClassStats | None:
    """The class statistics with class j = the j-th reported class (names order)."""
    if not ctx.labelled or ctx.k < 2:
        return None
    cs = ctx.class_stats
    out = ClassStats(
        ctx.k,
        ctx.d,
        device=cs.device,
        global_mean=cs.global_mean,
        rtol=cs.rtol,
        tile_bytes=cs.tile_bytes,
    )
    ids = torch.tensor(ctx.ids, dtype=torch.long, device=cs.device)
    out.counts, out.shift = cs.counts[ids].clone(), cs.shift[ids].clone()
    out.resid_sum, out.resid_sq = cs.resid_sum[ids].clone(), cs.resid_sq[ids].clone()
    out.scatter = cs.scatter.clone()
    return out


def metric_list(metrics: Iterable[str] | None) -> tuple[str, ...] | None:
    """``metrics=`` validated: None, or known metric keys (ValueError naming the unknown)."""
    if metrics is None:
        return None
    return tuple(s.key for s in resolve(metrics))
