"""How one batch of rows enters the class moments of
:class:`~collapsekit.stats.class_stats.ClassStats` (the mixin :class:`BatchAccumulation`).

Per batch: one stable sort of the labels (each class a contiguous segment), the shifts of the
classes seen for the first time, then the residuals ``e_i = h_i - s_{y_i}``, their per-class
sums and squares and the pooled scatter ``sum_i e_i e_i^T``:

* float64 (the default): the residuals formed in float64, where the difference of two float32
  values is exact, squared, summed and multiplied in float64 chunk by chunk; nothing is
  rounded to float32 (:meth:`BatchAccumulation._add_rows`);
* ``precision='float32'``: the batch worked in float32, five passes beside one float32 Gram
  product, added into the float64 state batch by batch
  (:meth:`BatchAccumulation._add_rows_float32`).

Everything is checked before the state changes: a batch with a NaN row, or whose float64
squares overflow, is refused whole.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch

from collapsekit._validation import raise_nonfinite_rows
from collapsekit.stats._gram import add_gram_
from collapsekit.stats._workspace import Workspace

Precision = Literal["float64", "float32"]
#: Largest float32 entry whose squares and products ``precision='float32'`` forms in float32
#: (2^48: a 2^49 residual squared, summed over 2^17 rows of a batch and 2^24 dimensions, stays
#: below float32's 2^128); rows beyond it are accumulated in float64.
FLOAT32_PRODUCTS_PEAK = 2.0**48


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


def column_sums(m: torch.Tensor, run: int = 32) -> torch.Tensor:
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
class Segments:
    """One batch's classes as segments of the label-sorted rows, and the shifts of its new
    classes before they were set (to restore when the batch is refused)."""

    order: torch.Tensor
    present: torch.Tensor
    counts: torch.Tensor
    new_ids: torch.Tensor
    old_shift: torch.Tensor | None

    def sums(self, rows: torch.Tensor) -> torch.Tensor:
        """Each present class's sum of ``rows`` (one row per label; ``embedding_bag`` sums
        each segment of the sorted rows without an N x D index tensor), in ``rows``' dtype."""
        starts = self.counts.cumsum(0) - self.counts
        return torch.nn.functional.embedding_bag(self.order, rows, starts, mode="sum")


class BatchAccumulation:
    """The per-batch accumulation of :class:`~collapsekit.stats.class_stats.ClassStats`
    (a mixin: the state below is created by its constructor)."""

    dim: int
    chunk_size: int
    precision: Precision
    counts: torch.Tensor
    shift: torch.Tensor
    resid_sum: torch.Tensor
    resid_sq: torch.Tensor
    scatter: torch.Tensor
    _workspace: Workspace

    @property
    def device(self) -> torch.device:
        return self.counts.device

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
        seg = Segments(
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

    def _restore_shifts(self, seg: Segments) -> None:
        if seg.old_shift is not None:
            self.shift.index_copy_(0, seg.new_ids, seg.old_shift)  # the state is left untouched

    def _accumulate_float64(self, x: torch.Tensor, y: torch.Tensor, seg: Segments) -> None:
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
        # validated: commit
        self.counts.index_add_(0, seg.present, seg.counts)
        self.resid_sum.index_add_(0, seg.present, seg.sums(resid))
        self.resid_sq.index_put_((y,), row_sq, accumulate=True)
        for chunk, chunk_sq in zip(
            resid.split(self.chunk_size), squares.split(self.chunk_size), strict=True
        ):
            # torch's cascade column sums set the diagonal (BLAS accumulates left to right, a
            # rounding biased on residuals with few significant bits)
            add_gram_(self.scatter, chunk, diagonal=chunk_sq.sum(dim=0))

    def _accumulate_exact(
        self, x: torch.Tensor, y: torch.Tensor, seg: Segments, checked: bool = False
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
        if not checked:
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
        seg: Segments | None = None,
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
        seg: Segments | None,
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
        diagonal = column_sums(squares)
        if seg is not None:
            self.resid_sum.index_add_(0, seg.present, seg.sums(resid).double())
        else:
            for lo in range(0, b, self.chunk_size):
                part = resid[lo : lo + self.chunk_size]
                wide = ws.get("resid64", part.shape, torch.float64, dev).copy_(part)
                self.resid_sum.index_put_((y[lo : lo + self.chunk_size],), wide, accumulate=True)
        add_gram_(self.scatter, resid, diagonal=diagonal)
