"""The verdict's labels and finding kinds (the strings a report carries).

Labels, first match wins (see :func:`collapsekit.verdict.decide`): complete collapse, class
collapse, neural collapse, dimensional collapse, partial class collapse, healthy. Findings are
listed whatever the label: merged classes, collapsed class, minority collapse, partial
dimensional collapse.
"""

from __future__ import annotations

HEALTHY = "healthy"
COMPLETE = "complete collapse"
DIMENSIONAL = "dimensional collapse"
CLASS = "class collapse"
PARTIAL = "partial class collapse"
NEURAL = "neural collapse"
LABELS = (HEALTHY, COMPLETE, DIMENSIONAL, CLASS, PARTIAL, NEURAL)

MERGED = "merged classes"
COLLAPSED_CLASS = "collapsed class"
MINORITY = "minority collapse"
PARTIAL_DIMENSIONAL = "partial dimensional collapse"
FINDING_KINDS = (MERGED, COLLAPSED_CLASS, MINORITY, PARTIAL_DIMENSIONAL)

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
    "PARTIAL_DIMENSIONAL",
]
