"""The metric registry: one :class:`MetricSpec` per metric, the only list of metric keys.

Specs are collected from every module of :mod:`collapsekit.metrics` that defines ``SPECS``
(adding a metric is adding one module). Every other list of keys is derived here.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from collapsekit.metrics.spec import MetricSpec, Panel

_NOT_METRICS = {"context", "registry", "spec", "evaluate"}


def _collect() -> tuple[MetricSpec, ...]:
    # the package's folder, not the package itself: importing collapsekit.metrics here would be
    # an import cycle (its __init__ imports this module)
    modules = [
        importlib.import_module(f"collapsekit.metrics.{info.name}")
        for info in pkgutil.iter_modules([str(Path(__file__).parent)])
        if info.name not in _NOT_METRICS and not info.name.startswith("_")
    ]
    modules.sort(key=lambda m: (getattr(m, "POSITION", 1000), m.__name__))
    specs: list[MetricSpec] = [s for m in modules for s in getattr(m, "SPECS", ())]
    keys = [s.key for s in specs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise RuntimeError(f"metric registry: keys defined twice: {twice}")
    return tuple(specs)


#: Every metric, in a fixed order (by each module's ``POSITION``, then as it lists them).
REGISTRY: tuple[MetricSpec, ...] = _collect()
_BY_KEY = {s.key: s for s in REGISTRY}


def spec(key: str) -> MetricSpec:
    """The spec of ``key`` (ValueError naming the known keys otherwise).

    Example:
        >>> spec("nc1").doc
        'nc1'
    """
    try:
        return _BY_KEY[key]
    except KeyError:
        raise ValueError(
            f"metrics: unknown metric {key!r}; known metrics: {', '.join(sorted(_BY_KEY))}"
        ) from None


def keys(flag: str | None = None, by: str | None = None) -> tuple[str, ...]:
    """Metric keys in registry order; with ``flag`` (a boolean field of MetricSpec such as
    ``"compare"``, ``"monitor"``, ``"null"``, ``"in_summary"``, ``"profile"``) only those
    whose flag is set (``"bootstrap"``: those with a bootstrap hook); with ``by``, those whose
    field ``by`` equals ``flag`` (``keys("neural collapse", by="section")``).

    Example:
        >>> "nc1" in keys("profile"), "uniformity" in keys("monitor")
        (True, False)
    """
    if flag is None:
        return tuple(s.key for s in REGISTRY)
    if by is not None:
        return tuple(s.key for s in REGISTRY if getattr(s, by) == flag)
    return tuple(s.key for s in REGISTRY if bool(getattr(s, flag)))


def resolve(metrics: Iterable[str] | None) -> tuple[MetricSpec, ...]:
    """The specs to evaluate for the requested ``metrics`` (``None``: all) and everything
    they depend on (``after``), in registry order.

    Example:
        >>> [s.key for s in resolve(["rankme", "effective_rank"])]
        ['effective_rank', 'rankme']
    """
    if metrics is None:
        return REGISTRY
    if isinstance(metrics, str):
        raise ValueError(
            f"metrics: expected a list of metric names, received the string {metrics!r}; "
            f"write metrics=[{metrics!r}]"
        )
    todo = [spec(k).key for k in metrics]
    if not todo:
        raise ValueError(
            "metrics: expected at least one metric name, received an empty list; pass "
            "metrics=None for every metric"
        )
    wanted: set[str] = set()
    while todo:
        key = todo.pop()
        if key not in wanted:
            wanted.add(key)
            todo.extend(spec(key).after)
    return tuple(s for s in REGISTRY if s.key in wanted)


def doc_anchors() -> dict[str, str]:
    """``{key: anchor in docs/metrics.md}`` for every metric."""
    return {s.key: s.doc for s in REGISTRY}


def panels(only: Sequence[str] | None = None) -> list[tuple[Panel, tuple[str, ...]]]:
    """Tracking panels in registry order, each with the keys drawn on it."""
    out: dict[str, tuple[Panel, list[str]]] = {}
    for s in REGISTRY:
        if s.panel is None or (only is not None and s.key not in only):
            continue
        out.setdefault(s.panel.title, (s.panel, []))[1].append(s.key)
    return [(panel, tuple(ks)) for panel, ks in out.values()]
