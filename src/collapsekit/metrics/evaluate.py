"""``evaluate``: the one computation every entry point goes through."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

from collapsekit._threads import map_independent
from collapsekit.metrics.context import MetricContext
from collapsekit.metrics.registry import resolve
from collapsekit.metrics.spec import MetricSpec


def applicable(ctx: MetricContext, specs: Iterable[MetricSpec]) -> list[MetricSpec]:
    """The specs whose needs the context meets."""
    have = ctx.available()
    return [s for s in specs if s.needs <= have]


def _requested(ctx: MetricContext, metrics: Iterable[str] | None) -> Sequence[MetricSpec]:
    """The specs of ``metrics`` (None: all); records the request in the context."""
    specs = resolve(metrics)
    if metrics is not None:
        ctx.requested = frozenset(s.key for s in specs)
    return specs


def prepare(
    ctx: MetricContext,
    metrics: Iterable[str] | None = None,
    alongside: Sequence[Callable[[], Any]] = (),
) -> list[Any]:
    """Run the ``prepare`` hooks of the requested metrics that the context allows (each hook
    once: the spectra, the per-class ranks) side by side with the ``alongside`` jobs, in one
    pool (:func:`~collapsekit._threads.map_independent`: one thread per core, one intra-op
    thread each; the hooks' own independent parts join the same pool). Returns the results of
    ``alongside``. :func:`evaluate` calls it; calling it first overlaps other work with the
    factorisations.

    Example:
        >>> import torch
        >>> from collapsekit.stats.class_stats import ClassStats
        >>> cs = ClassStats(2, 3)
        >>> cs.update(torch.eye(3)[[0, 0, 1, 1]], torch.tensor([0, 0, 1, 1]))
        >>> ctx = MetricContext.from_class_stats(cs)
        >>> prepare(ctx, ["effective_rank"], alongside=[lambda: "done"])
        ['done']
        >>> "spectra" in ctx.cache
        True
    """
    return _prepare(ctx, _requested(ctx, metrics), alongside)


def _prepare(
    ctx: MetricContext, specs: Iterable[MetricSpec], alongside: Sequence[Callable[[], Any]] = ()
) -> list[Any]:
    hooks: list[Callable[[MetricContext], object]] = []
    for s in applicable(ctx, specs):
        if s.prepare is not None and s.prepare not in hooks:
            hooks.append(s.prepare)
    jobs = [partial(h, ctx) for h in hooks] + list(alongside)
    return map_independent(lambda job: job(), jobs, ctx.device)[len(hooks) :]


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
    specs = _requested(ctx, metrics)
    _prepare(ctx, [s for s in specs if kinds is None or s.exactness in kinds])
    if metrics is not None:
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
