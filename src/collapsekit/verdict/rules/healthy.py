"""Label ``healthy``: no rule before it fired. The summary says which tests ran, so it never
claims a test that did not happen (without labels, no class separation is claimed)."""

from __future__ import annotations

from collapsekit.verdict.context import RuleResult, VerdictContext
from collapsekit.verdict.rules.class_collapse import separation_test


def healthy(ctx: VerdictContext) -> RuleResult:
    """Always fires (the last label in the order); the summary lists the tests that ran.

    Example:
        >>> healthy(VerdictContext({}, {})).summary
        'No collapse detected: spread, effective rank within range.'
    """
    ran = ["spread", "effective rank"]
    if ctx.classes_testable and separation_test(ctx) is not None:
        ran.append(
            "class separation (above chance + margin)"
            if "linear_probe_accuracy" in ctx.metrics
            else "class separation (silhouette above the random-label value + margin)"
        )
    return RuleResult(
        fired=True, summary="No collapse detected: " + ", ".join(ran) + " within range."
    )


__all__ = ["healthy"]
