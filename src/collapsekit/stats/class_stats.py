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

from collections.abc import Mapping
from typing import Any, Literal

import torch

from collapsekit._threads import small_work_threads
from collapsekit._validation import (
    accumulation_dtype,
    check_features,
    check_labels,
    check_nonnegative_float,
    check_positive_int,
)
from collapsekit.stats._accumulator import distributed_active
from collapsekit.stats._tensor_state import TensorState
from collapsekit.stats._workspace import Workspace
from collapsekit.stats.class_batch import (
    BatchAccumulation,
    Precision,
    full_precision_matmul,
)
from collapsekit.stats.class_queries import ClassQueries
from collapsekit.stats.class_state import STATE_VERSION, validated_class_state

GlobalMean = Literal["class", "sample"]
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


class ClassStats(BatchAccumulation, ClassQueries, TensorState):
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
    _STATE_VERSION = STATE_VERSION

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
        validated = validated_class_state(self, state)
        global_mean = validated_global_mean(state.get("global_mean", self.global_mean))
        for name, tensor in validated.items():
            setattr(self, name, tensor)
        self.global_mean = global_mean

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
