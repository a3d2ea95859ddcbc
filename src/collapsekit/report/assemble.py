"""One ``compute()`` assembled into a :class:`Report`: the registry's metrics over an
Analyzer's statistics (:func:`collapsekit.metrics.evaluate` over the engine's context), then
the isotropic baseline, the bootstrap intervals and the verdict, all from the same rows.

This sits above the engine and the verdict (docs/architecture.md): ``Analyzer.compute`` is
the one place below that calls up here, to hand back the Report it promises.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import torch

from collapsekit.engine.computation import AUTO_BOOTSTRAP_MAX_ROWS, Request, build_context
from collapsekit.functional._common import l2_normalize
from collapsekit.inference.bootstrap import bootstrap_intervals
from collapsekit.inference.null_model import NC_NULL_KEYS, SIMULATED_NULLS, isotropic_null
from collapsekit.metrics import MetricContext, evaluate, resolve
from collapsekit.metrics.context import Progress
from collapsekit.metrics.evaluate import prepare
from collapsekit.metrics.per_class import per_class_ranks
from collapsekit.metrics.probe import probe_plan
from collapsekit.metrics.spectrum import spectra
from collapsekit.report.report import Report
from collapsekit.stats.class_stats import ClassStats
from collapsekit.verdict import Thresholds, decide

if TYPE_CHECKING:
    from collapsekit.engine.analyzer import Analyzer

#: Largest number of classes for which the report keeps the K x K centroid-cosine matrix.
CENTROID_MATRIX_MAX_CLASSES = 64


def check_thresholds(thresholds: Any) -> Thresholds | None:
    """``thresholds`` is None or a :class:`~collapsekit.Thresholds` (TypeError otherwise)."""
    if thresholds is not None and not isinstance(thresholds, Thresholds):
        raise TypeError(
            f"thresholds: expected a collapsekit.Thresholds, received "
            f"{type(thresholds).__name__}; build one with Thresholds(...) or "
            "Thresholds.from_strings(['name=value'])"
        )
    return thresholds


def build_report(a: Analyzer, request: Request, progress: Progress | None = None) -> Report:
    """Every requested metric, the isotropic baseline, intervals and verdict."""
    check_thresholds(request.thresholds)
    ctx = build_context(a, request, progress)
    specs = resolve(request.metrics)
    if request.metrics is not None:
        ctx.requested = frozenset(s.key for s in specs)
    if ctx.labelled and ctx.k < 2:
        ctx.notes.append("a single class: class-separation metrics need two or more")
    # the baseline's simulation runs beside the metrics' factorisations, one pool for all
    # (it reports its own progress, step by step)
    [(base, base_spectrum)] = prepare(ctx, request.metrics, alongside=[_baseline(a, ctx)])
    values, provenance = evaluate(ctx, [s.key for s in specs])
    intervals, resamples = _intervals(ctx, request)
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
        rows=_rows(ctx),
        shape=(ctx.n, ctx.d),
    )
    return Report(
        metrics=values,
        verdict=verdict,
        inputs=_inputs(a, ctx, request, resamples),
        intervals=intervals,
        interval_level=request.interval_level,
        baseline=base,
        spectrum=_spectrum(ctx, base_spectrum),
        centroid_cosine=_centroid_cosine(ctx, centred=False),
        class_mean_cosine_centred=_centroid_cosine(ctx, centred=True),
        per_class_effective_rank=ranks,
        provenance=provenance,
    )


def _rows(ctx: MetricContext) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The row sample and its class ids in reporting order (the verdict's probe
    confirmation), or ``None`` without labelled sampled rows."""
    s = ctx.sample
    if s is None or s.y is None or not ctx.labelled or ctx.k < 2:
        return None
    return s.x, s.y


def _baseline(
    a: Analyzer, ctx: MetricContext
) -> Callable[[], tuple[dict[str, float], list[float]]]:
    """The isotropic null of these rows, as a job (decided here, run in :func:`prepare`'s
    pool): the simulated nulls of metrics that were not asked for are left out."""
    # the silhouette null is needed when no probe is fitted (the verdict then reads it)
    with_silhouette = not (ctx.labelled and ctx.k >= 2 and probe_plan(ctx) is not None)
    counts = ctx.counts if ctx.labelled else None
    asked = ctx.requested
    simulate = None
    if asked is not None:  # the NC null only when an NC metric was asked for
        simulate = asked & SIMULATED_NULLS | (
            {"neural_collapse"} if asked & NC_NULL_KEYS else set()
        )
    return partial(
        isotropic_null,
        ctx.n,
        ctx.d,
        counts,
        a.seed,
        ctx.device,
        with_silhouette=with_silhouette,
        simulate=simulate,
        progress=lambda done, total: ctx.progress("baseline", done, total),
    )


def _spectrum(ctx: MetricContext, base_spectrum: list[float]) -> dict[str, list[float]]:
    """The whole spectrum, min(N, D) shares of singular-value mass (no cut: 768 values for
    D = 768), and the isotropic one of the same length."""
    if "spectra" not in ctx.cache:
        return {}
    s = spectra(ctx)[0]
    data = (s / s.sum().clamp_min(1e-300)).tolist()
    return {"data": data, "isotropic": list(base_spectrum)}


def _centroid_cosine(ctx: MetricContext, centred: bool) -> list[list[float]] | None:
    """K x K cosines of the class means: uncentred (``mu_c``) or centred (``mu_c - mu_G``, the
    neural-collapse view: -1/(K-1) off the diagonal at a simplex ETF); None unless labelled
    with 2 to :data:`CENTROID_MATRIX_MAX_CLASSES` classes."""
    if not (ctx.labelled and 2 <= ctx.k <= CENTROID_MATRIX_MAX_CLASSES):
        return None
    means = ctx.means - ctx.class_stats.global_mean_vector() if centred else ctx.means
    unit = l2_normalize(means)
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
        progress=lambda done, total: ctx.progress("bootstrap", done, total),
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
