"""Streaming sufficient statistics of labelled features, in one pass.

The state is exact to float64 whatever the input dtype and offset. Every row is stored relative
to a per-class *shift* ``s_c`` (the mean of the class's first batch, rounded to float32), so the
residuals ``e_i = h_i - s_{y_i}`` are small; they are formed and multiplied in float64. The
state holds, per class ``c``, the count ``n_c``, the residual sum ``r_c = sum_i e_i`` and the
residual square sum ``q_c = sum_i ||e_i||^2``, and, pooled over classes, the residual scatter
``S = sum_i e_i e_i^T`` (one D x D float64 GEMM per batch). For float32 (and narrower) input
the residuals are formed in float64, where the difference of two float32 values is exact, so
nothing is rounded to float32 and the state is independent of the shifts, the batch split and
the merge order (to float64 summation order). From these:

* class means ``mu_c = s_c + r_c / n_c``;
* within-class scatter ``sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T = S - sum_c r_c r_c^T / n_c``
  (the correction is small because ``s_c`` is close to ``mu_c``: no catastrophic cancellation,
  even at 1e4 offset with 1e-2 noise or deep in the terminal phase where Sigma_B >> Sigma_W);
* per-class squared deviation ``sum_{i in c} ||h_i - mu_c||^2 = q_c - ||r_c||^2 / n_c``.

Why float64 products even for float32 input: a float32 GEMM leaves a round-off floor near
``1e-7`` of the largest eigenvalue in every direction, and on rank-deficient (collapsed)
data that floor *is* the spectrum's tail: rank-3 data in 768 dimensions read as effective
rank 3.23 instead of 3.00. With float64 products the floor is that of the float64
eigensolver (about ``D * 1e-16`` of the largest eigenvalue), the same as a float64 SVD of the
stored values resolves through its Gram matrix. Cost: the float64 GEMM runs at about half the
float32 rate on CPU (``benchmarks/README.md``, section G); the residuals, their sums and
squares are float64 as well (exact residuals: the same rows give the same values through every
entry point and batch split, about 1e-12 relative, where float32 residuals around a
first-batch shift gave 1e-8).

Changing the shifts is exact algebra (``_reshift``), which is what makes ``merge`` and
``all_reduce`` exact.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch

from collapsekit._threads import small_work_threads
from collapsekit._validation import (
    accumulation_dtype,
    as_tensor,
    check_features,
    check_labels,
    check_nonnegative_float,
    check_positive_int,
    raise_nonfinite_rows,
)
from collapsekit.stats._accumulator import distributed_active
from collapsekit.stats._gram import add_gram_
from collapsekit.stats._tensor_state import TensorState
from collapsekit.stats._workspace import Workspace

if TYPE_CHECKING:
    from collapsekit.stats.ncc_agreement import NCCAgreement

GlobalMean = Literal["class", "sample"]
Precision = Literal["float64", "float32"]
_STATE_VERSION = 1
#: Largest float32 entry whose squares and products ``precision='float32'`` forms in float32
#: (2^48: a 2^49 residual squared, summed over 2^17 rows of a batch and 2^24 dimensions, stays
#: below float32's 2^128); rows beyond it are accumulated in float64.
FLOAT32_PRODUCTS_PEAK = 2.0**48
#: provenance of statistics whose scatter was formed with float32 products
FLOAT32_PRODUCTS_NOTE = (
    "float32 products: spectrum tail below ~1e-7 of the top eigenvalue not resolved"
)


def validated_precision(value: Any) -> Precision:
    """``'float64'`` (exact products, the default) or ``'float32'`` (fast), else ValueError.

    Example:
        >>> validated_precision("float32")
        'float32'
    """
    if value == "float64":
        return "float64"
    if value == "float32":
        return "float32"
    raise ValueError(
        f"precision: expected 'float64' (exact scatter products, the default) or 'float32' "
        f"(float32 products, faster), received {value!r}"
    )


def validated_global_mean(value: Any) -> GlobalMean:
    """``'class'`` or ``'sample'``, else ValueError."""
    if value == "class":
        return "class"
    if value == "sample":
        return "sample"
    raise ValueError(f"global_mean: expected 'class' or 'sample', received {value!r}")


def _check_scatter(scatter: torch.Tensor, label: str) -> None:
    """A D x D float64 scatter must be symmetric and PSD up to round-off (the tolerance is
    float32's, so states written by versions that used float32 products still load)."""
    scale = float(scatter.abs().max()) if scatter.numel() else 0.0
    if scale == 0.0:
        return
    d = scatter.shape[0]
    tol = 16.0 * d * float(torch.finfo(torch.float32).eps) * scale
    if float((scatter - scatter.T).abs().max()) > tol:
        raise ValueError(
            f"{label}: expected a symmetric scatter matrix, received an asymmetric one"
        )
    lowest = float(torch.linalg.eigvalsh(scatter / scale)[0]) * scale
    if lowest < -tol:
        raise ValueError(
            f"{label}: expected a positive semi-definite scatter (a sum of outer products), "
            f"received an eigenvalue of {lowest:.3g}; the state is corrupt"
        )


@contextlib.contextmanager
def full_precision_matmul(device: torch.device) -> Iterator[None]:
    """Disable TF32 for float32 GEMMs on CUDA while accumulating (TF32 keeps 10 mantissa bits)."""
    if device.type != "cuda":
        yield
        return
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


def _column_sums(m: torch.Tensor, run: int = 32) -> torch.Tensor:
    """Column sums of ``m`` (N x D) in float64: float32 sums over runs of ``run`` rows, then
    float64 across the runs (1e-8 relative on 16,384 rows of squares, against 2e-7 for one
    float32 column sum, at the speed of one; a float64 reduction of float32 rows is ~20x
    slower in torch)."""
    n = m.shape[0]
    full = n - n % run
    out = m[:full].view(-1, run, m.shape[1]).sum(dim=1).sum(dim=0, dtype=torch.float64)
    if full < n:
        out += m[full:].sum(dim=0, dtype=torch.float64)
    return out


@dataclass(frozen=True)
class _Segments:
    """One batch's classes as segments of the label-sorted rows, and the shifts of its new
    classes before they were set (to restore when the batch is refused)."""

    order: torch.Tensor
    present: torch.Tensor
    counts: torch.Tensor
    new_ids: torch.Tensor
    old_shift: torch.Tensor | None


class ClassStats(TensorState):
    """One-pass, mergeable, checkpointable class statistics for neural-collapse metrics.

    Args:
        num_classes: number of label values K; labels must lie in ``[0, K)``. Classes that never
            receive a row are left out of every statistic.
        dim: feature width D.
        device: where the state lives; ``None`` adopts the device of the first batch.
        global_mean: ``"class"`` (default, Papyan et al. 2020): ``mu_G`` is the mean of the class
            means; ``"sample"``: the sample mean of all rows.
        chunk_size: rows per float64 GEMM; each chunk's scatter is added to the state.
        rtol: eigenvalues of Sigma_B below ``rtol * largest`` are dropped from its
            pseudo-inverse (default ``max(K, D) * eps(float64)``).
        tile_bytes: memory budget of the tiled pairwise class statistics.
        precision: ``"float64"`` (default): the pooled scatter from float64 products of the
            exact float64 residuals; ``"float32"``: the whole batch in float32 (residuals
            rounded once, their squares, per-class sums within the batch and one float32
            GEMM; :meth:`_add_rows_float32`), added into the float64 state batch by batch:
            about 3x faster on CPU. Counts stay exact; class sums, squares and the scatter's
            diagonal carry the residuals' float32 rounding (~1e-7 of the within-class
            spread, not growing with the stream); the off-diagonal products a floor near
            ``1e-7`` of the largest eigenvalue (:data:`FLOAT32_PRODUCTS_NOTE`). Float64 rows,
            and float32 rows beyond :data:`FLOAT32_PRODUCTS_PEAK`, use float64 throughout.

    Cost per batch: the ``D x D`` float64 Gram product of the residuals (from its upper blocks
    on CPU when D >= 256, :func:`~collapsekit.stats._gram.add_gram_`) plus O(N D) elementwise work
    that touches only the classes present in the batch; memory: ``K x D`` (float32 shifts,
    float64 residual sums) plus ``D x D`` float64, plus scratch buffers of about two batches
    reused between batches.

    Example:
        >>> import torch
        >>> from collapsekit import ClassStats
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(600, 8, generator=g); y = torch.arange(600) % 3
        >>> x += 10 * torch.eye(8)[y]                       # well-separated classes
        >>> stats = ClassStats(num_classes=3, dim=8)
        >>> for xb, yb in zip(x.split(128), y.split(128)):
        ...     stats.update(xb, yb)
        >>> nc = stats.neural_collapse()
        >>> nc["nc1"] < 0.1, round(nc["etf_error"], 2)
        (True, 0.0)
    """

    _TENSOR_NAMES = ("counts", "shift", "resid_sum", "resid_sq", "scatter")
    _SHAPE_OPTIONS = ("num_classes", "dim")
    _STATE_VERSION = _STATE_VERSION

    def __init__(  # size: the constructor's options, each a distinct setting
        self,
        num_classes: int,
        dim: int,
        device: torch.device | str | None = None,
        global_mean: GlobalMean = "class",
        chunk_size: int = 4096,
        rtol: float | None = None,
        tile_bytes: int = 256 * 2**20,
        precision: Precision = "float64",
    ) -> None:
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.precision: Precision = validated_precision(precision)
        self.dim = check_positive_int(dim, "dim")
        self.chunk_size = check_positive_int(chunk_size, "chunk_size")
        self.tile_bytes = check_positive_int(tile_bytes, "tile_bytes")
        self.global_mean: GlobalMean = validated_global_mean(global_mean)
        self.rtol = (
            None if rtol is None else check_nonnegative_float(rtol, "rtol", "e.g. 1e-12 or None")
        )
        self._device_fixed = device is not None
        dev = torch.device(device) if device is not None else torch.device("cpu")
        k, d = self.num_classes, self.dim
        self.counts = torch.zeros(k, dtype=torch.int64, device=dev)
        self.shift = torch.zeros(k, d, dtype=torch.float32, device=dev)
        self.resid_sum = torch.zeros(k, d, dtype=torch.float64, device=dev)
        self.resid_sq = torch.zeros(k, dtype=torch.float64, device=dev)
        self.scatter = torch.zeros(d, d, dtype=torch.float64, device=dev)
        self._workspace = Workspace()

    # ------------------------------------------------------------------ state handling
    @property
    def device(self) -> torch.device:
        return self.counts.device

    @property
    def num_samples(self) -> int:
        return int(self.counts.sum())

    def _adopt_device(self, x: Any) -> None:
        # a 'meta' tensor holds no values: never adopt its device (validation rejects it)
        if not self._device_fixed and isinstance(x, torch.Tensor) and x.device.type != "meta":
            if x.device != self.device and self.num_samples == 0:
                self.to(x.device)
            self._device_fixed = True

    # ------------------------------------------------------------------ accumulation
    def update(self, features: Any, labels: Any) -> None:
        """Add a batch of rows ``features`` (N x D, any float dtype) with ``labels`` (N,).

        Raises ``ValueError`` (state untouched) on wrong shapes, labels out of range, or rows with
        NaN/Inf. Inputs on another device are moved to the state's device.
        """
        self._adopt_device(features)
        x = check_features(features, "features", self.dim, self.device, 0, check_finite=False)
        y = check_labels(labels, x.shape[0], self.num_classes, "labels", self.device)
        if x.shape[0] == 0:
            return
        cdt = accumulation_dtype(x)
        x = x.to(cdt)
        flops = 2.0 * x.shape[0] * self.dim * self.dim
        with small_work_threads(flops, self.device), full_precision_matmul(self.device):
            self._accumulate(x, y)

    def update_checked(
        self, x: torch.Tensor, y: torch.Tensor, keep: torch.Tensor | None = None
    ) -> None:
        """Add rows the caller has validated: ``x`` (float32 or float64, on the state's
        device, finite, and for ``precision='float32'`` float32 entries within
        :data:`FLOAT32_PRODUCTS_PEAK`) with ids ``y`` in ``[0, K)``, leaving out the rows
        where ``keep`` is False (their rows zero, their ids any valid id) without reading
        anything back to the host (the GPU-ready path of ``Analyzer(num_classes=K)``).

        A class seen for the first time takes its first kept row of the batch as its shift
        (found by a ``scatter_reduce`` over a K-long index, O(K) per batch), written with an
        accumulating ``index_put_`` of ``row - old shift`` (deterministic: one row per new
        class, zeros elsewhere); any shift is exact algebra. Then :meth:`_add_rows` with the
        mask. ``keep=None`` (every row kept; the Analyzer's default pass, or the dense pass on
        the CPU, where reading back costs nothing): the default pass's class segments
        (:meth:`_accumulate`) without checking the rows again.
        """
        b, dev = x.shape[0], self.device
        if b == 0:
            return
        if keep is None:
            flops = 2.0 * b * self.dim * self.dim
            with small_work_threads(flops, dev), full_precision_matmul(dev):
                self._accumulate(x, y, checked=True)
            return
        positions = torch.arange(b, device=dev)
        new_row = keep & (self.counts.index_select(0, y) == 0)
        first = torch.full((self.num_classes,), b, dtype=torch.long, device=dev)
        first.scatter_reduce_(0, y, torch.where(new_row, positions, b), reduce="amin")
        is_first = new_row & (first.index_select(0, y) == positions)
        delta = x.to(torch.float32) - self.shift.index_select(0, y)
        delta.mul_(is_first[:, None])  # finite rows (masked by the caller): zero but the first
        self.shift.index_put_((y,), delta, accumulate=True)
        self.counts.index_put_((y,), keep.to(torch.int64), accumulate=True)
        flops = 2.0 * b * self.dim * self.dim
        with small_work_threads(flops, dev), full_precision_matmul(dev):
            self._add_rows(x, y, keep)

    def _accumulate(self, x: torch.Tensor, y: torch.Tensor, checked: bool = False) -> None:
        """The body of :meth:`update` on validated ``x`` (compute dtype) and ``y``.

        Per batch: one stable sort of the labels (classes as contiguous segments), the shifts
        of classes seen for the first time (the mean of their rows in this batch, one segment
        mean), then the residuals, their sums, squares and the float64 GEMM
        (:meth:`_accumulate_exact` for float32 rows, :meth:`_accumulate_float64`). Only the
        classes present in the batch are touched, so the bookkeeping is O(N D) whatever K; the
        temporaries live in buffers reused from batch to batch
        (:class:`~collapsekit.stats._workspace.Workspace`: fresh ones cost as much in page
        faults as the work). Everything is checked before the state changes: a batch with a NaN
        or overflowing row is rejected whole.
        """
        sorted_y, order = torch.sort(y, stable=True)
        present, batch_counts = torch.unique_consecutive(sorted_y, return_counts=True)
        seg = _Segments(
            order, present, batch_counts, *self._shift_new_classes(x, order, present, batch_counts)
        )
        if x.dtype == torch.float32:
            self._accumulate_exact(x, y, seg, checked)
        else:
            self._accumulate_float64(x, y, seg)

    def _shift_new_classes(
        self, x: torch.Tensor, order: torch.Tensor, present: torch.Tensor, counts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Shift of each class seen for the first time: the mean of its rows in this batch
        (any value close to the class mean serves: the algebra is exact for every shift, but
        the closer, the smaller the residuals). Written now so one gather serves every row;
        returns ``(new ids, their previous shifts)`` to restore if validation fails."""
        is_new = self.counts.index_select(0, present) == 0
        new_ids = present[is_new]
        if not new_ids.numel():
            return new_ids, None
        old_shift = self.shift.index_select(0, new_ids)
        new_counts = counts[is_new]
        new_rows = order[is_new.repeat_interleave(counts)]
        new_mean = torch.nn.functional.embedding_bag(
            new_rows, x, new_counts.cumsum(0) - new_counts, mode="mean"
        )
        shift = new_mean.to(torch.float32)  # beyond float32's range (float64 data at
        # 1e150) the shift is 0 on that axis: any shift is exact, float64 carries the rest
        shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
        self.shift.index_copy_(0, new_ids, shift)
        return new_ids, old_shift

    def _restore_shifts(self, seg: _Segments) -> None:
        if seg.old_shift is not None:
            self.shift.index_copy_(0, seg.new_ids, seg.old_shift)  # the state is left untouched

    def _accumulate_float64(self, x: torch.Tensor, y: torch.Tensor, seg: _Segments) -> None:
        """Float64 rows: residuals, squares, per-class sums by segment and the GEMM in float64;
        a row whose squares overflow float64 is refused before anything changes."""
        ws, dev = self._workspace, self.device
        b, d = x.shape
        resid = ws.get("resid", (b, d), x.dtype, dev)
        resid.copy_(self.shift.index_select(0, y))
        torch.sub(x, resid, out=resid)
        squares = ws.get("squares", (b, d), x.dtype, dev)
        torch.mul(resid, resid, out=squares)
        row_sq = torch.sum(squares, dim=1, out=ws.get("row_sq", (b,), x.dtype, dev))
        if not bool(torch.isfinite(row_sq).all()):
            self._restore_shifts(seg)
            # a NaN row also spoils the new-class shift of its class: name the rows
            bad_rows = ~torch.isfinite(x).all(dim=1)
            if bool(bad_rows.any()):
                raise_nonfinite_rows("features", bad_rows)
            limit = math.sqrt(torch.finfo(x.dtype).max / max(d, 1))
            raise ValueError(
                f"features: expected values whose squares fit in float64 (entries below about "
                f"{limit:.1e}), received rows that overflow; rescale the features"
            )
        # validated: commit. embedding_bag sums each class's segment of the sorted rows
        # without an N x D index tensor.
        self.counts.index_add_(0, seg.present, seg.counts)
        starts = seg.counts.cumsum(0) - seg.counts
        partial = torch.nn.functional.embedding_bag(seg.order, resid, starts, mode="sum")
        self.resid_sum.index_add_(0, seg.present, partial)
        self.resid_sq.index_put_((y,), row_sq, accumulate=True)
        for chunk, chunk_sq in zip(
            resid.split(self.chunk_size), squares.split(self.chunk_size), strict=True
        ):
            # torch's cascade column sums set the diagonal (BLAS accumulates left to right, a
            # rounding biased on residuals with few significant bits)
            add_gram_(self.scatter, chunk, diagonal=chunk_sq.sum(dim=0))

    def _accumulate_exact(
        self, x: torch.Tensor, y: torch.Tensor, seg: _Segments, checked: bool = False
    ) -> None:
        """Float32 rows: residuals formed in float64 (exact: the difference of two float32
        values within 2^29 of each other is a float64), their squares, sums and products in
        float64, chunk by chunk. Nothing is rounded to float32 on the way, so the state does
        not depend on the shifts, the batch split or the merge order beyond float64 summation
        order (the same rows give the same metrics to about 1e-12 whatever the entry point).
        The float64 squares of float32 values cannot overflow: only NaN/Inf rows are refused
        (found by one ``aminmax`` reduction, which carries NaN and Inf; the rows are named
        only when there is one). ``precision='float32'`` forms them in float32
        (:meth:`_add_rows_float32`) unless an entry exceeds :data:`FLOAT32_PRODUCTS_PEAK`.
        ``checked``: the caller has done both checks (:meth:`update_checked`).
        """
        if checked:
            self.counts.index_add_(0, seg.present, seg.counts)
            self._add_rows(x, y, seg=seg)
            return
        lo, hi = (float(v) for v in x.aminmax()) if x.numel() else (0.0, 0.0)
        peak = max(-lo, hi) if math.isfinite(lo) and math.isfinite(hi) else math.inf
        if not math.isfinite(peak):
            self._restore_shifts(seg)
            raise_nonfinite_rows("features", ~torch.isfinite(x).all(dim=1))
        if self.precision == "float32" and peak > FLOAT32_PRODUCTS_PEAK:
            # float32 squares and products of these rows could overflow: this batch is
            # accumulated exactly in float64 instead (same state, slower)
            self._accumulate_float64(x.double(), y, seg)
            return
        self.counts.index_add_(0, seg.present, seg.counts)
        self._add_rows(x, y, seg=seg)

    def _add_rows(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        keep: torch.Tensor | None = None,
        seg: _Segments | None = None,
    ) -> None:
        """Add validated float32 rows ``x`` of classes ``y`` (shifts set) to the sums and
        the scatter; ``keep`` (N, bool) zeroes the residuals of rows left out (no host
        synchronisation: the dense-label path masks instead of filtering); ``seg``, the
        batch's class segments when known, lets the float32 mode sum classes by segment.

        Per chunk: the float64 residual (a copy and a subtraction), its squares, their row and
        column sums, the per-class sums by ``index_put_(accumulate=True)`` (torch's CPU
        ``index_add_`` on rows is several times slower with many rows per class), and the Gram
        product in float64. ``precision='float32'``: :meth:`_add_rows_float32`.
        """
        if self.precision == "float32":
            self._add_rows_float32(x, y, keep, seg)
            return
        ws, dev, d, step = self._workspace, self.device, self.dim, self.chunk_size
        for lo in range(0, x.shape[0], step):
            xc, yc = x[lo : lo + step], y[lo : lo + step]
            wide = ws.get("resid64", (xc.shape[0], d), torch.float64, dev).copy_(xc)
            gathered = ws.get("shift32", (xc.shape[0], d), torch.float32, dev)
            wide.sub_(torch.index_select(self.shift, 0, yc, out=gathered))
            if keep is not None:  # rows left out contribute nothing
                wide.masked_fill_(~keep[lo : lo + step, None], 0.0)
            squares = ws.get("squares64", (xc.shape[0], d), torch.float64, dev)
            torch.mul(wide, wide, out=squares)
            self.resid_sq.index_put_((yc,), squares.sum(dim=1), accumulate=True)
            self.resid_sum.index_put_((yc,), wide, accumulate=True)
            add_gram_(self.scatter, wide, diagonal=squares.sum(dim=0))

    def _add_rows_float32(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        keep: torch.Tensor | None,
        seg: _Segments | None,
    ) -> None:
        """:meth:`_add_rows` with ``precision='float32'``: the whole batch in float32, five
        passes over it beside the GEMM (vocabulary-scale passes, ``benchmarks/README.md``
        section K): the residuals ``x - shift`` rounded once to float32 (a gather and a
        subtraction), their squares, whose row sums (float32, each row's cascade sum) feed
        the per-class sums of squares and whose column sums (float32 over runs of 32 rows,
        then float64) give the scatter's diagonal; the per-class sums of the residuals
        (``embedding_bag`` over the class segments when ``seg`` is given, else float64 chunks
        by ``index_put_``); and one float32 Gram product for the batch, formed from its upper
        blocks (:func:`~collapsekit.stats._gram.add_gram_`; numpy's float32 ``syrk`` would do
        half a GEMM's work, but its BLAS threads and torch's contend between kernels: 121 ms
        against the blocked product's 105 ms for 16,384 x 768 rows), added to the float64
        scatter with that diagonal. Each sum is float32 only within a batch's class or a
        32-row run, so the state's error stays at the residuals' float32 rounding (~1e-7 of
        the within-class spread) however many rows stream in.
        """
        ws, dev, d = self._workspace, self.device, self.dim
        b = x.shape[0]
        resid = ws.get("resid32", (b, d), torch.float32, dev)
        torch.index_select(self.shift, 0, y, out=resid)
        torch.sub(x, resid, out=resid)
        if keep is not None:  # rows left out contribute nothing
            resid.masked_fill_(~keep[:, None], 0.0)
        squares = ws.get("squares32", (b, d), torch.float32, dev)
        torch.mul(resid, resid, out=squares)
        self.resid_sq.index_put_((y,), squares.sum(dim=1).double(), accumulate=True)
        diagonal = _column_sums(squares)
        if seg is not None:
            starts = seg.counts.cumsum(0) - seg.counts
            partial = torch.nn.functional.embedding_bag(seg.order, resid, starts, mode="sum")
            self.resid_sum.index_add_(0, seg.present, partial.double())
        else:
            for lo in range(0, b, self.chunk_size):
                part = resid[lo : lo + self.chunk_size]
                wide = ws.get("resid64", part.shape, torch.float64, dev).copy_(part)
                self.resid_sum.index_put_((y[lo : lo + self.chunk_size],), wide, accumulate=True)
        add_gram_(self.scatter, resid, diagonal=diagonal)

    # ------------------------------------------------------------------ exact re-expression
    def _reshift(self, new_shift: torch.Tensor) -> None:
        """Express the state relative to ``new_shift`` (K x D float32), exactly."""
        delta = self.shift.double() - new_shift.double()  # e_new = e_old + delta
        delta[self.counts == 0] = 0.0
        n = self.counts.double()
        r = self.resid_sum
        cross = r.T @ delta
        self.scatter += cross + cross.T + (delta * n[:, None]).T @ delta
        self.resid_sq += 2.0 * (delta * r).sum(1) + n * delta.square().sum(1)
        self.resid_sum = r + n[:, None] * delta
        self.shift = new_shift.to(torch.float32).clone()

    def copy(self) -> ClassStats:
        """An independent copy of this state."""
        out = ClassStats(
            self.num_classes,
            self.dim,
            self.device,
            self.global_mean,
            self.chunk_size,
            self.rtol,
            self.tile_bytes,
            self.precision,
        )
        for name, tensor in self._tensors().items():  # trusted state: no re-validation
            setattr(out, name, tensor.clone())
        return out

    def merge(self, other: ClassStats) -> ClassStats:
        """Add the rows accumulated by ``other`` (unchanged) into ``self``; returns ``self``.

        The result equals one pass over both sets of rows (exactly, up to float64 rounding).
        """
        theirs = self._check_mergeable(other).copy().to(self.device)
        target = torch.where((self.counts > 0)[:, None], self.shift, theirs.shift)
        theirs._reshift(target)
        self.shift = target
        self.counts += theirs.counts
        self.resid_sum += theirs.resid_sum
        self.resid_sq += theirs.resid_sq
        self.scatter += theirs.scatter
        return self

    def all_reduce(self, group: Any = None) -> ClassStats:
        """Sum the state over every process of ``torch.distributed`` (in place); returns ``self``.

        Call once, after the last local ``update``: afterwards every rank holds the statistics of
        all rows. Shifts differ between ranks, so each rank first re-expresses its state relative
        to the global class means (exact), then one packed SUM all-reduce combines them. A no-op
        when torch.distributed is not initialised.
        """
        if not distributed_active():
            return self
        import torch.distributed as dist

        from collapsekit.stats._class_axis import global_class_means

        counts, global_mean = global_class_means(self.counts, self.resid_sum, self.shift, group)
        self._reshift(global_mean)
        k, d = self.num_classes, self.dim
        packed = torch.cat([self.resid_sum.flatten(), self.resid_sq, self.scatter.flatten()])
        dist.all_reduce(packed, group=group)
        self.resid_sum = packed[: k * d].view(k, d).clone()
        self.resid_sq = packed[k * d : k * d + k].clone()
        self.scatter = packed[k * d + k :].view(d, d).clone()
        self.counts = counts
        return self

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: tensors (cloned) and the options."""
        state = super().state_dict()
        state["global_mean"] = self.global_mean
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a state written by :meth:`state_dict` (exact round trip), all or nothing.

        Everything is validated before anything is replaced: the keys, ``version``,
        ``num_classes``/``dim``, ``global_mean`` in {'class', 'sample'}, each tensor's shape
        and dtype kind, finite values, integer non-negative counts, non-negative residual
        square sums and a symmetric positive semi-definite scatter (within float64 round-off).
        A ValueError or TypeError names the first problem and leaves this object unchanged.
        """
        validated = self._validated_state(state)
        for name, tensor in validated.items():
            if name != "global_mean":
                setattr(self, name, tensor)
        self.global_mean = validated_global_mean(state.get("global_mean", self.global_mean))

    def _validated_state(self, state: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        if not isinstance(state, Mapping):
            raise TypeError(
                "state: expected a ClassStats.state_dict() mapping, received "
                f"{type(state).__name__}"
            )
        missing = {"counts", "shift", "resid_sum", "resid_sq", "scatter"} - set(state)
        if missing:
            raise ValueError(
                f"state: expected a ClassStats.state_dict(), missing keys {sorted(missing)}"
            )
        version = state.get("version")
        if isinstance(version, bool) or version != _STATE_VERSION:
            raise ValueError(
                f"state['version']: expected {_STATE_VERSION} (this collapsekit's format), "
                f"received {version!r}; write the state with a matching collapsekit version"
            )
        if (state.get("num_classes"), state.get("dim")) != (self.num_classes, self.dim):
            raise ValueError(
                f"state: expected num_classes={self.num_classes}, dim={self.dim}, received "
                f"num_classes={state.get('num_classes')}, dim={state.get('dim')}"
            )
        validated_global_mean(state.get("global_mean", self.global_mean))
        out: dict[str, torch.Tensor] = {}
        for name, ref in self._tensors().items():
            label = f"state[{name!r}]"
            t = as_tensor(state[name], label)
            if t.shape != ref.shape:
                raise ValueError(
                    f"{label}: expected shape {tuple(ref.shape)}, received {tuple(t.shape)}"
                )
            if t.dtype == torch.bool or t.dtype.is_complex:
                raise TypeError(f"{label}: expected a real numeric tensor, received {t.dtype}")
            if t.device.type == "meta":
                raise ValueError(f"{label}: expected values, received a 'meta' tensor")
            t64 = t.detach().to(device="cpu", dtype=torch.float64)
            if not bool(torch.isfinite(t64).all()):
                raise ValueError(f"{label}: expected finite values, received NaN or Inf")
            if name == "counts":
                if bool((t64 < 0).any()) or bool((t64 != t64.round()).any()):
                    raise ValueError(
                        f"{label}: expected non-negative integer row counts, received "
                        f"{t64[(t64 < 0) | (t64 != t64.round())][:3].tolist()}"
                    )
            elif name == "resid_sq":
                # a sum of squares: negative only by round-off
                if bool((t64 < 0).any()):
                    raise ValueError(f"{label}: expected sums of squares >= 0, received negatives")
            elif name == "scatter":
                _check_scatter(t64, label)
            out[name] = t.detach().to(device=self.device, dtype=ref.dtype).clone()
        return out

    # ------------------------------------------------------------------ derived moments
    def _require_classes(self, minimum: int = 2) -> torch.Tensor:
        present = torch.nonzero(self.counts > 0).flatten()
        if present.numel() < minimum:
            raise ValueError(
                f"labels: expected rows from at least {minimum} classes, received "
                f"{present.numel()} non-empty class(es) over {self.num_samples} row(s); "
                "class-separation statistics need two or more classes"
            )
        return present

    def present_classes(self) -> torch.Tensor:
        """Indices of the classes that received at least one row."""
        return torch.nonzero(self.counts > 0).flatten()

    def class_means(self) -> torch.Tensor:
        """Float64 means of the non-empty classes (rows ordered as :meth:`present_classes`)."""
        p = self.present_classes()
        n = self.counts[p].double()[:, None]
        return self.shift[p].double() + self.resid_sum[p] / n

    def global_mean_vector(self) -> torch.Tensor:
        """mu_G: mean of class means (``global_mean='class'``) or the sample mean."""
        means = self.class_means()
        if means.shape[0] == 0:
            raise ValueError("labels: no rows have been accumulated yet; call update() first")
        if self.global_mean == "class":
            return means.mean(0)
        n = self.counts[self.present_classes()].double()
        return (n[:, None] * means).sum(0) / n.sum()

    def within_scatter(self) -> torch.Tensor:
        """sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T in float64 (D x D)."""
        p = self.present_classes()
        r = self.resid_sum[p]
        return self.scatter - (r / self.counts[p].double()[:, None]).T @ r

    def within_cov(self) -> torch.Tensor:
        """Sigma_W = within_scatter / N."""
        return self.within_scatter() / max(self.num_samples, 1)

    def between_cov(self, weighting: Literal["class", "sample"] = "class") -> torch.Tensor:
        """Sigma_B = M~^T M~ / K (``weighting='class'``, the contract) or
        sum_c (n_c/N)(mu_c - mu)(mu_c - mu)^T with the sample mean (``'sample'``)."""
        means = self.class_means()
        if weighting == "class":
            centred = means - self.global_mean_vector()
            return centred.T @ centred / means.shape[0]
        n = self.counts[self.present_classes()].double()
        centred = means - (n[:, None] * means).sum(0) / n.sum()
        return (centred * (n / n.sum())[:, None]).T @ centred

    def total_cov(self) -> torch.Tensor:
        """Sigma_T = (1/N) sum_i (h_i - mean)(h_i - mean)^T = Sigma_W + Sigma_B('sample')."""
        return self.within_cov() + self.between_cov("sample")

    def class_sq_deviation(self) -> torch.Tensor:
        """sum_{i in c} ||h_i - mu_c||^2 for each non-empty class (float64)."""
        p = self.present_classes()
        r = self.resid_sum[p]
        out = self.resid_sq[p] - r.square().sum(1) / self.counts[p].double()
        return out.clamp_min(0.0)

    def class_variances(self) -> torch.Tensor:
        """var_c = (1/n_c) sum_{i in c} ||h_i - mu_c||^2 (Galanti et al. 2021)."""
        return self.class_sq_deviation() / self.counts[self.present_classes()].double()

    # ------------------------------------------------------------------ metrics
    def neural_collapse(
        self,
        weights: Any = None,
        ood_mean: Any = None,
        ncc_agreement: float | None = None,
    ) -> dict[str, float]:
        """The neural-collapse metrics (docs/metrics.md) from the streamed state.

        ``weights`` (num_classes x D) adds ``self_duality``; ``ood_mean`` (D,) adds
        ``ood_orthogonality``; ``ncc_agreement`` is passed through from a second pass
        (:meth:`ncc_counter`). Keys whose inputs are missing are left out.
        """
        from collapsekit.functional.neural_collapse import neural_collapse_from_moments

        present = self._require_classes(2)
        w = None
        if weights is not None:
            w = check_features(weights, "weights", self.dim, self.device)
            if w.shape[0] != self.num_classes:
                raise ValueError(
                    f"weights: expected one row per class ({self.num_classes} x {self.dim}), "
                    f"received shape {tuple(w.shape)}"
                )
            w = w[present]
        ood = None
        if ood_mean is not None:
            ood = as_tensor(ood_mean, "ood_mean", self.device).double().flatten()
            if ood.numel() != self.dim:
                raise ValueError(
                    f"ood_mean: expected a vector of length {self.dim}, received {ood.numel()}"
                )
            if not bool(torch.isfinite(ood).all()):
                raise ValueError(
                    "ood_mean: expected finite values, received NaN or Inf; compute it from "
                    "finite out-of-distribution rows"
                )
        out = neural_collapse_from_moments(
            means=self.class_means(),
            counts=self.counts[present],
            within_scatter=self.within_scatter(),
            class_sq_deviation=self.class_sq_deviation(),
            global_mean=self.global_mean_vector(),
            weights=w,
            ood_mean=ood,
            rtol=self.rtol,
            tile_bytes=self.tile_bytes,
        )
        if ncc_agreement is not None:
            out["ncc_agreement"] = float(ncc_agreement)
        return out

    def ncc_counter(self, weights: Any, bias: Any = None) -> NCCAgreement:
        """A second-pass accumulator of NC4 agreement using this state's final class means."""
        from collapsekit.stats.ncc_agreement import NCCAgreement

        self._require_classes(2)
        return NCCAgreement(
            class_means=self.class_means(),
            class_ids=self.present_classes(),
            weights=weights,
            bias=bias,
            center=self.global_mean_vector(),
        )

    # ------------------------------------------------------------------ class axis
    def remap_classes(self, mapping: Any, num_classes: int) -> ClassStats:
        """Move class ``i`` to id ``mapping[i]`` in a state of ``num_classes`` classes
        (in place; grows or relabels, exactly); returns ``self``.

        Used by :class:`collapsekit.Analyzer` to grow as new labels arrive and to align the
        class ids of two states before :meth:`merge` or :meth:`all_reduce`.
        """
        from collapsekit.stats._class_axis import remap_class_rows

        m = torch.as_tensor(mapping, dtype=torch.long, device=self.device)
        k = check_positive_int(num_classes, "num_classes")
        if m.shape != (self.num_classes,) or (
            m.numel() and (int(m.min()) < 0 or int(m.max()) >= k)
        ):
            raise ValueError(
                f"mapping: expected {self.num_classes} distinct ids in [0, {k}), received "
                f"shape {tuple(m.shape)}"
            )
        if torch.unique(m).numel() != m.numel():
            raise ValueError("mapping: expected distinct target ids, received duplicates")
        self.counts = remap_class_rows(self.counts, m, k)
        self.shift = remap_class_rows(self.shift, m, k)
        self.resid_sum = remap_class_rows(self.resid_sum, m, k)
        self.resid_sq = remap_class_rows(self.resid_sq, m, k)
        self.num_classes = k
        return self
