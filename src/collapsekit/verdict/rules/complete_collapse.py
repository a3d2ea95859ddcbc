"""Label ``complete collapse``: every embedding points (almost) the same way.

Rule: ``std_of_l2_normalized / null < complete_spread_ratio``, the null being its value on
isotropic Gaussian rows of the same N and D (Jing et al. 2022 read the same statistic against
``1/sqrt(D)``). Scale- and rotation-invariant. Not run when the spread is missing or not finite.
"""

from __future__ import annotations

import math

from collapsekit.verdict.context import RuleResult, VerdictContext
from collapsekit.verdict.evidence import Evidence
from collapsekit.verdict.labels import COMPLETE
from collapsekit.verdict.rules._common import ratio


def complete_collapse(ctx: VerdictContext) -> RuleResult:
    """Fires when the spread of the L2-normalised rows is below ``complete_spread_ratio`` x its
    null (a missing null counts as 0: any positive spread then passes).

    Example:
        >>> r = complete_collapse(VerdictContext({"std_of_l2_normalized": 0.001},
        ...                                      {"std_of_l2_normalized": 0.2}))
        >>> r.fired, r.evidence[0].value
        (True, 0.005)
    """
    t = ctx.thresholds
    spread = ctx.metrics.get("std_of_l2_normalized")
    base = ctx.baseline.get("std_of_l2_normalized", 0.0)
    if spread is None or not math.isfinite(spread):
        return RuleResult()
    value = ratio(spread, base)
    fired = value < t.complete_spread_ratio
    evidence = Evidence(
        "std_of_l2_normalized / null",
        value,
        t.complete_spread_ratio,
        "complete collapse if below",
        fired,
        base,
        COMPLETE,
    )
    summary = ""
    if fired:
        summary = (
            "Every embedding points (almost) the same way: the spread of the L2-normalised rows "
            f"is {value:.3g} x its isotropic value ({base:.3g}), below the threshold "
            f"{t.complete_spread_ratio:g} x. The representation carries no usable information."
        )
    return RuleResult(fired=fired, summary=summary, evidence=(evidence,))
