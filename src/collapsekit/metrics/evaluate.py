"""``evaluate``: the one computation every entry point goes through."""

from __future__ import annotations

from collections.abc import Iterable

from collapsekit.metrics.context import MetricContext
from collapsekit.metrics.registry import resolve
from collapsekit.metrics.spec import MetricSpec


def applicable(ctx: MetricContext, specs: Iterable[MetricSpec]) -> list[MetricSpec]:
    """The specs whose needs the context meets."""
    have = ctx.available()
    return [s for s in specs if s.needs <= have]


def evaluate(
    ctx: MetricContext,
    metrics: Iterable[str] | None = None,
    exactness: Iterable[str] | None = None,
) -> tuple[dict[str, float], dict[str, str]]:
    """Compute the requested ``metrics`` (``None``: every metric) that the context's
    statistics allow; returns ``(values, provenance)`` with a provenance string per key
    (family members included). ``exactness`` keeps only specs of those kinds (e.g.
    ``["one pass"]`` for the per-epoch monitors). Values are also left in ``ctx.values``.

    Example:
        >>> import torch
        >>> from collapsekit.stats.class_stats import ClassStats
        >>> cs = ClassStats(2, 3)
        >>> cs.update(torch.eye(3)[[0, 0, 1, 1]] + torch.tensor([[0.1, 0, 0]] * 4),
        ...           torch.tensor([0, 0, 1, 1]))
        >>> values, provenance = evaluate(MetricContext.from_class_stats(cs), ["nc1"])
        >>> values, provenance["nc1"]
        ({'nc1': 0.0}, 'exact over all 4 rows (one pass)')
    """
    kinds = None if exactness is None else set(exactness)
    provenance: dict[str, str] = {}
    specs = resolve(metrics)
    if metrics is not None:
        ctx.requested = frozenset(s.key for s in specs)
        have = ctx.available()
        for s in specs:  # asked for by name but impossible with these inputs: say so
            if not s.needs <= have:
                lacking = ", ".join(sorted(s.needs - have))
                ctx.notes.append(f"{s.key} not computed: it needs {lacking}")
    for s in applicable(ctx, specs):
        if kinds is not None and s.exactness not in kinds:
            continue
        got = s.compute(ctx)
        if got is None:
            continue
        ctx.values[s.key] = float(got.value)
        provenance[s.key] = got.provenance
        for part, value in got.parts.items():
            ctx.values[part] = float(value)
            provenance[part] = got.provenance
    return dict(ctx.values), provenance
