"""Reports: the verdict, bootstrap intervals, JSON and HTML output."""

from collapsekit.report.report import REPORT_SCHEMA, Report
from collapsekit.verdict import THRESHOLDS, Evidence, Verdict, decide

__all__ = ["REPORT_SCHEMA", "THRESHOLDS", "Evidence", "Report", "Verdict", "decide"]
