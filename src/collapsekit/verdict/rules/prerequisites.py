"""The tests that need labels and two or more classes, stated as not run when those are missing.

Without labels, or with a single class, none of class separation, neural collapse, the merged
classes (and, without labels, collapsed class and minority collapse) can run; this rule states
them, in that order, so the summary never claims a test that did not happen. The other rules
skip themselves in that case (:attr:`VerdictContext.classes_testable`).
"""

from __future__ import annotations

from collapsekit.verdict.context import RuleResult, VerdictContext


def class_prerequisites(ctx: VerdictContext) -> RuleResult:
    """The tests not run for want of labels or of a second class.

    Never fires; ``not_run`` is empty when labels and two or more classes are present (or the
    class counts are unknown).

    Example:
        >>> class_prerequisites(VerdictContext({}, {})).not_run[0]
        'class separation (no labels)'
    """
    if not ctx.has_labels:
        return RuleResult(
            not_run=(
                "class separation (no labels)",
                "neural collapse (no labels)",
                "merged classes (no labels)",
                "collapsed class (no labels)",
                "minority collapse (no labels)",
            )
        )
    if not ctx.classes_testable:
        return RuleResult(
            not_run=(
                "class separation (a single class)",
                "neural collapse (a single class)",
                "merged classes (a single class)",
            )
        )
    return RuleResult()
