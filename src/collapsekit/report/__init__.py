"""Reports: the Report data and its JSON, the verdict, and the history file."""

from collapsekit.report.report import REPORT_SCHEMA, Report
from collapsekit.verdict import THRESHOLDS, Evidence, Verdict, decide

__all__ = ["REPORT_SCHEMA", "THRESHOLDS", "Evidence", "Report", "Verdict", "decide"]
