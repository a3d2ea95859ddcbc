"""Metrics scored row by row against the final class statistics: cosine silhouette,
leave-one-out centroid stability and NC4 agreement.

One pass serves all three: over every row again (exact) when the context has a row pass,
otherwise over the seeded row sample, each sampled row scored against the exact class
statistics.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from collapsekit._validation import check_features
from collapsekit.functional._common import l2_normalize
from collapsekit.functional.centroid_similarity import (
    centroid_similarity_from_means,
    leave_one_out_similarities_from_means,
)
from collapsekit.functional.ncc_agreement import ncc_predictions
from collapsekit.functional.resampled import silhouette_resampled
from collapsekit.functional.silhouette import cosine_silhouette_rows
from collapsekit.metrics.context import MetricContext
from collapsekit.metrics.spec import Measured, MetricSpec, Panel, Resamples

_CHUNK = 4096  # rows per sub-chunk at most
_TILE_ELEMENTS = 2**22  # (rows x K) float64 temporaries per sub-chunk: 32 MiB each
#: most row-class scores (rows x K) of the silhouette and NC4: past it the rows scored are a
#: seeded part of the sample (N x K = 8e10 at 200,000 classes of 2 rows: hours of work)
ROW_CLASS_BUDGET = 2**30


@dataclass
class RowSums:
    """Running sums of the per-row scores."""

    sil: float = 0.0
    sil_n: int = 0
    loo: float = 0.0
    loo_sq: float = 0.0
    loo_n: int = 0
    agree: int = 0
    ncc_n: int = 0
    provenance: str = ""


def row_scores(ctx: MetricContext) -> RowSums:
    """Silhouette, leave-one-out and NC4 sums over the rows, computed once per context."""
    return ctx.cached("rows", lambda: _row_scores(ctx))


def _row_scores(ctx: MetricContext) -> RowSums:
    dev = ctx.device
    labelled = ctx.row_pass is None or ctx.row_pass_labelled
    per_row = labelled and ctx.units is not None
    acc = RowSums()
    do_sil = per_row and ctx.k < ctx.n and ctx.wants("silhouette")
    do_loo = (
        per_row and (ctx.n > 2 or int(ctx.counts.max()) > 1) and ctx.wants("loo_centroid_stability")
    )
    totals = None if ctx.units is None else ctx.units.class_unit_sums[torch.tensor(ctx.ids)]
    mu_g = ctx.class_stats.global_mean_vector()
    centred = ctx.means - mu_g
    sim0 = centroid_similarity_from_means(ctx.means)
    clf = ctx.classifier if ctx.wants("ncc_agreement") else None

    def consume(x: torch.Tensor, yc: torch.Tensor) -> None:
        if do_sil and totals is not None:
            sil = cosine_silhouette_rows(l2_normalize(x), yc, totals.to(dev), ctx.counts)
            acc.sil += float(sil.sum())
            acc.sil_n += int(sil.numel())
        if do_loo:
            sims = leave_one_out_similarities_from_means(x, yc, ctx.means, ctx.counts)
            sims = sims[~torch.isnan(sims)] - sim0
            acc.loo += float(sims.sum())
            acc.loo_sq += float(sims.square().sum())
            acc.loo_n += int(sims.numel())
        if clf is not None:
            pred, nearest = ncc_predictions(x, centred, mu_g, clf.weights, clf.bias)
            acc.agree += int((pred == clf.rows[nearest]).sum())
            acc.ncc_n += int(pred.numel())

    chunk = max(1, min(_CHUNK, _TILE_ELEMENTS // max(ctx.k, 1)))

    def feed(x: torch.Tensor, y: torch.Tensor) -> None:
        for xc, yc in zip(x.split(chunk), y.split(chunk), strict=True):
            consume(xc, yc)

    per_class_cost = do_sil or clf is not None
    acc.provenance = _feed_all_rows(ctx, labelled, feed, ctx.k if per_class_cost else None)
    return acc


def rows_in_memory(ctx: MetricContext) -> None:
    """``prepare`` hook: the row scores when they come from the held sample (independent
    work, run beside the factorisations); a second pass over the source is left to
    :func:`row_scores` (it reads the source with every thread)."""
    if ctx.row_pass is None and ctx.sample is not None:
        row_scores(ctx)


def _feed_all_rows(
    ctx: MetricContext,
    labelled: bool,
    feed: Callable[[torch.Tensor, torch.Tensor], None],
    classes: int | None,
) -> str:
    """Every row, with its class position (zeros when not ``labelled``), through ``feed``:
    from the source's second pass, else from the kept sample; the provenance of the scores.
    Each row costs ``classes`` scores (``None``: a cost that does not grow with K): past
    :data:`ROW_CLASS_BUDGET` the second pass is skipped and a seeded part of the sample is
    scored (the provenance says so)."""
    dev = ctx.device
    within = classes is None or ctx.n * classes <= ROW_CLASS_BUDGET
    if ctx.row_pass is not None and within:
        done = 0
        for x_raw, y_raw, _ in ctx.row_pass():
            x = check_features(x_raw, "features", ctx.d, dev)
            if labelled:
                assert ctx.encode_labels is not None
                feed(x, ctx.position[ctx.encode_labels(y_raw, x)])
            else:  # NC4 compares two predictions: the rows' labels are not needed
                feed(x, torch.zeros(x.shape[0], dtype=torch.long, device=dev))
            done += x.shape[0]
            ctx.progress("pass 2", done, ctx.n)
        if done != ctx.n:
            raise ValueError(
                f"source: expected the second pass to give the same {ctx.n} rows, received "
                f"{done}; a source read twice must not change between passes"
            )
        return ctx.second_pass
    sample = ctx.sample
    assert sample is not None and sample.y is not None
    held = sample.x.shape[0]
    cap = held if classes is None else max(1, ROW_CLASS_BUDGET // classes)
    if held > cap:
        g = torch.Generator().manual_seed(ctx.options.seed)
        keep = torch.randperm(held, generator=g)[:cap].sort().values
        for lo in range(0, cap, 8192):
            part = keep[lo : lo + 8192]
            feed(sample.x[part].to(dev), sample.y[part.to(sample.y.device)])
        return (
            f"sample of {cap} rows of {ctx.n} (seeded, uniform: rows x classes capped at "
            f"{ROW_CLASS_BUDGET}, {ctx.n} x {classes} exceeds it); each row scored against "
            "the exact class statistics"
        )
    for lo in range(0, held, 8192):
        feed(sample.x[lo : lo + 8192].to(dev), sample.y[lo : lo + 8192])
    if ctx.row_pass is not None and not sample.holds_all:  # skipped: over the budget
        return (
            f"{ctx.sampled}; each row scored against the exact class statistics (second pass "
            f"skipped: {ctx.n} rows x {classes} classes exceed the {ROW_CLASS_BUDGET} budget)"
        )
    return (
        ctx.sampled
        if sample.holds_all
        else f"{ctx.sampled}; each row scored against the exact class statistics"
    )


def _silhouette(ctx: MetricContext) -> Measured | None:
    acc = row_scores(ctx)
    return Measured(acc.sil / acc.sil_n, acc.provenance) if acc.sil_n else None


def _loo(ctx: MetricContext) -> Measured | None:
    acc = row_scores(ctx)
    if not acc.loo_n:
        return None
    mean_dev = acc.loo / acc.loo_n
    var = max(acc.loo_sq / acc.loo_n - mean_dev**2, 0.0)
    return Measured(math.sqrt(var), acc.provenance)


def _ncc_agreement(ctx: MetricContext) -> Measured | None:
    acc = row_scores(ctx)
    return Measured(acc.agree / acc.ncc_n, acc.provenance) if acc.ncc_n else None


def _silhouette_rows(r: Resamples) -> torch.Tensor:
    if r.y is None or not 2 <= r.k < r.x.shape[0]:
        return r.undefined()
    units = r.cached("units", lambda: l2_normalize(r.x))
    return silhouette_resampled(units, r.y, r.k, r.weights)


#: where this module's metrics stand in the registry (and in reports)
POSITION = 70

SPECS = (
    MetricSpec(
        key="silhouette",
        compute=_silhouette,
        needs=frozenset({"classes", "rows", "units"}),
        exactness="rows",
        prepare=rows_in_memory,
        bad="low",
        doc="silhouette",
        summary="cosine silhouette of the rows by class (scikit-learn's definition)",
        null=True,
        bootstrap=_silhouette_rows,
        in_summary=True,
        compare=True,
    ),
    MetricSpec(
        key="loo_centroid_stability",
        compute=_loo,
        needs=frozenset({"classes", "rows"}),
        exactness="rows",
        prepare=rows_in_memory,
        bad="high",
        doc="loo_centroid_stability",
        summary="std over rows of the centroid similarity with that row left out",
    ),
    MetricSpec(
        key="ncc_agreement",
        compute=_ncc_agreement,
        needs=frozenset({"classes", "rows", "weights"}),
        exactness="rows",
        prepare=rows_in_memory,
        bad="high",
        doc="ncc_agreement",
        summary="NC4: share of rows where the classifier and the nearest class mean agree",
        in_summary=True,
        monitor=True,
        section="neural collapse",
        panel=Panel(
            "Nearest-centroid agreement (NC4)",
            "NCC agreement",
            False,
            ("neural_ncc_agreement",),
        ),
    ),
)
