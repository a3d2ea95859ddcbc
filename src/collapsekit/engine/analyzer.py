"""The analysis engine: one streaming accumulator behind every entry point.

``Analyzer.update(x, y)`` feeds exact sufficient statistics (class moments, unit-vector sums,
per-class scatters within a memory budget, cross moments with a paired reference) and a
seeded reservoir sample of rows; ``compute()`` turns them into a :class:`Report`. Metrics that
need the final class means (NC4, cosine silhouette, leave-one-out stability) are exact when a
second pass over the rows is given, and otherwise evaluated on the sampled rows against the
exact class statistics. ``report.provenance`` says which is which.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import torch

from collapsekit._validation import (
    check_count,
    check_level,
    check_positive_int,
    usable_device,
)
from collapsekit.engine import distributed
from collapsekit.engine.batches import checked_batch, encoded_labels
from collapsekit.engine.computation import (
    AUTO_BOOTSTRAP_MAX_ROWS,
    Request,
    exact_only,
    metric_list,
)
from collapsekit.engine.dense import check_deferred, dense_update
from collapsekit.engine.labels import LabelEncoder
from collapsekit.engine.state import (
    analyzer_state,
    check_state,
    restore,
    start_empty,
    start_per_class,
    started,
)
from collapsekit.functional.alpha_req import DEFAULT_FIT_RANGE
from collapsekit.metrics import Options
from collapsekit.stats.class_batch import Precision
from collapsekit.stats.class_scatter import PerClassScatter
from collapsekit.stats.class_stats import ClassStats, validated_precision
from collapsekit.stats.cross_moments import CrossMoments
from collapsekit.stats.row_reservoir import RowReservoir
from collapsekit.stats.unit_moments import UnitVectorMoments

if TYPE_CHECKING:  # annotations only
    from collapsekit.report.report import Report
    from collapsekit.verdict import Thresholds

__all__ = ["AUTO_BOOTSTRAP_MAX_ROWS", "Analyzer", "Progress"]

Progress = Callable[[str, int, int | None], None]
#: A second pass: a zero-argument callable returning a fresh iterator of
#: ``(features, labels, reference)`` batches (labels / reference may be None).
SecondPass = Callable[[], Iterable[tuple[Any, Any, Any]]]


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
        precision: ``"float64"`` (default, the contract): the pooled scatter from float64
            products, spectra exact to the float64 eigensolver, every entry point and batch
            split equal to ~1e-12. ``"float32"``: residuals rounded once to float32, their
            sums, squares and one GEMM per batch in float32 (and float32 unit rows),
            accumulated into float64 state batch by batch; about 3x faster on CPU, for
            vocabulary-scale passes (``benchmarks/README.md``, section K). Counts stay exact,
            class sums and the scatter's diagonal within the residuals' float32 rounding
            (~1e-7 of the spread); the spectrum's tail below ~1e-7 of the top eigenvalue is
            not resolved and ``report.provenance`` says so (accuracy measured in
            ``benchmarks/README.md``, section I). Rows beyond 2^48 (float32 squares could
            overflow) are taken in float64 (with ``num_classes``: left out and counted).
        num_classes: ``K`` for dense integer labels ``0..K-1`` known in advance (a
            vocabulary): no label dictionary, no class-axis growth, and no host round-trip per
            batch (GPU-ready). Rows with NaN/Inf and labels outside ``0..K-1`` are left out on
            the device and counted; ``compute()`` and ``exact_metrics()`` then raise (a
            deferred check, :mod:`collapsekit.engine.dense`). No reference (CKA) and no
            per-class scatters in this mode.

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
        precision: Precision = "float64",
        num_classes: int | None = None,
    ) -> None:
        self.dim = None if dim is None else check_positive_int(dim, "dim")
        self.precision: Precision = validated_precision(precision)
        self.num_classes = (
            None if num_classes is None else check_positive_int(num_classes, "num_classes")
        )
        #: device-side counts (non-finite rows, labels out of range) of the dense-label pass
        self.invalid: torch.Tensor | None = None
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
        self.device = None if device is None else usable_device(device)
        self.encoder = LabelEncoder(class_names)
        if self.num_classes is not None:
            if class_names is not None and len(class_names) != self.num_classes:
                raise ValueError(
                    f"class_names: expected {self.num_classes} names (num_classes), received "
                    f"{len(class_names)}"
                )
            names = None if class_names is None else list(class_names)
            values: list[Any] = list(range(self.num_classes))
            self.encoder.load_state_dict({"kind": "int", "values": values, "class_names": names})
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
        dtype = str(x.dtype).replace("torch.", "")
        ref_dim = None if ref is None else ref.shape[1]
        start_empty(self, x.shape[1], labelled, ref_dim, dtype, x.device)

    def update(self, features: Any, labels: Any = None, reference: Any = None) -> None:
        """Add a batch: ``features`` (N x D, any float dtype, any device), ``labels`` (N
        values: integers of any size or strings; omit for unlabelled data) and optionally
        ``reference`` (N x D', the same inputs embedded by another model, for CKA).

        The batch is validated completely before anything is accumulated: a rejected batch
        (NaN/Inf rows, wrong shapes, labels of another kind) loses nothing.
        """
        if self.num_classes is not None:
            dense_update(self, features, labels, reference)
            return
        x, labelled, ref = checked_batch(self, features, labels, reference)
        y = encoded_labels(self, labels, x, labelled)
        if self.class_stats is None:
            if x.shape[0] == 0:
                return
            self._start(x, labelled, ref)
        _, class_stats, units = started(self)
        if x.shape[0] == 0:
            return
        class_stats.update_checked(x, y)  # validated above; float64 rows re-check overflow
        units.update(x, y)
        if self.per_class_pending and self.n_rows + x.shape[0] > self.sample_rows:
            start_per_class(self)
        if self.per_class is not None:
            self.per_class.update(x, y)
        if self.cross is not None and ref is not None:
            self.cross.update(x, ref)
        self.reservoir.update(x, y, ref)
        self.n_rows += x.shape[0]

    # ------------------------------------------------------------------ combining
    def merge(self, other: Analyzer) -> Analyzer:
        """Add the rows accumulated by ``other`` (left unchanged); returns ``self``. Classes
        are matched by label value or name, whatever order they arrived in."""
        if not isinstance(other, Analyzer):
            raise TypeError(f"other: expected an Analyzer, received {type(other).__name__}")
        merged = distributed.merge(self, other, scratch=Analyzer())
        if other.invalid is not None:  # the deferred check of num_classes=K travels along
            theirs = other.invalid.to(
                merged.invalid.device if merged.invalid is not None else "cpu"
            )
            merged.invalid = theirs.clone() if merged.invalid is None else merged.invalid + theirs
        return merged

    def all_reduce(self, group: Any = None) -> Analyzer:
        """Combine the statistics of every process of ``torch.distributed`` (in place): class
        ids are aligned by label value across ranks, then every accumulator is reduced and the
        row samples gathered. Call once, after the last local ``update``, on every rank: a rank
        that saw no rows takes part too. Ranks whose data disagree (width, dtype, labelling,
        reference width, label kind) raise ValueError on every rank before any tensor is
        exchanged. No-op when torch.distributed is not initialised."""
        return distributed.all_reduce(self, group)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume or merge (tensors cloned)."""
        return analyzer_state(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state written by :meth:`state_dict`; validated before anything changes."""
        check_state(state)
        try:
            fresh = self._fresh_from(state)
        except (KeyError, TypeError, IndexError, RuntimeError, AttributeError) as err:
            raise ValueError(
                f"state: expected a dictionary written by Analyzer.state_dict(), received one "
                f"that fails to load ({type(err).__name__}: {err}); pass it unchanged"
            ) from err
        self.__dict__.update(fresh.__dict__)

    def _fresh_from(self, state: dict[str, Any]) -> Analyzer:
        opts = state["options"]
        fresh = Analyzer(
            sample_rows=opts["sample_rows"],
            seed=opts["seed"],
            global_mean=opts["global_mean"],
            device=self.device,
            max_memory_mb=opts["max_memory_bytes"] / 2**20,
            exact_per_class=opts.get("exact_per_class", True),
            alpha_fit_range=tuple(opts.get("alpha_fit_range", DEFAULT_FIT_RANGE)),
            precision=opts.get("precision", "float64"),
            num_classes=opts.get("num_classes"),
        )
        restore(fresh, state, self.device)
        return fresh

    # ------------------------------------------------------------------ results
    def exact_metrics(
        self,
        weights: Any = None,
        ood_features: Any = None,
        *,
        bias: Any = None,
        ncc_batches: SecondPass | None = None,
        metrics: Sequence[str] | None = None,
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
        check_deferred(self)
        if self.class_stats is None or self.n_rows < 2:
            raise ValueError(
                f"features: expected at least 2 rows before exact_metrics(), received {self.n_rows}"
            )
        request = Request(
            weights=weights,
            bias=bias,
            ood_features=ood_features,
            second_pass=ncc_batches,
            metrics=metric_list(metrics),
            options=Options(alpha_fit_range=self.alpha_fit_range, seed=self.seed),
        )
        return exact_only(self, request)

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
        metrics: Sequence[str] | None = None,
    ) -> Report:
        """The :class:`Report` of every row seen so far.

        Args:
            weights, bias: classifier (C x D, C); rows are matched to classes by label value
                (integer labels) or by ``class_names`` (names), never by guess.
            ood_features: out-of-distribution rows (M x D) for NC5.
            second_pass: zero-argument callable giving the same ``(features, labels,
                reference)`` batches again; makes NC4, cosine silhouette and leave-one-out
                stability exact over every row, and resolves a spectrum tail below the
                moments' float64 floor (rank-deficient float32 rows; docs/metrics.md).
            bootstrap: resamples for percentile intervals; ``None`` = 200 when N <= 500. They
                need every row in the sample (N <= sample_rows); otherwise they are skipped
                and the report says so.
            uniformity_rows: uniformity is O(N^2): computed on at most this many sampled rows
                (``None``: all sampled rows).
            progress: ``progress(stage, done, total)`` per stage (see :func:`analyze`).
            thresholds: the verdict's rules (:class:`collapsekit.Thresholds`); echoed in the
                report.
            metrics: compute only these metrics (registry keys, see
                ``collapsekit.metrics.keys()``) and what they depend on; ``None``: all. The
                verdict then judges what was computed and lists the tests it could not run.
        """
        from collapsekit.report.assemble import build_report, check_thresholds

        check_thresholds(thresholds)  # before anything else is checked
        check_deferred(self)
        if self.class_stats is None or self.n_rows < 2:
            raise ValueError(
                f"features: expected at least 2 rows before compute(), received {self.n_rows}"
            )
        request = Request(
            weights=weights,
            bias=bias,
            ood_features=ood_features,
            second_pass=second_pass,
            bootstrap=check_count(bootstrap, "bootstrap", 0, allow_none=True),
            interval_level=check_level(interval_level),
            thresholds=thresholds,
            metrics=metric_list(metrics),
            options=Options(
                alpha_fit_range=self.alpha_fit_range,
                uniformity_rows=check_count(uniformity_rows, "uniformity_rows", 2, allow_none=True),
                probe=bool(probe),
                probe_folds=check_count(probe_folds, "probe_folds", 2),
                seed=self.seed,
            ),
        )
        return build_report(self, request, progress)

    def encode_again(self, y_raw: Any, x: torch.Tensor) -> torch.Tensor:
        """Labels of a second pass, encoded as in the first (no new classes allowed)."""
        if y_raw is None:
            raise ValueError("labels: expected labels in the second pass, as in the first")
        known = self.encoder.num_classes
        y = self.encoder.encode(y_raw, x.device, x.shape[0])
        if self.encoder.num_classes != known:
            raise ValueError(
                "labels: the second pass holds classes the first did not; a source read twice "
                "must not change between passes"
            )
        return y
