"""Per-class effective rank: the effective rank of each class's rows, and the smallest."""

from __future__ import annotations

from collapsekit._threads import map_independent
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
        classes = [(c, nm) for c, nm in zip(ctx.ids, ctx.names, strict=True) if pc.counts[c] >= 2]

        def rank(c: int) -> float:
            return entropy_rank(
                singular_values_from_covariance(pc.class_covariance(c), int(pc.counts[c]))
            )

        # one independent factorisation per class: side by side, one thread each
        values = map_independent(rank, [c for c, _ in classes], ctx.device)
        out = {name: r for (_, name), r in zip(classes, values, strict=True)}
        return out, ctx.one_pass
    assert sample.y is not None
    # every row in memory: the rows' own (n_c x n_c when smaller) Gram is the cheaper exact
    # route; otherwise an estimate from the sampled rows
    ranks = per_class_effective_rank(sample.x, sample.y)
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
        prepare=per_class_ranks,
        exactness="one pass",
        bad="low",
        doc="per_class_effective_rank",
        summary="effective rank of each class's rows (per_class_effective_rank_<class>); "
        "the smallest",
        family=True,
    ),
)
