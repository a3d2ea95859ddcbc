"""Linear CKA between the rows and a paired reference embedding (Kornblith et al. 2019)."""

from __future__ import annotations

import torch

from collapsekit.functional.linear_cka import linear_cka_from_moments
from collapsekit.functional.resampled import linear_cka_resampled
from collapsekit.metrics.context import MetricContext
from collapsekit.metrics.spec import Measured, MetricSpec, Resamples


def _linear_cka(ctx: MetricContext) -> Measured:
    assert ctx.cross is not None  # guaranteed by needs={"reference"}
    return Measured(linear_cka_from_moments(ctx.cross.moments()), ctx.one_pass)


def _linear_cka_debiased(ctx: MetricContext) -> Measured | None:
    assert ctx.cross is not None
    if ctx.n < 4:
        ctx.notes.append("linear_cka_debiased left out: the unbiased estimator needs 4 rows")
        return None
    return Measured(linear_cka_from_moments(ctx.cross.moments(), True), ctx.one_pass)


def _cka_rows(r: Resamples) -> torch.Tensor:
    if r.reference is None:  # no paired rows: no interval
        return r.undefined()
    return linear_cka_resampled(r.x, r.reference, r.weights, r.shared)


#: where this module's metrics stand in the registry (and in reports)
POSITION = 60

SPECS = (
    MetricSpec(
        key="linear_cka",
        compute=_linear_cka,
        needs=frozenset({"reference"}),
        exactness="one pass",
        bad=None,
        doc="linear_cka",
        summary="linear CKA with the reference embedding of the same inputs (biased HSIC)",
        bootstrap=_cka_rows,
        compare=True,
    ),
    MetricSpec(
        key="linear_cka_debiased",
        compute=_linear_cka_debiased,
        needs=frozenset({"reference"}),
        exactness="one pass",
        bad=None,
        doc="linear_cka",
        summary="linear CKA with the unbiased HSIC estimator (Song et al. 2012)",
    ),
)
