"""Reports: the Report data and its JSON, the comparison of two reports, the verdict, and the
history file. ``collapsekit.report.compare`` is the module; the function is ``ck.compare``."""

from collapsekit.report.compare import COMPARE_SCHEMA, Comparison, MetricChange
from collapsekit.report.report import REPORT_SCHEMA, Report
from collapsekit.verdict import THRESHOLDS, Evidence, Verdict, decide

__all__ = [
    "COMPARE_SCHEMA",
    "REPORT_SCHEMA",
    "THRESHOLDS",
    "Comparison",
    "Evidence",
    "MetricChange",
    "Report",
    "Verdict",
    "decide",
]
