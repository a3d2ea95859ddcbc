"""The verdict of a report (:class:`Verdict`): label, summary, evidence, thresholds, findings and
the tests that could not run; :func:`merged_pairs` for the centroid heatmap."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from collapsekit.verdict.evidence import Evidence
from collapsekit.verdict.findings import Finding
from collapsekit.verdict.labels import MERGED
from collapsekit.verdict.text import verdict_lines
from collapsekit.verdict.thresholds import THRESHOLDS


@dataclass
class Verdict:
    """Label, summary, evidence of the global rules, per-class findings, tests not run.

    Example:
        >>> v = Verdict("healthy", "No collapse detected.")
        >>> Verdict.from_dict(v.to_dict()) == v
        True
    """

    label: str
    summary: str
    evidence: list[Evidence] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=THRESHOLDS.to_dict)
    findings: list[Finding] = field(default_factory=list)
    tests_not_run: list[str] = field(default_factory=list)
    #: each NC property's status, checks (value, limit, null mean and sd, z) and reason
    #: (see :mod:`collapsekit.verdict.rules.nc_properties`); empty without labels
    neural_collapse: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the shape of collapsekit 0.2.0, plus ``neural_collapse`` when the NC
        properties were judged; findings as plain dicts).

        Example:
            >>> sorted(Verdict("healthy", "").to_dict())
            ['evidence', 'findings', 'label', 'summary', 'tests_not_run', 'thresholds']
        """
        out = {
            "label": self.label,
            "summary": self.summary,
            "evidence": [asdict(e) for e in self.evidence],
            "thresholds": dict(self.thresholds),
            "findings": [f.to_dict() for f in self.findings],
            "tests_not_run": list(self.tests_not_run),
        }
        if self.neural_collapse:
            out["neural_collapse"] = copy.deepcopy(self.neural_collapse)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        """Inverse of :meth:`to_dict` (JSON reports, those of collapsekit 0.2.0 included).

        Example:
            >>> Verdict.from_dict({"label": "healthy", "summary": "ok"}).findings
            []
        """
        return cls(
            label=data["label"],
            summary=data["summary"],
            evidence=[Evidence(**e) for e in data.get("evidence", [])],
            thresholds=dict(data.get("thresholds", {})),
            findings=[Finding.from_dict(f) for f in data.get("findings", [])],
            tests_not_run=list(data.get("tests_not_run", [])),
            neural_collapse=copy.deepcopy(dict(data.get("neural_collapse", {}))),
        )

    def __repr__(self) -> str:
        """A short summary (at most 40 lines of at most 120 characters): the label, the summary,
        the tests that decided it, the findings and the tests not run.

        Example:
            >>> print(repr(Verdict("healthy", "No collapse detected.")))
            Verdict: healthy
              No collapse detected.
        """
        return "\n".join(verdict_lines(self))

    def _repr_html_(self) -> str:
        """Jupyter display: the label, the summary, the evidence table and the findings (every
        text escaped; see :func:`collapsekit.render.verdict_html.render_verdict`)."""
        from collapsekit.render.verdict_html import render_verdict

        return render_verdict(self)

    def findings_lines(self) -> list[str]:
        """One line per finding (class names, statistic, threshold and null) plus the tests not
        run, for the terminal.

        Example:
            >>> Verdict("healthy", "", tests_not_run=["x (no labels)"]).findings_lines()
            ['not tested: x (no labels)']
        """
        lines = [f.line() for f in self.findings]
        lines += [f"not tested: {t}" for t in self.tests_not_run]
        return lines


def merged_pairs(verdict: Verdict) -> list[tuple[int, int]]:
    """Dense class-id pairs ``(i, j)`` of every merged-classes finding (to mark the centroid
    heatmap), at most ``MAX_PAIR_IDS`` of them per finding.

    Example:
        >>> merged_pairs(Verdict("healthy", ""))
        []
    """
    out: list[tuple[int, int]] = []
    for f in verdict.findings:
        if f.kind == MERGED:
            out += [(int(a), int(b)) for a, b in f.evidence.get("pair_ids", [])]
    return out


__all__ = ["Verdict", "merged_pairs"]
