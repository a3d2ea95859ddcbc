"""The plain verdict: healthy, or which kind of collapse, with findings, evidence and thresholds.

* :func:`decide` runs the rules (:mod:`collapsekit.verdict.rules`, one module per label and per
  finding kind) over one :class:`~collapsekit.verdict.context.VerdictContext`;
* :class:`Thresholds` / :data:`THRESHOLDS`: every threshold of the rules;
* :class:`Verdict`, :class:`Evidence`, :class:`Finding`: what a report carries (JSON shape of
  collapsekit 0.2.0).
"""

from collapsekit.verdict.decide import decide
from collapsekit.verdict.evidence import Evidence
from collapsekit.verdict.findings import Finding
from collapsekit.verdict.labels import (
    CLASS,
    COLLAPSED_CLASS,
    COMPLETE,
    DIMENSIONAL,
    FINDING_KINDS,
    HEALTHY,
    LABELS,
    MERGED,
    MINORITY,
    NEURAL,
    PARTIAL,
)
from collapsekit.verdict.thresholds import THRESHOLDS, Thresholds
from collapsekit.verdict.verdict import Verdict, merged_pairs

__all__ = [
    "CLASS",
    "COLLAPSED_CLASS",
    "COMPLETE",
    "DIMENSIONAL",
    "FINDING_KINDS",
    "HEALTHY",
    "LABELS",
    "MERGED",
    "MINORITY",
    "NEURAL",
    "PARTIAL",
    "THRESHOLDS",
    "Evidence",
    "Finding",
    "Thresholds",
    "Verdict",
    "decide",
    "merged_pairs",
]
