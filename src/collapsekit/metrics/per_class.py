"""Per-class effective rank: the effective rank of each class's rows, and the smallest."""

from __future__ import annotations

import torch

from collapsekit.functional.effective_rank import entropy_ranks, per_class_effective_rank
from collapsekit.functional.spectrum import singular_values_from_covariances
from collapsekit.metrics.context import MetricContext
from collapsekit.metrics.spec import Measured, MetricSpec
from collapsekit.stats.class_scatter import PerClassScatter

_CHUNK_BYTES = 32 * 2**20  # per chunk of classes: the K x D x D covariances in float64


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
        ids = torch.tensor(ctx.ids, dtype=torch.long, device=pc.counts.device)
        tested = torch.nonzero(pc.counts[ids] >= 2).flatten()
        values = _scatter_ranks(pc, ids[tested]).tolist()
        names = ctx.names
        out = {names[int(i)]: r for i, r in zip(tested.tolist(), values, strict=True)}
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


def _scatter_ranks(pc: PerClassScatter, classes: torch.Tensor) -> torch.Tensor:
    """Effective rank of each of ``classes`` from its streamed scatter, batched over chunks of
    classes (a Python loop per class took minutes for 10^5 classes):
    ``singular_values_from_covariances`` then ``entropy_ranks``."""
    d = pc.dim
    out = torch.empty(classes.numel(), dtype=torch.float64, device=pc.counts.device)
    step = max(1, _CHUNK_BYTES // (8 * d * d))
    for lo in range(0, classes.numel(), step):
        c = classes[lo : lo + step]
        n = pc.counts[c].double()
        r = pc.resid_sum[c]
        cov = (pc.scatter[c] - r[:, :, None] * r[:, None, :] / n[:, None, None]) / n[:, None, None]
        out[lo : lo + step] = entropy_ranks(singular_values_from_covariances(cov, n))
    return out


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
