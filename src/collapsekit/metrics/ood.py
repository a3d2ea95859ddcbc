"""NECO (Ammar et al. 2024), next to NC5: the share of each row's norm inside the top-(K-1)
principal subspace of the in-distribution rows (standardised, as the authors' code)."""

from __future__ import annotations

from collapsekit.functional.neco import NecoBasis, neco_basis_from_moments, neco_from_basis
from collapsekit.metrics.context import MetricContext
from collapsekit.metrics.neural_collapse import ood_provenance
from collapsekit.metrics.spec import Measured, MetricSpec


def neco_basis(ctx: MetricContext) -> NecoBasis:
    """The standardised principal basis of the in-distribution rows, computed once."""
    return ctx.cached("neco_basis", lambda: _basis(ctx))


def _basis(ctx: MetricContext) -> NecoBasis:
    cs = ctx.class_stats
    cov = cs.total_cov()
    mean = (ctx.means * ctx.counts.double()[:, None]).sum(0) / ctx.n
    dim = min(ctx.k - 1, ctx.n, ctx.d)
    return neco_basis_from_moments(cov, mean, cov.diagonal(), ctx.n, dim)


def _neco_ood_mean(ctx: MetricContext) -> Measured:
    assert ctx.ood is not None  # guaranteed by needs={"ood"}
    value = float(neco_from_basis(ctx.ood, neco_basis(ctx)).mean())
    return Measured(value, ood_provenance(ctx))


def _neco_id_mean(ctx: MetricContext) -> Measured:
    assert ctx.sample is not None
    scores = neco_from_basis(ctx.sample.x.to(ctx.device), neco_basis(ctx))
    return Measured(float(scores.mean()), ctx.sampled)


#: where this module's metrics stand in the registry (and in reports)
POSITION = 40

SPECS = (
    MetricSpec(
        key="neco_ood_mean",
        compute=_neco_ood_mean,
        needs=frozenset({"classes", "ood"}),
        exactness="one pass",
        bad=None,
        doc="neco",
        summary="NECO score of the OoD rows (mean); lower than neco_id_mean when NC5 holds",
    ),
    MetricSpec(
        key="neco_id_mean",
        compute=_neco_id_mean,
        needs=frozenset({"classes", "ood", "sample"}),
        exactness="sample",
        bad=None,
        doc="neco",
        summary="NECO score of the in-distribution rows (mean)",
    ),
)
