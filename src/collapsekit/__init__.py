"""collapsekit: has my model's embedding space collapsed, and how?"""

from collapsekit import functional
from collapsekit._version import __version__
from collapsekit.engine.analyze import analyze
from collapsekit.engine.analyzer import Analyzer
from collapsekit.functional.neural_collapse import neural_collapse
from collapsekit.functional.regression_collapse import regression_collapse
from collapsekit.io.extract import extract
from collapsekit.profile import LayerProfile, analyze_layers
from collapsekit.report.report import Report
from collapsekit.stats.class_stats import ClassStats
from collapsekit.stats.ncc_agreement import NCCAgreement
from collapsekit.verdict import Thresholds

__all__ = [
    "Analyzer",
    "ClassStats",
    "LayerProfile",
    "NCCAgreement",
    "Report",
    "Thresholds",
    "__version__",
    "analyze",
    "analyze_layers",
    "extract",
    "functional",
    "neural_collapse",
    "regression_collapse",
]
