"""The analysis engine: one streaming accumulator behind every entry point.

``Analyzer.update(x, y)`` feeds exact sufficient statistics (class moments, unit-vector sums,
per-class scatters within a memory budget, cross moments with a paired reference) and a
seeded reservoir sample of rows; ``compute()`` turns them into a :class:`Report`. Metrics that
need the final class means (NC4, cosine silhouette, leave-one-out stability) are exact when a
second pass over the rows is given, and otherwise evaluated on the sampled rows against the
exact class statistics. ``report.provenance`` says which is which.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import torch

from collapsekit._threads import map_independent
from collapsekit._validation import (
    as_tensor,
    check_count,
    check_features,
    check_level,
    check_positive_int,
    raise_nonfinite_rows,
    rows_are_finite,
)
from collapsekit.engine.labels import LabelEncoder
from collapsekit.functional._common import l2_normalize
from collapsekit.functional.alpha_req import DEFAULT_FIT_RANGE, alpha_req_from_eigenvalues
from collapsekit.functional.centroid_similarity import (
    centroid_similarity_from_means,
    leave_one_out_similarities_from_means,
)
from collapsekit.functional.effective_rank import (
    entropy_rank,
    per_class_effective_rank,
    score_from_singular_values,
)
from collapsekit.functional.linear_cka import linear_cka_from_moments
from collapsekit.functional.linear_probe import linear_probe_accuracy
from collapsekit.functional.ncc_agreement import ncc_predictions
from collapsekit.functional.neco import neco_basis_from_moments, neco_from_basis
from collapsekit.functional.rankme import rankme_from_singular_values
from collapsekit.functional.silhouette import cosine_silhouette_rows
from collapsekit.functional.spectrum import singular_values, singular_values_from_covariance
from collapsekit.functional.std_of_l2_normalized import std_of_l2_normalized_from_moments
from collapsekit.functional.uniformity import uniformity
from collapsekit.inference.bootstrap import bootstrap_intervals
from collapsekit.inference.null_model import isotropic_null
from collapsekit.report.report import Report
from collapsekit.report.verdict import Thresholds, decide
from collapsekit.stats.class_scatter import PerClassScatter
from collapsekit.stats.class_stats import ClassStats
from collapsekit.stats.cross_moments import CrossMoments
from collapsekit.stats.row_reservoir import RowReservoir
from collapsekit.stats.unit_moments import UnitVectorMoments

#: Largest cohort for which ``compute`` bootstraps by default (``bootstrap=None``).
AUTO_BOOTSTRAP_MAX_ROWS = 500
#: Largest number of classes for which the report keeps the K x K centroid-cosine matrix.
CENTROID_MATRIX_MAX_CLASSES = 64
_STATE_VERSION = 1

Progress = Callable[[str, int, int | None], None]
#: A second pass: a zero-argument callable returning a fresh iterator of
#: ``(features, labels, reference)`` batches (labels / reference may be None).
SecondPass = Callable[[], Iterable[tuple[Any, Any, Any]]]


def class_state_bytes(num_classes: int, dim: int) -> int:
    """Memory of the per-class state that always exists: class moments (float32 shift,
    float64 residual sums) and unit-vector sums (float64), K x D each, plus counts."""
    return num_classes * (dim * (4 + 8 + 8) + 24)


def _physical_memory_bytes() -> int:
    import os

    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 0


def _finite_and_wide_enough(x: torch.Tensor, name: str) -> torch.Tensor:
    """``x`` checked for NaN/Inf and widened where needed, in one pass over float32 rows: half
    and bfloat16 become float32; float32 rows whose squares would leave float32's range
    (magnitudes beyond 2^60 or below 2^-60, e.g. features at 1e30 or 1e-30) become float64,
    so every metric reads the same at any scale. The extremes (``aminmax``) carry NaN and Inf,
    so one reduction serves both checks; float64 rows get the row-sum check."""
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    if not x.numel():
        return x
    if x.dtype != torch.float32:
        if not rows_are_finite(x):
            raise_nonfinite_rows(name, ~torch.isfinite(x).all(dim=1))
        return x
    lo, hi = (float(v) for v in x.aminmax())  # one pass, no |x| copy
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise_nonfinite_rows(name, ~torch.isfinite(x).all(dim=1))
    peak = max(-lo, hi)
    if peak > 2.0**60 or 0.0 < peak < 2.0**-60:
        return x.double()
    return x


def _padded(s: torch.Tensor, d: int) -> torch.Tensor:
    """Singular values padded with zeros to D (the length the D x D moments give)."""
    return torch.cat([s, s.new_zeros(max(0, d - s.numel()))])


class Analyzer:
    """Streaming analysis of embeddings: feed batches, get a :class:`Report`.

    Args:
        dim: feature width D (default: taken from the first batch).
        class_names: optional class order. Integer labels then index into it; string labels
            must be among it; classifier weight row ``j`` is class ``class_names[j]``.
        sample_rows: size of the seeded reservoir sample of rows (probe, uniformity, and the
            per-row metrics when no second pass is given); all rows when N is smaller.
        seed: seeds the sample, the probe folds, the bootstrap and the isotropic baseline.
        global_mean: ``"class"`` (mean of class means, Papyan 2020) or ``"sample"``.
        device: where the statistics live (default: the first batch's device).
        exact_per_class: keep per-class D x D scatters (exact per-class effective ranks);
            ``False`` takes those ranks from the row sample (cheaper per batch).
        alpha_fit_range: eigenvalue ranks of the alpha-ReQ power-law fit.
        max_memory_mb: budget for the optional exact structures (per-class D x D scatters for
            per-class effective rank); above it those metrics come from the sample.

    Memory: K x D (class moments, unit sums) + D x D (+ K x D^2 within the budget)
    + sample_rows x D, independent of N.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> y = torch.arange(600) % 3
        >>> x = torch.randn(600, 8, generator=g) + 6 * torch.eye(8)[y]
        >>> a = Analyzer()
        >>> for xb, yb in zip(x.split(100), y.split(100)):
        ...     a.update(xb, yb)
        >>> report = a.compute(probe=False)
        >>> report.provenance["nc1"]
        'exact over all 600 rows (one pass)'
        >>> from collapsekit import neural_collapse
        >>> abs(report.metrics["nc1"] / neural_collapse(x, y)["nc1"] - 1) < 1e-6
        True
    """

    def __init__(
        self,
        dim: int | None = None,
        *,
        class_names: Sequence[Any] | None = None,
        sample_rows: int = 20_000,
        seed: int = 0,
        global_mean: Literal["class", "sample"] = "class",
        device: torch.device | str | None = None,
        max_memory_mb: float = 4096,
        exact_per_class: bool = True,
        alpha_fit_range: tuple[int, int] = DEFAULT_FIT_RANGE,
    ) -> None:
        self.dim = None if dim is None else check_positive_int(dim, "dim")
        self.exact_per_class = bool(exact_per_class)
        self.alpha_fit_range = alpha_fit_range
        self.sample_rows = check_positive_int(sample_rows, "sample_rows")
        self.seed = check_count(seed, "seed", 0)
        if global_mean not in ("class", "sample"):
            raise ValueError(f"global_mean: expected 'class' or 'sample', received {global_mean!r}")
        self.global_mean: Literal["class", "sample"] = global_mean
        if (
            isinstance(max_memory_mb, bool)
            or not isinstance(max_memory_mb, int | float)
            or not (max_memory_mb > 0)
        ):
            raise ValueError(
                f"max_memory_mb: expected a positive number, received {max_memory_mb!r}"
            )
        self.max_memory_bytes = int(max_memory_mb * 2**20)
        self.device = None if device is None else torch.device(device)
        self.encoder = LabelEncoder(class_names)
        self.labelled: bool | None = None
        self.reference_dim: int | None = None
        self.input_dtype: str | None = None
        self.n_rows = 0
        self.capacity = 0
        self.class_stats: ClassStats | None = None
        self.units: UnitVectorMoments | None = None
        self.per_class: PerClassScatter | None = None
        # exact per-class scatters, started once the sample stops holding every row (until
        # then the per-class ranks come from the held rows, exactly and more cheaply)
        self.per_class_pending = False
        self.per_class_note: str | None = None
        self.cross: CrossMoments | None = None
        self.reservoir = RowReservoir(self.sample_rows, self.seed, stream=0)

    # ------------------------------------------------------------------ accumulation
    def _start(self, x: torch.Tensor, labelled: bool, ref: torch.Tensor | None) -> None:
        self.device = self.device or x.device
        self.dim = x.shape[1]
        self.labelled = labelled
        self.input_dtype = str(x.dtype).replace("torch.", "")
        self.capacity = 1 if not labelled else max(1, self.encoder.num_classes, 16)
        self.class_stats = ClassStats(
            self.capacity, self.dim, device=self.device, global_mean=self.global_mean
        )
        self.units = UnitVectorMoments(self.capacity, self.dim, self.device)
        fits = PerClassScatter.nbytes(self.capacity, self.dim) <= self.max_memory_bytes
        if labelled and self.exact_per_class and fits:
            self.per_class_pending = True
        elif labelled and self.exact_per_class:
            self._drop_per_class(self.capacity)
        elif labelled:
            self.per_class_note = (
                "per-class effective ranks from the row sample (exact_per_class=False): exact "
                "only while every row is held in the sample"
            )
        if ref is not None:
            self.reference_dim = ref.shape[1]
            self.cross = CrossMoments(self.dim, self.reference_dim, self.device)
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            self.reservoir.stream = dist.get_rank()

    def _start_per_class(self) -> None:
        """Start the exact per-class scatters (when pending) from the rows held so far: all of
        them, since the sample still holds every row (``n_rows <= sample_rows``)."""
        if not self.per_class_pending:
            return
        self.per_class_pending = False
        assert self.dim is not None and self.reservoir.size == self.n_rows
        self.per_class = PerClassScatter(self.capacity, self.dim, self.device)
        res = self.reservoir
        if res.rows is not None and res.labels is not None and res.size:
            self.per_class.update(res.rows.to(self.device), res.labels.to(self.device))

    def _drop_per_class(self, k: int) -> None:
        self.per_class = None
        self.per_class_pending = False
        assert self.dim is not None
        need = PerClassScatter.nbytes(k, self.dim) / 2**20
        self.per_class_note = (
            f"per-class effective ranks from the row sample: exact per-class scatters of {k} "
            f"classes x {self.dim}^2 need {need:.0f} MB, over the "
            f"{self.max_memory_bytes / 2**20:.0f} MB budget (raise max_memory_mb for exact values)"
        )

    def _check_class_memory(self, k: int, dim: int) -> int:
        """Raise, before anything changes, when K x D class state cannot fit; returns the
        machine's memory (0 when unknown)."""
        need = class_state_bytes(k, dim)
        available = _physical_memory_bytes()
        if available and need > 0.5 * available:
            raise ValueError(
                f"labels: {k} distinct classes x {dim} features need about "
                f"{need / 2**30:.1f} GiB for the class statistics, over half of this machine's "
                f"{available / 2**30:.0f} GiB; reduce the number of classes (e.g. group rare "
                "labels) or the feature width, or run on a larger machine"
            )
        return available

    def _grow(self, k: int) -> None:
        assert self.dim is not None
        available = self._check_class_memory(k, self.dim)
        new_cap = max(k, 2 * self.capacity)
        if available and class_state_bytes(new_cap, self.dim) > 0.5 * available:
            new_cap = k  # no headroom for doubling: grow exactly
        mapping = torch.arange(self.capacity)
        assert self.class_stats is not None and self.units is not None and self.dim is not None
        self.class_stats.remap_classes(mapping, new_cap)
        self.units.remap_classes(mapping.to(self.units.shift.device), new_cap)
        if self.per_class is not None or self.per_class_pending:
            if PerClassScatter.nbytes(new_cap, self.dim) > self.max_memory_bytes:
                self._drop_per_class(new_cap)
            elif self.per_class is not None:
                self.per_class.remap_classes(mapping.to(self.per_class.counts.device), new_cap)
        self.capacity = new_cap

    def update(self, features: Any, labels: Any = None, reference: Any = None) -> None:
        """Add a batch: ``features`` (N x D, any float dtype, any device), ``labels`` (N
        values: integers of any size or strings; omit for unlabelled data) and optionally
        ``reference`` (N x D', the same inputs embedded by another model, for CKA).

        The batch is validated completely before anything is accumulated: a rejected batch
        (NaN/Inf rows, wrong shapes, labels of another kind) loses nothing.
        """
        device = self.device if self.device is not None else None
        x = _finite_and_wide_enough(
            check_features(features, "features", self.dim, device, min_rows=0, check_finite=False),
            "features",
        )
        labelled = labels is not None
        if self.labelled is not None and labelled != self.labelled:
            raise ValueError(
                "labels: expected "
                + (
                    "labels with every batch (the first batch had them)"
                    if self.labelled
                    else "no labels (the first batch had none)"
                )
                + ", received the other"
            )
        ref = None
        if reference is not None:
            ref = _finite_and_wide_enough(
                check_features(
                    reference, "reference", self.reference_dim, x.device, 0, check_finite=False
                ),
                "reference",
            )
            if ref.shape[0] != x.shape[0]:
                raise ValueError(
                    f"reference: expected {x.shape[0]} rows paired with the features (row i of "
                    f"both from the same input), received {ref.shape[0]}; CKA of unpaired rows "
                    "is undefined"
                )
        if self.class_stats is not None and (ref is None) != (self.cross is None):
            raise ValueError(
                "reference: expected a reference batch with every batch or with none (CKA pairs "
                "every row), received a change midway"
            )
        before = list(self.encoder.values), self.encoder.kind
        try:
            if labelled:
                y = self.encoder.encode(labels, x.device, x.shape[0])
            else:
                y = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
            if (
                self.class_stats is not None
                and labelled
                and (self.encoder.num_classes > self.capacity)
            ):
                self._grow(self.encoder.num_classes)  # checks memory before it changes anything
        except Exception:
            self.encoder.load_state_dict(
                {"kind": before[1], "values": before[0], "class_names": self.encoder.class_names}
            )
            raise
        if self.class_stats is None:
            if x.shape[0] == 0:
                return
            try:
                self._check_class_memory(self.encoder.num_classes, x.shape[1])
            except ValueError:
                self.encoder.load_state_dict(
                    {
                        "kind": before[1],
                        "values": before[0],
                        "class_names": self.encoder.class_names,
                    }
                )
                raise
            self._start(x, labelled, ref)
        assert self.class_stats is not None and self.units is not None
        if x.shape[0] == 0:
            return
        self.class_stats.update(x, y)  # re-checks finiteness of residuals (overflow)
        self.units.update(x, y)
        if self.per_class_pending and self.n_rows + x.shape[0] > self.sample_rows:
            self._start_per_class()
        if self.per_class is not None:
            self.per_class.update(x, y)
        if self.cross is not None and ref is not None:
            self.cross.update(x, ref)
        self.reservoir.update(x, y, ref)
        self.n_rows += x.shape[0]

    # ------------------------------------------------------------------ combining
    def _align(self, other: Analyzer) -> tuple[torch.Tensor, int]:
        mapping = self.encoder.mapping_from(other.encoder)
        if self.encoder.num_classes > self.capacity:
            self._grow(self.encoder.num_classes)
        return mapping, self.capacity

    def merge(self, other: Analyzer) -> Analyzer:
        """Add the rows accumulated by ``other`` (left unchanged); returns ``self``. Classes
        are matched by label value or name, whatever order they arrived in."""
        if not isinstance(other, Analyzer):
            raise TypeError(f"other: expected an Analyzer, received {type(other).__name__}")
        if other.class_stats is None:
            return self
        if self.class_stats is None:
            self.load_state_dict(other.state_dict())
            return self
        if (other.dim, other.labelled, other.reference_dim) != (
            self.dim,
            self.labelled,
            self.reference_dim,
        ):
            raise ValueError(
                "other: expected an Analyzer of the same width, labelling and reference width "
                f"{(self.dim, self.labelled, self.reference_dim)}, received "
                f"{(other.dim, other.labelled, other.reference_dim)}"
            )
        theirs = Analyzer()
        theirs.load_state_dict(other.state_dict())
        self._start_per_class()  # the merged sample may not hold every row: stream both
        theirs._start_per_class()
        mapping, k = self._align(theirs) if self.labelled else (torch.zeros(1, dtype=torch.long), 1)
        full = torch.cat([mapping, torch.arange(k, k + theirs.capacity - mapping.numel())])
        spare = [i for i in range(k) if i not in set(mapping.tolist())]
        full = torch.tensor(mapping.tolist() + spare[: theirs.capacity - mapping.numel()])
        assert theirs.class_stats is not None and theirs.units is not None
        assert self.class_stats is not None and self.units is not None
        theirs.class_stats.remap_classes(full, k)
        theirs.units.remap_classes(full, k)
        self.class_stats.merge(theirs.class_stats.to(self.class_stats.device))
        self.units.merge(theirs.units)
        if self.per_class is not None and theirs.per_class is not None:
            theirs.per_class.remap_classes(full, k)
            self.per_class.merge(theirs.per_class)
        elif self.per_class is not None:
            self._drop_per_class(k)
        if self.cross is not None and theirs.cross is not None:
            self.cross.merge(theirs.cross)
        theirs.reservoir.remap_classes(torch.tensor(full.tolist()))
        if theirs.reservoir.stream == self.reservoir.stream:
            theirs.reservoir.keys = 1.0 - theirs.reservoir.keys  # keep the two samples distinct
        self.reservoir.merge(theirs.reservoir)
        self.n_rows += theirs.n_rows
        return self

    def all_reduce(self, group: Any = None) -> Analyzer:
        """Combine the statistics of every process of ``torch.distributed`` (in place): class
        ids are aligned by label value across ranks, then every accumulator is reduced and the
        row samples gathered. Call once, after the last local ``update``. No-op when
        torch.distributed is not initialised."""
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return self
        world = dist.get_world_size(group)
        states: list[Any] = [None] * world
        dist.all_gather_object(states, self.encoder.state_dict(), group=group)
        union = LabelEncoder(self.encoder.class_names)
        for state in states:
            enc = LabelEncoder()
            enc.load_state_dict(state)
            union.mapping_from(enc)
        mapping = union.mapping_from(self.encoder)
        k = max(union.num_classes, 1)
        assert self.class_stats is not None and self.units is not None
        spare = [i for i in range(k) if i not in set(mapping.tolist())]
        full = torch.tensor(mapping.tolist() + spare)[: self.capacity]
        if full.numel() < self.capacity:  # a rank grew further than the union needs
            k = self.capacity
            full = torch.tensor(
                mapping.tolist() + [i for i in range(k) if i not in set(mapping.tolist())]
            )
        self.class_stats.remap_classes(full, k)
        self.units.remap_classes(full.to(self.units.shift.device), k)
        self._start_per_class()  # every rank streams them (the gathered sample may not hold all)
        budget_ok = (
            self.dim is not None and PerClassScatter.nbytes(k, self.dim) <= self.max_memory_bytes
        )
        flags = torch.tensor([1.0 if (self.per_class is not None and budget_ok) else 0.0])
        dist.all_reduce(flags, op=dist.ReduceOp.MIN, group=group)
        if self.per_class is not None and bool(flags[0] > 0):
            self.per_class.remap_classes(full.to(self.per_class.counts.device), k)
            self.per_class.all_reduce(group)
        elif self.labelled:
            self._drop_per_class(k)
        self.reservoir.remap_classes(full)
        self.encoder = union
        self.capacity = k
        self.class_stats.all_reduce(group)
        self.units.all_reduce(group)
        if self.cross is not None:
            self.cross.all_reduce(group)
        self.reservoir.all_gather(group)
        total = torch.tensor([float(self.n_rows)], dtype=torch.float64)
        dist.all_reduce(total, group=group)
        self.n_rows = int(total[0])
        return self

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume or merge (tensors cloned)."""
        return {
            "version": _STATE_VERSION,
            "options": {
                "sample_rows": self.sample_rows,
                "seed": self.seed,
                "global_mean": self.global_mean,
                "max_memory_bytes": self.max_memory_bytes,
                "exact_per_class": self.exact_per_class,
                "alpha_fit_range": list(self.alpha_fit_range),
            },
            "dim": self.dim,
            "labelled": self.labelled,
            "reference_dim": self.reference_dim,
            "input_dtype": self.input_dtype,
            "n_rows": self.n_rows,
            "capacity": self.capacity,
            "encoder": self.encoder.state_dict(),
            "class_stats": None if self.class_stats is None else self.class_stats.state_dict(),
            "units": None if self.units is None else self.units.state_dict(),
            "per_class": None if self.per_class is None else self.per_class.state_dict(),
            "per_class_pending": self.per_class_pending,
            "per_class_note": self.per_class_note,
            "cross": None if self.cross is None else self.cross.state_dict(),
            "reservoir": self.reservoir.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state written by :meth:`state_dict`; validated before anything changes."""
        version = state.get("version") if isinstance(state, dict) else None
        if version != _STATE_VERSION:
            raise ValueError(
                f"state: expected an Analyzer.state_dict() of version {_STATE_VERSION}, received "
                f"{type(state).__name__} with version {version!r}"
            )
        fresh = Analyzer.__new__(Analyzer)
        opts = state["options"]
        Analyzer.__init__(
            fresh,
            sample_rows=opts["sample_rows"],
            seed=opts["seed"],
            global_mean=opts["global_mean"],
            device=self.device,
            max_memory_mb=opts["max_memory_bytes"] / 2**20,
            exact_per_class=opts.get("exact_per_class", True),
            alpha_fit_range=tuple(opts.get("alpha_fit_range", DEFAULT_FIT_RANGE)),
        )
        fresh.encoder.load_state_dict(state["encoder"])
        fresh.dim, fresh.labelled = state["dim"], state["labelled"]
        fresh.reference_dim, fresh.input_dtype = state["reference_dim"], state["input_dtype"]
        fresh.n_rows, fresh.capacity = int(state["n_rows"]), int(state["capacity"])
        fresh.per_class_note = state["per_class_note"]
        fresh.per_class_pending = bool(state.get("per_class_pending", False))
        if state["class_stats"] is not None:
            cs = state["class_stats"]
            dev = self.device or torch.as_tensor(cs["counts"]).device
            fresh.device = dev
            fresh.class_stats = ClassStats(
                int(cs["num_classes"]), int(cs["dim"]), device=dev, global_mean=fresh.global_mean
            )
            fresh.class_stats.load_state_dict(cs)
            fresh.units = UnitVectorMoments(fresh.capacity, int(cs["dim"]), dev)
            fresh.units.load_state_dict(state["units"])
            if state["per_class"] is not None:
                fresh.per_class = PerClassScatter(fresh.capacity, int(cs["dim"]), dev)
                fresh.per_class.load_state_dict(state["per_class"])
            if state["cross"] is not None:
                fresh.cross = CrossMoments(int(cs["dim"]), int(state["reference_dim"]), dev)
                fresh.cross.load_state_dict(state["cross"])
        fresh.reservoir.load_state_dict(state["reservoir"])
        self.__dict__.update(fresh.__dict__)

    # ------------------------------------------------------------------ results
    def exact_metrics(
        self,
        weights: Any = None,
        ood_features: Any = None,
        *,
        bias: Any = None,
        ncc_batches: SecondPass | None = None,
    ) -> dict[str, float]:
        """Only the metrics that are exact from the one-pass statistics (no sample, baseline
        or verdict): cheap enough to log every epoch or every N steps. With ``weights`` and
        ``ncc_batches`` (a callable giving ``(features, labels, reference)`` batches again),
        NC4 agreement is added from that second pass.

        Example:
            >>> import torch
            >>> a = Analyzer()
            >>> a.update(torch.eye(4), torch.tensor([0, 0, 1, 1]))
            >>> sorted(a.exact_metrics())[:3]
            ['cdnv', 'centroid_similarity', 'chance_accuracy']
        """
        if self.class_stats is None or self.n_rows < 2:
            raise ValueError(
                f"features: expected at least 2 rows before exact_metrics(), received {self.n_rows}"
            )
        return _exact_only(self, weights, ood_features, bias, ncc_batches)

    def compute(
        self,
        weights: Any = None,
        bias: Any = None,
        ood_features: Any = None,
        *,
        second_pass: SecondPass | None = None,
        bootstrap: int | None = None,
        interval_level: float = 0.95,
        probe: bool = True,
        probe_folds: int = 5,
        uniformity_rows: int | None = 4_096,
        thresholds: Thresholds | None = None,
        progress: Progress | None = None,
    ) -> Report:
        """The :class:`Report` of every row seen so far.

        Args:
            weights, bias: classifier (C x D, C); rows are matched to classes by label value
                (integer labels) or by ``class_names`` (names), never by guess.
            ood_features: out-of-distribution rows (M x D) for NC5.
            second_pass: zero-argument callable giving the same batches again; makes NC4,
                cosine silhouette and leave-one-out stability exact over every row.
            bootstrap: resamples for percentile intervals; ``None`` = 200 when N <= 500. They
                need every row in the sample (N <= sample_rows); otherwise they are skipped
                and the report says so.
            uniformity_rows: uniformity is O(N^2): computed on at most this many sampled rows
                (``None``: all sampled rows).
            thresholds: the verdict's rules (:class:`collapsekit.Thresholds`); echoed in the
                report.
        """
        if thresholds is not None and not isinstance(thresholds, Thresholds):
            raise TypeError(
                f"thresholds: expected a collapsekit.Thresholds, received "
                f"{type(thresholds).__name__}; build one with Thresholds(...) or "
                "Thresholds.from_strings(['name=value'])"
            )
        if self.class_stats is None or self.n_rows < 2:
            raise ValueError(
                f"features: expected at least 2 rows before compute(), received {self.n_rows}"
            )
        interval_level = check_level(interval_level)
        bootstrap = check_count(bootstrap, "bootstrap", 0, allow_none=True)
        probe_folds = check_count(probe_folds, "probe_folds", 2)
        uniformity_rows = check_count(uniformity_rows, "uniformity_rows", 2, allow_none=True)
        return _Computation(self, progress).run(
            weights,
            bias,
            ood_features,
            second_pass,
            bootstrap,
            interval_level,
            probe,
            probe_folds,
            uniformity_rows,
            thresholds,
        )


def _exact_only(
    analyzer: Analyzer,
    weights: Any,
    ood_features: Any,
    bias: Any,
    ncc_batches: SecondPass | None,
) -> dict[str, float]:
    comp = _Computation(analyzer, None)
    w_all, w_rows, b = comp._classifier(weights, bias)
    comp.exact_stage(w_all, w_rows, ood_features)
    if ncc_batches is not None and w_all is not None and analyzer.labelled and comp.k >= 2:
        comp._row_metrics(ncc_batches, w_all, w_rows, b, per_row=False)
    return dict(comp.metrics)


class _Computation:
    """One ``compute()``: the exact statistics in reporting order, then every metric."""

    def __init__(self, analyzer: Analyzer, progress: Progress | None) -> None:
        self.a = analyzer
        self.progress = progress or (lambda stage, done, total: None)
        cs = analyzer.class_stats
        assert cs is not None and analyzer.dim is not None
        self.cs = cs
        self.n, self.d = analyzer.n_rows, analyzer.dim
        present = cs.present_classes().tolist()  # dense ids, ascending
        if analyzer.labelled:
            canon = [i for i in analyzer.encoder.canonical_order() if i in set(present)]
        else:
            canon = present
        self.ids = canon  # dense ids in reporting order
        pos_in_present = {c: i for i, c in enumerate(present)}
        self.perm = torch.tensor([pos_in_present[c] for c in canon], dtype=torch.long)
        names = analyzer.encoder.names if analyzer.labelled else ["all"]
        self.names = [names[c] for c in canon]
        dev = cs.device
        self.pos = torch.full((analyzer.capacity,), -1, dtype=torch.long, device=dev)
        self.pos[torch.tensor(canon, dtype=torch.long, device=dev)] = torch.arange(
            len(canon), device=dev
        )
        self.counts = cs.counts[torch.tensor(canon, device=dev)]
        self.means = cs.class_means()[self.perm.to(dev)]
        self.k = len(canon)
        self.notes: list[str] = []
        self.metrics: dict[str, float] = {}
        self.provenance: dict[str, str] = {}
        self.exact1 = f"exact over all {self.n} rows (one pass)"
        self.exact2 = f"exact over all {self.n} rows (second pass)"
        res = analyzer.reservoir
        self.m = res.size
        self.all_in_sample = self.m == self.n
        self.sample_x = res.rows
        self.sample_y = None if res.labels is None else self.pos[res.labels.to(dev)]
        self.sample_ref = res.reference
        if self.all_in_sample:
            self.sampled = f"exact over all {self.n} rows (every row held in the sample)"
        else:
            self.sampled = f"sample of {self.m} rows of {self.n} (seeded, uniform)"

    def put(self, key: str, value: float, provenance: str) -> None:
        self.metrics[key] = float(value)
        self.provenance[key] = provenance

    # ------------------------------------------------------------------ stages
    def run(
        self,
        weights: Any,
        bias: Any,
        ood_features: Any,
        second_pass: SecondPass | None,
        bootstrap: int | None,
        level: float,
        probe: bool,
        probe_folds: int,
        uniformity_rows: int | None,
        thresholds: Thresholds | None = None,
    ) -> Report:
        a, n, d = self.a, self.n, self.d
        w_all, w_rows, b = self._classifier(weights, bias)
        plan = self._probe_plan(probe, probe_folds) if a.labelled and self.k >= 2 else None
        s, centroid_cos, per_class, baseline = self.exact_stage(
            w_all, w_rows, ood_features, baseline_silhouette=plan is None
        )
        assert baseline is not None
        base, base_spectrum = baseline
        if a.labelled and self.k >= 2:
            self._row_metrics(second_pass, w_all, w_rows, b)
            if plan is not None:
                self._probe(*plan, probe_folds)
        self._uniformity(uniformity_rows)
        intervals, resamples = self._intervals(bootstrap, level)
        spectrum = (s / s.sum().clamp_min(1e-300)).tolist()
        inputs = {
            "n": n,
            "d": d,
            "dtype": a.input_dtype,
            "num_classes": self.k if a.labelled else 0,
            "class_counts": (
                {nm: int(c) for nm, c in zip(self.names, self.counts.tolist(), strict=True)}
                if a.labelled
                else {}
            ),
            "class_names": self.names if a.labelled else None,
            "labels": bool(a.labelled),
            "weights": weights is not None,
            "reference": a.cross is not None,
            "ood_features": ood_features is not None,
            "bootstrap_resamples": resamples,
            "sample_rows": self.m,
            "passes": 2 if second_pass is not None else 1,
            "notes": self.notes,
        }
        return Report(
            metrics=self.metrics,
            verdict=decide(
                self.metrics,
                base,
                thresholds,
                stats=self._canonical_stats(),
                class_names=self.names if a.labelled else None,
                per_class_rank=per_class,
                weights=None if w_all is None or w_rows is None else w_all[w_rows],
                class_counts=self.counts if a.labelled else None,
                labels=bool(a.labelled),
            ),
            inputs=inputs,
            intervals=intervals,
            interval_level=level,
            baseline=base,
            spectrum={"data": spectrum[:512], "isotropic": base_spectrum[:512]},
            centroid_cosine=centroid_cos,
            per_class_effective_rank=per_class,
            provenance=self.provenance,
        )

    def exact_stage(
        self,
        w_all: torch.Tensor | None,
        w_rows: torch.Tensor | None,
        ood_features: Any,
        baseline_silhouette: bool | None = None,
    ) -> tuple[
        torch.Tensor,
        list[list[float]] | None,
        dict[str, float],
        tuple[dict[str, float], list[float]] | None,
    ]:
        """Every metric exact from the one-pass statistics; returns the centred singular
        values, the centroid-cosine matrix (K <= 64), the per-class ranks and, unless
        ``baseline_silhouette`` is None, the baseline (``isotropic_null`` with or without its
        silhouette)."""
        a, cs, n, d = self.a, self.cs, self.n, self.d
        spectra_prov = self.exact1
        if self.all_in_sample and n < d and self.sample_x is not None:
            # fewer rows than dimensions, every row held: the N x N Gram of the rows gives the
            # same spectra far more cheaply than the D x D moments (14 slides x 1,536 dims)
            rows = self.sample_x.to(cs.device)
            s, s_raw = map_independent(
                lambda center: _padded(singular_values(rows, center=center), d),
                [True, False],
                cs.device,
            )
            spectra_prov = self.sampled
        else:
            mu = self.means
            second = cs.within_scatter() + (mu * self.counts.double()[:, None]).T @ mu
            # the two spectra are independent factorisations: side by side, one thread each
            s, s_raw = map_independent(
                lambda cov: singular_values_from_covariance(cov, n),
                [cs.total_cov(), second / n],
                cs.device,
            )
            # N rows span at most N - 1 centred (N uncentred) dimensions: the eigenvalues past
            # that rank are the moments' float32 round-off, not spectrum
            s[max(n - 1, 0) :] = 0.0
            s_raw[n:] = 0.0
        baseline = None
        if baseline_silhouette is not None:
            self.progress("baseline", 0, None)
            baseline = self._baseline(baseline_silhouette)
        self.put("effective_rank", entropy_rank(s), spectra_prov)
        self.put("effective_rank_score", score_from_singular_values(s, n, d), spectra_prov)
        with contextlib.suppress(ValueError):  # fewer than two eigenvalues in the fit range
            alpha = alpha_req_from_eigenvalues(s.square(), self.a.alpha_fit_range)
            self.put("alpha_req", alpha, spectra_prov)
        # RankMe over the min(N, D) singular values of the rows (as functional.rankme)
        self.put("rankme", rankme_from_singular_values(s_raw[: min(n, d)]), spectra_prov)
        units = a.units
        assert units is not None
        self.put(
            "std_of_l2_normalized",
            std_of_l2_normalized_from_moments(units.n, units.dev_sum, units.dev_sq_sum),
            self.exact1,
        )
        if units.zero_rows:
            self.notes.append(
                f"{units.zero_rows} all-zero row(s) have no direction: they count as zero "
                "vectors in the spread and silhouette"
            )
        centroid_cos = None
        per_class: dict[str, float] = {}
        if a.labelled and self.k >= 2:
            centroid_cos = self._class_metrics(w_all, w_rows, ood_features)
            per_class = self._per_class_ranks()
        elif a.labelled:
            self.notes.append("a single class: class-separation metrics need two or more")
        if a.cross is not None:
            moments = a.cross.moments()
            self.put("linear_cka", linear_cka_from_moments(moments), self.exact1)
            if n >= 4:
                self.put("linear_cka_debiased", linear_cka_from_moments(moments, True), self.exact1)
        return s, centroid_cos, per_class, baseline

    def _classifier(
        self, weights: Any, bias: Any
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        """(all weight rows, the weight row of each reported class, bias)."""
        if weights is None:
            if bias is not None:
                raise ValueError("bias: expected weights with it (NC3/NC4 need the classifier)")
            return None, None, None
        if not self.a.labelled:
            raise ValueError("weights: expected labels as well (NC3/NC4 compare classes)")
        w = check_features(weights, "weights", self.d, self.cs.device)
        rows = self.a.encoder.weight_rows(self.ids, w.shape[0])
        b = None
        if bias is not None:
            b = as_tensor(bias, "bias", self.cs.device).double().flatten()
            if b.numel() != w.shape[0]:
                raise ValueError(
                    f"bias: expected {w.shape[0]} values (one per weight row), received {b.numel()}"
                )
            if not bool(torch.isfinite(b).all()):
                raise ValueError("bias: expected finite values, received NaN or Inf")
        return w, torch.tensor(rows, dtype=torch.long, device=self.cs.device), b

    def _class_metrics(
        self, w_all: torch.Tensor | None, w_rows: torch.Tensor | None, ood_features: Any
    ) -> list[list[float]] | None:
        cs, dev = self.cs, self.cs.device
        w_dense = None
        if w_all is not None and w_rows is not None:
            w_dense = torch.zeros(self.a.capacity, self.d, dtype=w_all.dtype, device=dev)
            w_dense[torch.tensor(self.ids, device=dev)] = w_all[w_rows]
        ood, ood_mean, ood_prov = None, None, self.exact1
        if ood_features is not None:
            ood = check_features(ood_features, "ood_features", self.d, dev)
            ood_mean = ood.double().mean(0)
            ood_prov = f"exact over all {self.n} rows and {ood.shape[0]} OoD rows"
        nc = cs.neural_collapse(weights=w_dense, ood_mean=ood_mean)
        for key, value in nc.items():
            self.put(key, value, ood_prov if key == "ood_orthogonality" else self.exact1)
        if ood is not None:
            self._neco(ood, ood_prov)
        self.put("centroid_similarity", centroid_similarity_from_means(self.means), self.exact1)
        self.put("chance_accuracy", float(self.counts.max()) / self.n, self.exact1)
        if self.k <= CENTROID_MATRIX_MAX_CLASSES:
            unit = l2_normalize(self.means)
            return (unit @ unit.T).tolist()
        return None

    def _neco(self, ood: torch.Tensor, provenance: str) -> None:
        """NECO (Ammar et al. 2024) next to NC5: the mean share of each row's norm inside the
        top-(K-1) principal subspace of the in-distribution rows (standardised, as the
        authors' code), for the OoD rows (exact) and the in-distribution sample."""
        cov = self.cs.total_cov()
        mean = (self.means * self.counts.double()[:, None]).sum(0) / self.n
        dim = min(self.k - 1, self.n, self.d)
        basis = neco_basis_from_moments(cov, mean, cov.diagonal(), self.n, dim)
        self.put("neco_ood_mean", float(neco_from_basis(ood, basis).mean()), provenance)
        if self.sample_x is not None:
            id_scores = neco_from_basis(self.sample_x.to(self.cs.device), basis)
            self.put("neco_id_mean", float(id_scores.mean()), self.sampled)

    def _per_class_ranks(self) -> dict[str, float]:
        out: dict[str, float] = {}
        pc = self.a.per_class
        if pc is not None and not self.all_in_sample:
            for c, name in zip(self.ids, self.names, strict=True):
                nc = int(pc.counts[c])
                if nc >= 2:
                    s = singular_values_from_covariance(pc.class_covariance(c), nc)
                    out[name] = entropy_rank(s)
            prov = self.exact1
        else:
            assert self.sample_x is not None and self.sample_y is not None
            # every row in memory: the rows' own (n_c x n_c when smaller) Gram is the cheaper
            # exact route; otherwise an estimate from the sampled rows
            ranks = per_class_effective_rank(self.sample_x, self.sample_y)
            out = {self.names[c]: v for c, v in sorted(ranks.items())}
            prov = self.sampled
            if self.a.per_class_note and not self.all_in_sample:
                self.notes.append(self.a.per_class_note)
        for name, value in out.items():
            self.put(f"per_class_effective_rank_{name}", value, prov)
        if out:
            self.put("per_class_effective_rank_min", min(out.values()), prov)
        return out

    def _row_metrics(
        self,
        second_pass: SecondPass | None,
        w_all: torch.Tensor | None,
        w_rows: torch.Tensor | None,
        b: torch.Tensor | None,
        per_row: bool = True,
    ) -> None:
        """Cosine silhouette, leave-one-out stability and NC4 from rows against the exact
        class statistics: every row (second pass) or the sampled rows. ``per_row=False``:
        NC4 alone."""
        units = self.a.units
        assert units is not None
        dev = self.cs.device
        totals = units.class_unit_sums[torch.tensor(self.ids, device=dev)]
        mu_g = self.cs.global_mean_vector()
        centred = self.means - mu_g
        sim0 = self.metrics["centroid_similarity"]
        acc = {
            "sil": 0.0,
            "sil_n": 0,
            "loo": 0.0,
            "loo_sq": 0.0,
            "loo_n": 0,
            "agree": 0,
            "ncc_n": 0,
        }
        do_sil = per_row and self.k < self.n
        do_loo = per_row and (self.n > 2 or int(self.counts.max()) > 1)

        def consume(x_batch: torch.Tensor, y_batch: torch.Tensor) -> None:
            # sub-chunks bound the (rows x K) float64 temporaries whatever the batch size
            for x, yc in zip(x_batch.split(4096), y_batch.split(4096), strict=True):
                consume_chunk(x, yc)

        def consume_chunk(x: torch.Tensor, yc: torch.Tensor) -> None:
            if do_sil:
                sil = cosine_silhouette_rows(l2_normalize(x), yc, totals, self.counts)
                acc["sil"] += float(sil.sum())
                acc["sil_n"] += int(sil.numel())
            if do_loo:
                sims = leave_one_out_similarities_from_means(x, yc, self.means, self.counts)
                sims = sims[~torch.isnan(sims)] - sim0
                acc["loo"] += float(sims.sum())
                acc["loo_sq"] += float(sims.square().sum())
                acc["loo_n"] += int(sims.numel())
            if w_all is not None and w_rows is not None:
                clf, nearest = ncc_predictions(x, centred, mu_g, w_all, b)
                acc["agree"] += int((clf == w_rows[nearest]).sum())
                acc["ncc_n"] += int(clf.numel())

        if second_pass is not None:
            done = 0
            for x_raw, y_raw, _ in second_pass():
                x = check_features(x_raw, "features", self.d, dev)
                if per_row:
                    consume(x, self.pos[self._encode_again(y_raw, x)])
                else:  # NC4 compares two predictions: the rows' labels are not needed
                    consume(x, torch.zeros(x.shape[0], dtype=torch.long, device=dev))
                done += x.shape[0]
                self.progress("pass 2", done, self.n)
            if done != self.n:
                raise ValueError(
                    f"source: expected the second pass to give the same {self.n} rows, received "
                    f"{done}; a source read twice must not change between passes"
                )
            prov = self.exact2
        else:
            assert self.sample_x is not None and self.sample_y is not None
            for lo in range(0, self.m, 8192):
                consume(self.sample_x[lo : lo + 8192].to(dev), self.sample_y[lo : lo + 8192])
            prov = (
                self.sampled
                if self.all_in_sample
                else f"{self.sampled}; each row scored against the exact class statistics"
            )
        if acc["sil_n"]:
            self.put("silhouette", acc["sil"] / acc["sil_n"], prov)
        if acc["loo_n"]:
            mean_dev = acc["loo"] / acc["loo_n"]
            var = max(acc["loo_sq"] / acc["loo_n"] - mean_dev**2, 0.0)
            self.put("loo_centroid_stability", math.sqrt(var), prov)
        if acc["ncc_n"]:
            self.put("ncc_agreement", acc["agree"] / acc["ncc_n"], prov)

    def _encode_again(self, y_raw: Any, x: torch.Tensor) -> torch.Tensor:
        if y_raw is None:
            raise ValueError("labels: expected labels in the second pass, as in the first")
        known = self.a.encoder.num_classes
        y = self.a.encoder.encode(y_raw, x.device, x.shape[0])
        if self.a.encoder.num_classes != known:
            raise ValueError(
                "labels: the second pass holds classes the first did not; a source read twice "
                "must not change between passes"
            )
        return y

    def _probe_plan(self, probe: bool, probe_folds: int) -> tuple[int, int] | None:
        """``(folds, smallest class in the sample)`` when the probe can run, else ``None``
        (with a note saying why)."""
        if not probe:
            return None
        assert self.sample_y is not None
        counts = torch.bincount(self.sample_y, minlength=self.k)
        counts = counts[counts > 0]
        if counts.numel() < 2:
            self.notes.append("linear probe skipped: the sample holds fewer than two classes")
            return None
        smallest = int(counts.min())
        folds = min(probe_folds, smallest)
        if folds < 2:
            self.notes.append("linear probe skipped: a class has a single row in the sample")
            return None
        return folds, smallest

    def _probe(self, folds: int, smallest: int, probe_folds: int) -> None:
        assert self.sample_x is not None and self.sample_y is not None
        self.progress("sample: linear probe", 0, self.m)
        acc = linear_probe_accuracy(self.sample_x, self.sample_y, folds=folds, seed=self.a.seed)
        self.progress("sample: linear probe", self.m, self.m)
        self.put("linear_probe_accuracy", acc, self.sampled)
        if folds < probe_folds:
            self.notes.append(
                f"linear probe used {folds} folds (smallest class has {smallest} rows)"
            )

    def _uniformity(self, uniformity_rows: int | None) -> None:
        assert self.sample_x is not None
        x = self.sample_x
        prov = self.sampled
        nonzero = (x != 0).any(dim=1)
        if not bool(nonzero.all()):  # a zero row has no direction on the sphere
            dropped = int((~nonzero).sum())
            x = x[nonzero]
            self.notes.append(
                f"uniformity leaves out {dropped} all-zero row(s) of the sample (no direction)"
            )
            if x.shape[0] < 2:
                self.notes.append("uniformity skipped: fewer than two rows with a direction")
                return
            prov = f"sample of {x.shape[0]} non-zero rows of {self.n}"
        if uniformity_rows is not None and x.shape[0] > uniformity_rows:
            g = torch.Generator().manual_seed(self.a.seed)
            x = x[torch.randperm(x.shape[0], generator=g)[:uniformity_rows].to(x.device)]
            prov = f"sample of {uniformity_rows} rows of {self.n} (seeded, uniform)"
            self.notes.append(f"uniformity estimated on {uniformity_rows} random rows of {self.n}")
        self.put("uniformity", uniformity(x), prov)

    def _canonical_stats(self) -> ClassStats | None:
        """The class statistics with class j = the j-th reported class (names order)."""
        if not self.a.labelled or self.k < 2:
            return None
        cs = self.cs
        out = ClassStats(
            self.k,
            self.d,
            device=cs.device,
            global_mean=cs.global_mean,
            rtol=cs.rtol,
            tile_bytes=cs.tile_bytes,
        )
        ids = torch.tensor(self.ids, dtype=torch.long, device=cs.device)
        out.counts, out.shift = cs.counts[ids].clone(), cs.shift[ids].clone()
        out.resid_sum, out.resid_sq = cs.resid_sum[ids].clone(), cs.resid_sq[ids].clone()
        out.scatter = cs.scatter.clone()
        return out

    def _baseline(self, with_silhouette: bool) -> tuple[dict[str, float], list[float]]:
        counts = self.counts if self.a.labelled else None
        return isotropic_null(
            self.n, self.d, counts, self.a.seed, self.cs.device, with_silhouette=with_silhouette
        )

    def _intervals(
        self, bootstrap: int | None, level: float
    ) -> tuple[dict[str, tuple[float, float]], int]:
        resamples = (
            bootstrap
            if bootstrap is not None
            else (200 if self.n <= AUTO_BOOTSTRAP_MAX_ROWS else 0)
        )
        if not resamples:
            return {}, 0
        if not self.all_in_sample:
            self.notes.append(
                f"bootstrap intervals skipped: they need every row in the sample (N = {self.n} > "
                f"sample_rows = {self.m}); raise sample_rows to get them"
            )
            return {}, 0
        assert self.sample_x is not None
        y = self.sample_y if self.a.labelled and self.k >= 2 else None
        raw = bootstrap_intervals(
            self.sample_x, y, self.sample_ref, resamples, self.a.seed, level, self.metrics
        )
        out: dict[str, tuple[float, float]] = {}
        for key, (lo, hi) in raw.items():
            value = self.metrics.get(key)
            if value is None:
                continue
            if lo <= value <= hi:
                out[key] = (lo, hi)
            else:  # a non-finite estimate or spread
                self.notes.append(f"no interval for {key}: the bootstrap gave no finite spread")
        return out, resamples
