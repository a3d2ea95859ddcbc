"""The metric registry: one :class:`MetricSpec` per metric (see docs/architecture.md).

``REGISTRY`` holds every metric; :func:`keys`, :func:`resolve`, :func:`panels` and
:func:`doc_anchors` derive every list of keys the rest of collapsekit uses.
:func:`evaluate` computes the requested metrics over a :class:`MetricContext`.
"""

from collapsekit.metrics.context import Classifier, MetricContext, Options, RowSample
from collapsekit.metrics.evaluate import evaluate
from collapsekit.metrics.registry import REGISTRY, doc_anchors, keys, panels, resolve, spec
from collapsekit.metrics.spec import Measured, MetricSpec, Panel

__all__ = [
    "REGISTRY",
    "Classifier",
    "Measured",
    "MetricContext",
    "MetricSpec",
    "Options",
    "Panel",
    "RowSample",
    "doc_anchors",
    "evaluate",
    "keys",
    "panels",
    "resolve",
    "spec",
]
