"""collapsekit: has my model's embedding space collapsed, and how?

The names below are imported on first use (PEP 562), so ``import collapsekit.cli`` starts
without torch and the command line can answer Ctrl-C from its first instant.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collapsekit import functional, metrics
    from collapsekit.engine.analyze import analyze
    from collapsekit.engine.analyzer import Analyzer
    from collapsekit.functional.neural_collapse import neural_collapse
    from collapsekit.functional.regression_collapse import regression_collapse
    from collapsekit.io.extract import extract
    from collapsekit.profile.analyze_layers import analyze_layers
    from collapsekit.profile.layer_profile import LayerProfile
    from collapsekit.report.compare import Comparison, compare
    from collapsekit.report.report import Report
    from collapsekit.stats.class_stats import ClassStats
    from collapsekit.stats.ncc_agreement import NCCAgreement
    from collapsekit.verdict import Thresholds

from collapsekit._version import __version__

#: public name -> the module that defines it
_EXPORTS = {
    "Analyzer": "collapsekit.engine.analyzer",
    "ClassStats": "collapsekit.stats.class_stats",
    "Comparison": "collapsekit.report.compare",
    "LayerProfile": "collapsekit.profile",
    "NCCAgreement": "collapsekit.stats.ncc_agreement",
    "Report": "collapsekit.report.report",
    "Thresholds": "collapsekit.verdict",
    "analyze": "collapsekit.engine.analyze",
    "analyze_layers": "collapsekit.profile",
    "compare": "collapsekit.report.compare",
    "extract": "collapsekit.io.extract",
    "neural_collapse": "collapsekit.functional.neural_collapse",
    "regression_collapse": "collapsekit.functional.regression_collapse",
}


def __getattr__(name: str) -> Any:
    if name in ("functional", "metrics"):
        return importlib.import_module(f"collapsekit.{name}")
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'collapsekit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "Analyzer",
    "ClassStats",
    "Comparison",
    "LayerProfile",
    "NCCAgreement",
    "Report",
    "Thresholds",
    "__version__",
    "analyze",
    "analyze_layers",
    "compare",
    "extract",
    "functional",
    "metrics",
    "neural_collapse",
    "regression_collapse",
]
