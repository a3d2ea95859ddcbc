"""Per-class effective rank: the effective rank of each class's rows, and the smallest."""

from __future__ import annotations

from collapsekit.functional.effective_rank import entropy_rank, per_class_effective_rank
from collapsekit.functional.spectrum import singular_values_from_covariance
from collapsekit.metrics.context import MetricContext
from collapsekit.metrics.spec import Measured, MetricSpec


def per_class_ranks(ctx: MetricContext) -> tuple[dict[str, float], str]:
    """``({class name: effective rank}, provenance)`` for classes with two or more rows:
    exact from the per-class scatters when the sample does not hold every row, else from
    the held rows (exact when it holds them all)."""
    return ctx.cached("per_class_ranks", lambda: _ranks(ctx))


def _ranks(ctx: MetricContext) -> tuple[dict[str, float], str]:
    pc, sample = ctx.per_class, ctx.sample
    assert sample is not None  # guaranteed by needs={"sample"}
    out: dict[str, float] = {}
    if pc is not None and not sample.holds_all:
        for c, name in zip(ctx.ids, ctx.names, strict=True):
            nc = int(pc.counts[c])
            if nc >= 2:
                s = singular_values_from_covariance(pc.class_covariance(c), nc)
                out[name] = entropy_rank(s)
        return out, ctx.one_pass
    assert sample.y is not None
    # every row in memory: the rows' own (n_c x n_c when smaller) Gram is the cheaper exact
    # route; otherwise an estimate from the sampled rows
    # deflate=False: the per-class scatters (the route above) cannot resolve a class's tail
    # below their float64 floor, so the held rows cut it too and both routes agree
    ranks = per_class_effective_rank(sample.x, sample.y, deflate=False)
    out = {ctx.names[c]: v for c, v in sorted(ranks.items())}
    if ctx.per_class_note and not sample.holds_all:
        ctx.notes.append(ctx.per_class_note)
    return out, ctx.sampled


def _per_class_effective_rank_min(ctx: MetricContext) -> Measured | None:
    ranks, prov = per_class_ranks(ctx)
    if not ranks:
        return None
    parts = {f"per_class_effective_rank_{name}": v for name, v in ranks.items()}
    return Measured(min(ranks.values()), prov, parts)


#: where this module's metrics stand in the registry (and in reports)
POSITION = 50

SPECS = (
    MetricSpec(
        key="per_class_effective_rank_min",
        compute=_per_class_effective_rank_min,
        needs=frozenset({"classes", "sample"}),
        exactness="one pass",
        bad="low",
        doc="per_class_effective_rank",
        summary="effective rank of each class's rows (per_class_effective_rank_<class>); "
        "the smallest",
        family=True,
    ),
)
