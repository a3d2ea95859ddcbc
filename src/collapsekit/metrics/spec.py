"""``MetricSpec``: everything collapsekit knows about one metric, in one place.

The registry (:mod:`collapsekit.metrics.registry`) holds one spec per metric. Every entry
point evaluates metrics through it, and every list of metric keys (docs, summary, compare,
monitor, tracking panels, null, bootstrap, layer profile) is derived from the specs' fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import torch

if TYPE_CHECKING:
    from collapsekit.metrics.context import MetricContext

#: What a metric needs from the inputs or the accumulated statistics:
#: ``classes`` labels with two or more non-empty classes; ``weights`` classifier rows;
#: ``reference`` a paired second embedding (CKA); ``ood`` out-of-distribution rows;
#: ``units`` unit-vector sums; ``sample`` the seeded row sample; ``rows`` a pass over rows
#: against the final class statistics (a second pass, or the sample).
Need = Literal["classes", "weights", "reference", "ood", "units", "sample", "rows"]
NEEDS: frozenset[str] = frozenset(
    {"classes", "weights", "reference", "ood", "units", "sample", "rows"}
)

#: How exact a metric is: ``one pass`` (exact from the streamed statistics), ``rows`` (exact
#: with a second pass over the rows, else scored on the sampled rows), ``sample`` (from the
#: seeded row sample).
Exactness = Literal["one pass", "rows", "sample"]


@dataclass
class Resamples:
    """B bootstrap resamples of the same N rows, each as its multiplicities over the rows.

    ``x`` (N x D, float64), ``y`` (compact labels 0..K-1, or None), ``reference`` (paired rows,
    or None) are the original rows; ``weights`` (B x N) says how many times each resample drew
    each row. Sums over a resample's rows are weighted sums over the original rows, so a hook
    computes all B values at once (see :mod:`collapsekit.functional.resampled`); ``cache``
    holds work several hooks share within these resamples (the resampled class means),
    ``shared`` work that does not depend on them (per-row terms), kept across chunks.
    """

    x: torch.Tensor
    y: torch.Tensor | None
    k: int
    reference: torch.Tensor | None
    weights: torch.Tensor
    cache: dict[str, Any] = field(default_factory=dict)
    shared: dict[str, Any] = field(default_factory=dict)

    def cached(self, name: str, build: Callable[[], Any], shared: bool = False) -> Any:
        store = self.shared if shared else self.cache
        if name not in store:
            store[name] = build()
        return store[name]

    def undefined(self) -> torch.Tensor:
        """B NaNs: the metric is not defined on these resamples (they are skipped)."""
        return torch.full((self.weights.shape[0],), torch.nan, dtype=torch.float64)


#: Bootstrap hook: the metric of each of B resamples (B values; NaN or inf skips a resample).
BootstrapFn = Callable[[Resamples], torch.Tensor]


@dataclass(frozen=True)
class Measured:
    """One metric's value and how it was obtained; ``parts`` are extra keys of a family
    (e.g. one effective rank per class) reported with the same provenance."""

    value: float
    provenance: str
    parts: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Panel:
    """Where a metric is drawn on the tracking page: panels group by ``title``."""

    title: str
    ylabel: str
    log: bool | None = None
    thresholds: tuple[str, ...] = ()


@dataclass(frozen=True)
class MetricSpec:
    """One metric.

    Attributes:
        key: the public name (``Report.metrics`` key, docs anchor unless ``doc`` says else).
        compute: ``compute(context) -> Measured | None`` over the shared
            :class:`~collapsekit.metrics.context.MetricContext` (None: not applicable, with a
            note in the context saying why).
        needs: what it needs (see :data:`Need`); a metric whose needs are not met is left out.
        exactness: see :data:`Exactness` (the provenance string gives the details).
        bad: the direction that means collapse (``"low"``, ``"high"``) or None.
        doc: anchor of its entry in docs/metrics.md.
        summary: a one-line description.
        after: keys that must be evaluated first (their values are read from the context).
        prepare: ``prepare(context)``: the shared work it reads that is independent of every
            other metric's (a factorisation, cached in the context); :func:`~collapsekit.
            metrics.evaluate.prepare` runs the requested metrics' hooks side by side, one pool
            for all (:func:`~collapsekit._threads.map_independent`), before they are computed.
        null: the isotropic null model gives a baseline value for it.
        bootstrap: how to compute it on B resamples of the rows at once (for intervals), or None.
        in_summary / compare / monitor / profile: shown in the notebook summary, the compare
            table, logged by the per-epoch monitors, kept per layer by ``analyze_layers``.
        panel: where the tracking page draws it, or None.
        options: names of the options it reads from the context.
        family: it also reports one value per class as ``<key>_<class name>``.
        section: the report section that shows it.
    """

    key: str
    compute: Callable[[MetricContext], Measured | None]
    needs: frozenset[str]
    exactness: Exactness
    bad: Literal["low", "high"] | None
    doc: str
    summary: str
    after: tuple[str, ...] = ()
    prepare: Callable[[MetricContext], object] | None = None
    null: bool = False
    bootstrap: BootstrapFn | None = None
    in_summary: bool = False
    compare: bool = False
    monitor: bool = False
    profile: bool = False
    panel: Panel | None = None
    options: tuple[str, ...] = ()
    family: bool = False
    section: Literal["neural collapse", "representation"] = "representation"

    def __post_init__(self) -> None:
        unknown = set(self.needs) - NEEDS
        if unknown:
            raise ValueError(f"needs: unknown requirement(s) {sorted(unknown)} for {self.key!r}")
