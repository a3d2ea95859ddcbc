"""Label ``dimensional collapse``: the embeddings use only a few directions.

Rule: ``effective_rank / null < dimensional_rank_ratio``, the effective rank (Roy & Vetterli 2007,
the exponential of the entropy of the normalised singular values) against its value on isotropic
Gaussian rows of the same N and D (the Marchenko-Pastur spectrum). Not run when the rank is
missing or not finite.
"""

from __future__ import annotations

import math

from collapsekit.verdict.context import RuleResult, VerdictContext
from collapsekit.verdict.evidence import Evidence
from collapsekit.verdict.labels import DIMENSIONAL
from collapsekit.verdict.rules._common import ratio


def dimensional_collapse(ctx: VerdictContext) -> RuleResult:
    """Fires when the effective rank is below ``dimensional_rank_ratio`` x its isotropic null.

    Example:
        >>> r = dimensional_collapse(VerdictContext({"effective_rank": 2.0},
        ...                                         {"effective_rank": 40.0}))
        >>> r.fired, r.evidence[0].value
        (True, 0.05)
    """
    t = ctx.thresholds
    rank = ctx.metrics.get("effective_rank")
    base = ctx.baseline.get("effective_rank", 0.0)
    if rank is None or not math.isfinite(rank):
        return RuleResult()
    value = ratio(rank, base)
    fired = value < t.dimensional_rank_ratio
    evidence = Evidence(
        "effective_rank / null",
        value,
        t.dimensional_rank_ratio,
        "dimensional collapse if below",
        fired,
        base,
        DIMENSIONAL,
    )
    summary = ""
    if fired:
        summary = (
            f"The embeddings use only a few directions: the effective rank {rank:.3g} is "
            f"{value:.3g} x its isotropic value ({base:.3g}), below the threshold "
            f"{t.dimensional_rank_ratio:g} x (dimensional collapse)."
        )
    return RuleResult(fired=fired, summary=summary, evidence=(evidence,))
