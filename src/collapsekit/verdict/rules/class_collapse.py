"""Label ``class collapse``: the classes are not separable in this embedding space.

Rule, first test available:

* the linear probe's accuracy at most ``chance + class_probe_margin x (1 - chance)``, chance the
  null's majority fraction (or the report's ``chance_accuracy``);
* without a probe, the cosine silhouette at most its random-label null +
  ``class_silhouette_margin``;

and, whatever those say, it fires when one ``merged classes`` group holds every class
(:func:`~collapsekit.verdict.rules.merged_classes.spans_every_class`). Needs labels and two or more
classes; without a probe or silhouette (too few rows per class, or left out by ``metrics=``) the
test is stated as not run.
"""

from __future__ import annotations

from collapsekit.verdict.context import RuleResult, VerdictContext
from collapsekit.verdict.evidence import Evidence
from collapsekit.verdict.labels import CLASS
from collapsekit.verdict.rules.merged_classes import spans_every_class

_NOT_RUN = (
    "class separation (no linear probe or silhouette: too few rows per class, or left out by "
    "metrics=)"
)


def class_collapse(ctx: VerdictContext) -> RuleResult:
    """Fires when the probe (or the silhouette) is within its margin of chance, or when every
    class falls in one merged group.

    Example:
        >>> import torch
        >>> ctx = VerdictContext({"linear_probe_accuracy": 0.26}, {"linear_probe_accuracy": 0.25},
        ...                      has_labels=True, counts=torch.tensor([50] * 4))
        >>> class_collapse(ctx).fired
        True
    """
    if not ctx.classes_testable:
        return RuleResult()
    test = separation_test(ctx)
    evidence: list[Evidence] = []
    fired, why = False, ""
    if test is not None:
        evidence.append(test[0])
        fired, why = test[0].fired, test[1]
    if spans_every_class(ctx):
        if not fired:
            fired = True
            why = (
                "every class falls in one merged group: no pair of classes differs more than "
                "random halves of one class would (every linking T below "
                f"{ctx.merged[0].evidence['threshold']:.3g})"
            )
        evidence.append(
            Evidence(
                "merged group covers every class",
                1.0,
                1.0,
                "class collapse if every class is in one merged group",
                True,
                None,
                CLASS,
            )
        )
    return RuleResult(
        fired=fired,
        summary=f"The classes are not separable in this embedding space: {why}." if fired else "",
        evidence=tuple(evidence),
        not_run=() if test is not None else (_NOT_RUN,),
    )


def separation_test(ctx: VerdictContext) -> tuple[Evidence, str] | None:
    """The class-separation test that applies (probe, else silhouette) as its evidence and the
    rule stated in words; ``None`` when neither metric is there.

    Example:
        >>> separation_test(VerdictContext({}, {})) is None
        True
    """
    t = ctx.thresholds
    m, base = ctx.metrics, ctx.baseline
    chance = base.get("linear_probe_accuracy", m.get("chance_accuracy"))
    if "linear_probe_accuracy" in m and chance is not None:
        acc = m["linear_probe_accuracy"]
        limit = chance + t.class_probe_margin * (1.0 - chance)
        why = (
            f"the linear probe's accuracy {acc:.3g} is at most chance ({chance:.3g}) plus "
            f"{t.class_probe_margin:g} of the gap to 1 (limit {limit:.3g})"
        )
        rule = f"class collapse if at or below chance + {t.class_probe_margin:g} x (1 - chance)"
        return Evidence("linear_probe_accuracy", acc, limit, rule, acc <= limit, chance, CLASS), why
    if "silhouette" in m and "silhouette" in base:
        value, null = m["silhouette"], base["silhouette"]
        limit = null + t.class_silhouette_margin
        why = (
            f"the silhouette {value:.3g} is at most its random-label value "
            f"({null:.3g}) plus {t.class_silhouette_margin:g} (limit {limit:.3g})"
        )
        rule = (
            f"class collapse if at or below the random-label value + {t.class_silhouette_margin:g}"
        )
        return Evidence("silhouette", value, limit, rule, value <= limit, null, CLASS), why
    return None


__all__ = ["class_collapse", "separation_test"]
