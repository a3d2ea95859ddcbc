"""The analysis engine: every entry point (``analyze()``, the CLI, the monitor) goes through
:class:`Analyzer`."""

from collapsekit.engine.analyzer import Analyzer

__all__ = ["Analyzer"]
