"""Linear-probe accuracy on the seeded row sample (stratified k-fold, L2 logistic)."""

from __future__ import annotations

import torch

from collapsekit.functional.linear_probe import linear_probe_accuracy
from collapsekit.metrics.context import MetricContext
from collapsekit.metrics.spec import Measured, MetricSpec


def probe_plan(ctx: MetricContext) -> tuple[int, int] | None:
    """``(folds, smallest class in the sample)`` when the probe can run, else ``None`` (with
    a note saying why). Decided once per context."""
    return ctx.cached("probe_plan", lambda: _plan(ctx))


def _plan(ctx: MetricContext) -> tuple[int, int] | None:
    sample = ctx.sample
    if sample is None or sample.y is None or ctx.k < 2:
        return None
    if not ctx.options.probe:
        ctx.notes.append("linear probe skipped: turned off (probe=False, or --no-probe)")
        return None
    counts = torch.bincount(sample.y, minlength=ctx.k)
    counts = counts[counts > 0]
    if counts.numel() < 2:
        ctx.notes.append("linear probe skipped: the sample holds fewer than two classes")
        return None
    smallest = int(counts.min())
    folds = min(ctx.options.probe_folds, smallest)
    if folds < 2:
        ctx.notes.append("linear probe skipped: a class has a single row in the sample")
        return None
    return folds, smallest


def _linear_probe_accuracy(ctx: MetricContext) -> Measured | None:
    plan = probe_plan(ctx)
    sample = ctx.sample
    if plan is None or sample is None or sample.y is None:
        return None
    folds, smallest = plan
    m = sample.x.shape[0]
    ctx.progress("sample: linear probe", 0, m)
    acc = linear_probe_accuracy(sample.x, sample.y, folds=folds, seed=ctx.options.seed)
    ctx.progress("sample: linear probe", m, m)
    if folds < ctx.options.probe_folds:
        ctx.notes.append(f"linear probe used {folds} folds (smallest class has {smallest} rows)")
    return Measured(acc, ctx.sampled)


#: where this module's metrics stand in the registry (and in reports)
POSITION = 80

SPECS = (
    MetricSpec(
        key="linear_probe_accuracy",
        compute=_linear_probe_accuracy,
        needs=frozenset({"classes", "sample"}),
        exactness="sample",
        bad="low",
        doc="linear_probe_accuracy",
        summary="stratified k-fold accuracy of an L2-regularised multinomial logistic probe",
        null=True,
        in_summary=True,
        compare=True,
        options=("probe", "probe_folds", "seed"),
    ),
)
