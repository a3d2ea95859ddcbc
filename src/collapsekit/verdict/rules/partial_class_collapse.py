"""Label ``partial class collapse``: some groups of classes cannot be told apart, the others are
separated.

Rule: a ``merged classes`` finding exists (:mod:`~collapsekit.verdict.rules.merged_classes`) and
no label before it in the order fired.
"""

from __future__ import annotations

from collapsekit.verdict.context import RuleResult, VerdictContext
from collapsekit.verdict.findings import format_names


def partial_class_collapse(ctx: VerdictContext) -> RuleResult:
    """Fires when the context holds a ``merged classes`` finding; the summary names the groups.

    Example:
        >>> from collapsekit.verdict.findings import Finding
        >>> ctx = VerdictContext({}, {}, findings=(Finding("merged classes", ("cat", "eel")),))
        >>> r = partial_class_collapse(ctx)
        >>> r.fired, "cat, eel" in r.summary
        (True, True)
    """
    groups = ctx.merged
    if not groups:
        return RuleResult()
    names = "; ".join(format_names(f.classes) for f in groups)
    return RuleResult(
        fired=True,
        summary=(
            f"Partial class collapse: {len(groups)} group(s) of classes cannot be told "
            f"apart (their means differ no more than random halves of one class would): "
            f"{names}. The other classes are separated."
        ),
    )


__all__ = ["partial_class_collapse"]
