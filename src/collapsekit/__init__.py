"""collapsekit: has my model's embedding space collapsed, and how?

The names below are imported on first use (PEP 562), so ``import collapsekit.cli`` starts
without torch and the command line can answer Ctrl-C from its first instant.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collapsekit import functional
    from collapsekit.analyze import analyze
    from collapsekit.engine.analyzer import Analyzer
    from collapsekit.extract import extract
    from collapsekit.functional.neural_collapse import neural_collapse
    from collapsekit.functional.regression_collapse import regression_collapse
    from collapsekit.profile import LayerProfile, analyze_layers
    from collapsekit.report.report import Report
    from collapsekit.report.verdict import Thresholds
    from collapsekit.stats.class_stats import ClassStats
    from collapsekit.stats.ncc_agreement import NCCAgreement

__version__ = "0.2.0"

#: public name -> the module that defines it
_EXPORTS = {
    "Analyzer": "collapsekit.engine.analyzer",
    "ClassStats": "collapsekit.stats.class_stats",
    "LayerProfile": "collapsekit.profile",
    "NCCAgreement": "collapsekit.stats.ncc_agreement",
    "Report": "collapsekit.report.report",
    "Thresholds": "collapsekit.report.verdict",
    "analyze": "collapsekit.analyze",
    "analyze_layers": "collapsekit.profile",
    "extract": "collapsekit.extract",
    "neural_collapse": "collapsekit.functional.neural_collapse",
    "regression_collapse": "collapsekit.functional.regression_collapse",
}


def __getattr__(name: str) -> Any:
    if name == "functional":
        return importlib.import_module("collapsekit.functional")
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'collapsekit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """``collapsekit.analyze`` and ``collapsekit.extract`` name both a submodule and the
    function it defines: when the import system binds the submodule, bind the function."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType) and hasattr(value, name):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


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
