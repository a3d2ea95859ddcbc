"""What every verdict rule reads (:class:`VerdictContext`) and returns (:class:`RuleResult`).

A rule is a function ``rule(ctx: VerdictContext) -> RuleResult`` (:data:`Rule`); it does not
change the context. :func:`collapsekit.verdict.decide` builds the context once, runs the finding
rules, hands their findings to the label rules through :meth:`VerdictContext.with_findings` and
assembles the verdict from the results.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import torch

from collapsekit.verdict.evidence import Evidence
from collapsekit.verdict.findings import Finding
from collapsekit.verdict.labels import MERGED
from collapsekit.verdict.thresholds import THRESHOLDS, Thresholds

if TYPE_CHECKING:
    from collapsekit.stats.class_stats import ClassStats


@dataclass(frozen=True)
class VerdictContext:
    """The inputs of the verdict rules.

    Attributes:
        metrics: the flat metrics of the report.
        baseline: their values on the null model
            (:func:`~collapsekit.inference.null_model.isotropic_null`).
        thresholds: the rules' :class:`~collapsekit.verdict.Thresholds`.
        has_labels: whether labels were given.
        counts: rows per dense class id (int64, CPU), or ``None`` without class counts.
        names: the name of each dense class id.
        stats: the :class:`~collapsekit.ClassStats` over all rows, when available.
        per_class_rank: ``{class name: effective rank}``, when available.
        weights: classifier rows aligned to the dense class ids, when given.
        shape: ``(N, D)`` of the data, when known (the dead-directions criterion).
        rows: ``(x, y)``, a sample of rows and their dense class ids (the merged-classes
            probe confirmation), when available.
        findings: the findings of the finding rules (empty until :meth:`with_findings`).

    Example:
        >>> ctx = VerdictContext({"effective_rank": 2.0}, {"effective_rank": 30.0})
        >>> ctx.k_present is None, ctx.classes_testable
        (True, False)
    """

    metrics: Mapping[str, float]
    baseline: Mapping[str, float]
    thresholds: Thresholds = THRESHOLDS
    has_labels: bool = False
    counts: torch.Tensor | None = None
    names: tuple[str, ...] = ()
    stats: ClassStats | None = None
    per_class_rank: Mapping[str, float] | None = None
    weights: Any = None
    rows: tuple[torch.Tensor, torch.Tensor] | None = None
    shape: tuple[int, int] | None = None
    findings: tuple[Finding, ...] = ()

    @property
    def k_present(self) -> int | None:
        """Classes with at least one row (``None`` without class counts)."""
        return int((self.counts > 0).sum()) if self.counts is not None else None

    @property
    def classes_testable(self) -> bool:
        """Labels were given and (when counted) at least two classes have rows."""
        k = self.k_present
        return self.has_labels and (k is None or k >= 2)

    @property
    def merged(self) -> list[Finding]:
        """The ``merged classes`` findings among :attr:`findings`."""
        return [f for f in self.findings if f.kind == MERGED]

    def with_findings(self, findings: tuple[Finding, ...]) -> VerdictContext:
        """A copy carrying ``findings`` (for the label rules that read them)."""
        return replace(self, findings=findings)


@dataclass(frozen=True)
class RuleResult:
    """What one rule concluded.

    Attributes:
        fired: whether the rule holds (a label rule: its label applies, first match wins).
        summary: a label rule's summary sentence(s) when it fired.
        evidence: the tests it ran, in order.
        not_run: the tests it could not run, each with the reason.
        findings: a finding rule's findings.
    """

    fired: bool = False
    summary: str = ""
    evidence: tuple[Evidence, ...] = ()
    not_run: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()


#: The common signature of every rule under :mod:`collapsekit.verdict.rules`.
Rule = Callable[[VerdictContext], RuleResult]

__all__ = ["Rule", "RuleResult", "VerdictContext"]
