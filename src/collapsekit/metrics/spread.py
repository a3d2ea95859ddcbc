"""Spread metrics: the std of L2-normalised rows (exact, one pass) and uniformity (sample)."""

from __future__ import annotations

import torch

from collapsekit.functional._common import l2_normalize
from collapsekit.functional.resampled import std_of_l2_normalized_resampled
from collapsekit.functional.std_of_l2_normalized import std_of_l2_normalized_from_moments
from collapsekit.functional.uniformity import uniformity
from collapsekit.metrics.context import MetricContext
from collapsekit.metrics.spec import Measured, MetricSpec, Panel, Resamples


def _std_of_l2_normalized(ctx: MetricContext) -> Measured:
    units = ctx.units
    assert units is not None  # guaranteed by needs={"units"}
    if units.zero_rows:
        ctx.notes.append(
            f"{units.zero_rows} all-zero row(s) have no direction: they count as zero "
            "vectors in the spread and silhouette"
        )
    value = std_of_l2_normalized_from_moments(units.n, units.dev_sum, units.dev_sq_sum)
    return Measured(value, ctx.one_pass)


def _uniformity(ctx: MetricContext) -> Measured | None:
    sample = ctx.sample
    assert sample is not None  # guaranteed by needs={"sample"}
    x, prov = sample.x, ctx.sampled
    nonzero = (x != 0).any(dim=1)
    if not bool(nonzero.all()):  # a zero row has no direction on the sphere
        dropped = int((~nonzero).sum())
        x = x[nonzero]
        ctx.notes.append(
            f"uniformity leaves out {dropped} all-zero row(s) of the sample (no direction)"
        )
        if x.shape[0] < 2:
            ctx.notes.append("uniformity skipped: fewer than two rows with a direction")
            return None
        prov = f"sample of {x.shape[0]} non-zero rows of {ctx.n}"
    most = ctx.options.uniformity_rows
    if most is not None and x.shape[0] > most:
        g = torch.Generator().manual_seed(ctx.options.seed)
        x = x[torch.randperm(x.shape[0], generator=g)[:most].to(x.device)]
        prov = f"sample of {most} rows of {ctx.n} (seeded, uniform)"
        ctx.notes.append(f"uniformity estimated on {most} random rows of {ctx.n}")
    return Measured(uniformity(x), prov)


def _std_rows(r: Resamples) -> torch.Tensor:
    return std_of_l2_normalized_resampled(r.cached("units", lambda: l2_normalize(r.x)), r.weights)


#: where this module's metrics stand in the registry (and in reports)
POSITION = 20

SPECS = (
    MetricSpec(
        key="std_of_l2_normalized",
        compute=_std_of_l2_normalized,
        needs=frozenset({"units"}),
        exactness="one pass",
        bad="low",
        doc="std_of_l2_normalized",
        summary="mean std per dimension of the L2-normalised rows; ~1/sqrt(D) healthy, 0 collapsed",
        null=True,
        bootstrap=_std_rows,
        in_summary=True,
        compare=True,
        monitor=True,
        panel=Panel("Spread of L2-normalised embeddings", "std of unit vectors"),
    ),
    MetricSpec(
        key="uniformity",
        compute=_uniformity,
        needs=frozenset({"sample"}),
        exactness="sample",
        bad="high",
        doc="uniformity",
        summary="log mean Gaussian potential of unit rows (Wang & Isola 2020); 0 collapsed",
        compare=True,
        options=("uniformity_rows", "seed"),
    ),
)
