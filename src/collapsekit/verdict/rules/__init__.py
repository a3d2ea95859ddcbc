"""The verdict's rules: one module per label and one per finding kind.

Every rule has the signature ``rule(ctx: VerdictContext) -> RuleResult``
(:data:`collapsekit.verdict.context.Rule`). :func:`collapsekit.verdict.decide` runs the finding
rules, then the label rules in :data:`LABEL_RULES` order (first match wins), and lists the
evidence and the tests not run in :data:`REPORT_ORDER`.
"""

from __future__ import annotations

from collapsekit.verdict.context import Rule
from collapsekit.verdict.labels import CLASS, COMPLETE, DIMENSIONAL, HEALTHY, NEURAL, PARTIAL
from collapsekit.verdict.rules.class_collapse import class_collapse
from collapsekit.verdict.rules.collapsed_class import collapsed_class
from collapsekit.verdict.rules.complete_collapse import complete_collapse
from collapsekit.verdict.rules.dimensional_collapse import (
    dimensional_collapse,
    partial_dimensional_collapse,
)
from collapsekit.verdict.rules.healthy import healthy
from collapsekit.verdict.rules.merged_classes import merged_classes
from collapsekit.verdict.rules.minority_collapse import minority_collapse
from collapsekit.verdict.rules.neural_collapse import neural_collapse
from collapsekit.verdict.rules.partial_class_collapse import partial_class_collapse
from collapsekit.verdict.rules.prerequisites import class_prerequisites

#: The finding rules, in the order their findings are listed.
FINDING_RULES: tuple[Rule, ...] = (
    merged_classes,
    collapsed_class,
    minority_collapse,
    partial_dimensional_collapse,
)

#: The label rules, first match wins.
LABEL_RULES: tuple[tuple[str, Rule], ...] = (
    (COMPLETE, complete_collapse),
    (CLASS, class_collapse),
    (NEURAL, neural_collapse),
    (DIMENSIONAL, dimensional_collapse),
    (PARTIAL, partial_class_collapse),
    (HEALTHY, healthy),
)

#: The order in which the verdict lists the rules' evidence and tests not run.
REPORT_ORDER: tuple[Rule, ...] = (
    class_prerequisites,
    complete_collapse,
    class_collapse,
    merged_classes,
    collapsed_class,
    minority_collapse,
    partial_dimensional_collapse,
    neural_collapse,
    dimensional_collapse,
    partial_class_collapse,
    healthy,
)

__all__ = [
    "FINDING_RULES",
    "LABEL_RULES",
    "REPORT_ORDER",
    "class_collapse",
    "class_prerequisites",
    "collapsed_class",
    "complete_collapse",
    "dimensional_collapse",
    "healthy",
    "merged_classes",
    "minority_collapse",
    "neural_collapse",
    "partial_class_collapse",
    "partial_dimensional_collapse",
]
