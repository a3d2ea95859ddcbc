"""``MetricContext``: the accumulated statistics every metric is computed from.

The engine builds one context per ``compute()`` from an :class:`~collapsekit.Analyzer`; the
integrations that stream class moments only (torchmetrics, Lightning, the layer profile) build
one from a :class:`~collapsekit.ClassStats` with :meth:`MetricContext.from_class_stats`. Work
that several metrics share (the spectra, the neural-collapse moments, the pass over rows) is
done once, on first use, and cached here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from collapsekit.functional.alpha_req import DEFAULT_FIT_RANGE
from collapsekit.stats.class_scatter import PerClassScatter
from collapsekit.stats.class_stats import FLOAT32_PRODUCTS_NOTE, ClassStats
from collapsekit.stats.cross_moments import CrossMoments
from collapsekit.stats.deflated_scatter import DeflatedScatter
from collapsekit.stats.unit_moments import UnitVectorMoments

Progress = Callable[[str, int, int | None], None]
#: A pass over the rows again: a zero-argument callable returning ``(features, labels,
#: reference)`` batches (labels / reference may be None).
RowPass = Callable[[], Iterable[tuple[Any, Any, Any]]]


@dataclass(frozen=True)
class Options:
    """The metrics' options (each spec lists the ones it reads in ``MetricSpec.options``)."""

    alpha_fit_range: tuple[int, int] = DEFAULT_FIT_RANGE
    uniformity_rows: int | None = 4_096
    probe: bool = True
    probe_folds: int = 5
    seed: int = 0
    #: the fit of the separation law uses this metric per layer (``separation_fuzziness``, He &
    #: Su's D; or ``nc1``)
    separation_metric: str = "separation_fuzziness"


@dataclass(frozen=True)
class Classifier:
    """Classifier rows: ``weights`` (C x D, every row), ``rows`` (the weight row of each
    reported class, in reporting order) and ``bias`` (C,) or None."""

    weights: torch.Tensor
    rows: torch.Tensor
    bias: torch.Tensor | None = None


@dataclass(frozen=True)
class RowSample:
    """The seeded row sample: rows, their reporting class index (or None), paired reference
    rows, and whether it holds every row."""

    x: torch.Tensor
    y: torch.Tensor | None
    reference: torch.Tensor | None
    holds_all: bool


@dataclass
class MetricContext:
    """Statistics of N rows, in reporting order, and the caches the metrics share.

    ``ids`` are the dense class ids of ``class_stats`` in reporting order (present classes
    only), ``names`` their names; ``counts`` and ``means`` follow the same order.
    """

    class_stats: ClassStats
    n: int
    d: int
    labelled: bool
    ids: list[int]
    names: list[str]
    units: UnitVectorMoments | None = None
    per_class: PerClassScatter | None = None
    per_class_note: str | None = None
    cross: CrossMoments | None = None
    sample: RowSample | None = None
    classifier: Classifier | None = None
    ood: torch.Tensor | None = None
    row_pass: RowPass | None = None
    row_pass_labelled: bool = True
    encode_labels: Callable[[Any, torch.Tensor], torch.Tensor] | None = None
    #: a deflated pass over every row that the caller ran itself (``metrics.spectrum.deflation``)
    deflated: DeflatedScatter | None = None
    options: Options = field(default_factory=Options)
    progress: Progress = field(default=lambda stage, done, total: None)
    notes: list[str] = field(default_factory=list)
    values: dict[str, float] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)
    #: the metrics asked for (None: every metric); shared work computes only what they need
    requested: frozenset[str] | None = None

    def __post_init__(self) -> None:
        cs = self.class_stats
        dev = cs.device
        idx = torch.tensor(self.ids, dtype=torch.long, device=dev)
        present = cs.present_classes()
        pos_in_present = torch.full((cs.num_classes,), -1, dtype=torch.long, device=dev)
        pos_in_present[present] = torch.arange(present.numel(), device=dev)
        self.counts = cs.counts[idx]
        self.means = cs.class_means()[pos_in_present[idx]]
        #: reporting position of each dense class id (-1: absent)
        self.position = torch.full((cs.num_classes,), -1, dtype=torch.long, device=dev)
        self.position[idx] = torch.arange(len(self.ids), device=dev)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_class_stats(
        cls,
        stats: ClassStats,
        *,
        weights: torch.Tensor | None = None,
        names: list[str] | None = None,
        options: Options | None = None,
    ) -> MetricContext:
        """A context over class moments alone (no unit sums, row sample or second pass):
        the one-pass metrics. ``weights`` (num_classes x D): classifier row ``j`` is class
        ``j``.

        Example:
            >>> import torch
            >>> from collapsekit.stats.class_stats import ClassStats
            >>> cs = ClassStats(2, 3)
            >>> cs.update(torch.tensor([[1.0, 0, 0], [2, 0, 0], [0, 1, 0], [0, 3, 0]]),
            ...           torch.tensor([0, 0, 1, 1]))
            >>> ctx = MetricContext.from_class_stats(cs)
            >>> ctx.n, ctx.k, ctx.names
            (4, 2, ['0', '1'])
        """
        present = stats.present_classes().tolist()
        classifier = None
        if weights is not None:
            w = torch.as_tensor(weights).to(stats.device)
            rows = torch.tensor(present, dtype=torch.long, device=stats.device)
            classifier = Classifier(w, rows)
        return cls(
            class_stats=stats,
            n=stats.num_samples,
            d=stats.dim,
            labelled=stats.num_classes > 1,
            ids=present,
            names=names if names is not None else [str(c) for c in present],
            classifier=classifier,
            options=options or Options(),
        )

    # ------------------------------------------------------------------ reading
    @property
    def k(self) -> int:
        """Number of non-empty classes."""
        return len(self.ids)

    @property
    def device(self) -> torch.device:
        return self.class_stats.device

    def available(self) -> frozenset[str]:
        """The needs (:data:`collapsekit.metrics.spec.NEEDS`) these statistics meet."""
        have = set()
        if self.labelled and self.k >= 2:
            have.add("classes")
        if self.classifier is not None:
            have.add("weights")
        if self.cross is not None:
            have.add("reference")
        if self.ood is not None:
            have.add("ood")
        if self.units is not None:
            have.add("units")
        if self.sample is not None:
            have.add("sample")
        if self.row_pass is not None or self.sample is not None:
            have.add("rows")
        return frozenset(have)

    def wants(self, key: str) -> bool:
        """Whether ``key`` was asked for (shared computations skip the parts nobody reads)."""
        return self.requested is None or key in self.requested

    def cached(self, name: str, build: Callable[[], Any]) -> Any:
        """``build()`` once per context; shared work of several metrics."""
        if name not in self.cache:
            self.cache[name] = build()
        return self.cache[name]

    # ------------------------------------------------------------------ provenance
    @property
    def one_pass(self) -> str:
        if getattr(self.class_stats, "precision", "float64") == "float32":
            return f"over all {self.n} rows (one pass; {FLOAT32_PRODUCTS_NOTE})"
        return f"exact over all {self.n} rows (one pass)"

    @property
    def second_pass(self) -> str:
        return f"exact over all {self.n} rows (second pass)"

    @property
    def sampled(self) -> str:
        s = self.sample
        if s is not None and s.holds_all:
            return f"exact over all {self.n} rows (every row held in the sample)"
        m = 0 if s is None else s.x.shape[0]
        return f"sample of {m} rows of {self.n} (seeded, uniform)"
