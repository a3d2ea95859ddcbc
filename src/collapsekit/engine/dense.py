"""The dense-label pass of ``Analyzer(num_classes=K)``: a vocabulary of integer labels
``0..K-1`` known in advance, accumulated without a host round-trip per batch.

The default pass reads values back to the host on every batch, which is what lets it refuse a
bad batch whole before anything changes:

* ``finite_and_wide_enough``: ``aminmax`` read back (finiteness, the float64 widening);
* ``LabelEncoder.encode``: ``torch.unique`` (its size), ``.cpu()`` and ``.tolist()`` of the
  new label values, Python dictionary work;
* ``ClassStats``: ``torch.unique_consecutive`` (its size), the new classes' boolean index
  (its size), ``bool(...)`` of the finiteness check;
* ``UnitVectorMoments``: ``torch.unique_consecutive`` per chunk (its row counts are device
  tensors);
* ``grow``: the class axis widened as labels arrive;
* ``PerClassScatter`` (within the memory budget, small K): its own class segments.

Here none of them runs. The labels are the class ids (no encoder work; K fixed, so no
growth); each batch's validity is computed on the device: a row with NaN/Inf and a label
outside ``0..K-1`` (and float32 rows whose sum overflows, entries beyond about 1e35; with
``precision='float32'``, rows whose norm passes 2^48, about 2.8e14) are left
out of every statistic by masks (no filtering, whose size would be
read back) and counted in a device tensor. The check is **deferred**: ``compute()`` and
``exact_metrics()`` read the counts once and raise ValueError when any row was left out,
naming how many and why. The statistics of the other rows are intact (exact), so nothing
valid is lost, but no report is made of a stream that held bad rows, as the default pass
would have refused their batches.

What still reads back: nothing per batch on the class statistics and unit sums of an
accelerator. On the CPU, where reading back costs nothing, a batch whose rows are all valid
(one read of the mask) takes the default pass's cheaper route (class segments, no masks);
a batch with bad rows is masked as on an accelerator. The row
sample (``RowReservoir``) draws its keys on the host from the rows' positions (not their
values) and copies the chosen row indices to the device without waiting. The per-class
scatters are not kept (``exact_per_class`` is ignored: at vocabulary scale they exceed any
budget; per-class ranks come from the sample).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from collapsekit._validation import check_features
from collapsekit.stats.class_batch import FLOAT32_PRODUCTS_PEAK

if TYPE_CHECKING:  # annotations only
    from collapsekit.engine.analyzer import Analyzer


#: Devices where reading a value back to the host costs nothing (the CPU): a batch whose rows
#: are all valid takes the default pass's route there. Tests empty it to run the
#: accelerator's path (masks, no read back) on CPU tensors.
FREE_READ_BACK = {"cpu"}


def dense_labels(labels: Any, n_rows: int, device: torch.device) -> torch.Tensor:
    """``labels`` as a long tensor of ``n_rows`` ids on ``device`` (shape and dtype checked on
    the host from metadata only; the values are checked later, on the device).

    Example:
        >>> dense_labels([2, 0, 1], 3, torch.device("cpu")).tolist()
        [2, 0, 1]
    """
    if labels is None:
        raise ValueError(
            "labels: expected integer labels 0..K-1 with every batch (num_classes=K was "
            "given), received None"
        )
    y = labels.detach() if isinstance(labels, torch.Tensor) else torch.as_tensor(labels)
    if y.dim() == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.dim() != 1 or y.shape[0] != n_rows:
        raise ValueError(
            f"labels: expected a 1-D tensor of {n_rows} labels (one per feature row), received "
            f"shape {tuple(y.shape)}"
        )
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise TypeError(
            f"labels: expected integer class ids 0..K-1 (num_classes=K), received dtype "
            f"{y.dtype}; pass labels.long(), or use Analyzer() without num_classes"
        )
    return y.to(device=device, dtype=torch.long, non_blocking=True)


def dense_update(a: Analyzer, features: Any, labels: Any, reference: Any) -> None:
    """One batch of ``Analyzer(num_classes=K).update``: see the module docstring."""
    from collapsekit.engine.budget import check_class_memory
    from collapsekit.engine.state import started

    if reference is not None:
        raise ValueError(
            "reference: expected None with num_classes=K (the dense-label pass keeps no cross "
            "moments), received a reference batch; use Analyzer() without num_classes for CKA"
        )
    x = check_features(features, "features", a.dim, a.device, min_rows=0, check_finite=False)
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    y = dense_labels(labels, x.shape[0], x.device)
    if a.class_stats is None:
        if x.shape[0] == 0:
            return
        check_class_memory(a.encoder.num_classes, x.shape[1])
        a._start(x, True, None)
        a.per_class, a.per_class_pending = None, False
        a.per_class_note = (
            "per-class effective ranks from the row sample (num_classes=K: no per-class "
            "scatters at vocabulary scale)"
        )
    _, class_stats, units = started(a)
    if x.shape[0] == 0:
        return
    k = class_stats.num_classes
    label_ok = (y >= 0) & (y < k)
    # a row's sum is finite when every entry is (and its sum does not overflow: rows beyond
    # ~1e35 count as non-finite; ``sum(dtype=float64)`` of float32 rows is ~10x slower)
    if a.precision == "float32" and x.dtype == torch.float32:
        # float32 products: rows whose norm passes 2^48 could overflow them (one pass too)
        row_ok = torch.linalg.vector_norm(x, dim=1) <= FLOAT32_PRODUCTS_PEAK
    else:
        row_ok = torch.isfinite((x if x.dtype == torch.float32 else x.square()).sum(dim=1))
    keep = label_ok & row_ok
    bad = torch.stack([(~row_ok).sum(), (~label_ok).sum(), (~keep).sum()])
    a.invalid = bad if a.invalid is None else a.invalid + bad
    mask: torch.Tensor | None = keep
    if x.device.type in FREE_READ_BACK and bool(keep.all()):
        mask = None  # a host read costs nothing on the CPU: no masks, the default pass's route
    else:
        y = torch.where(keep, y, 0)
        x = x.masked_fill(~keep[:, None], 0.0)
    class_stats.update_checked(x, y, mask)
    units.update(x, y, keep=mask)
    a.reservoir.update(x, y)
    a.n_rows += x.shape[0]


def check_deferred(a: Analyzer) -> None:
    """Raise ValueError when the dense-label pass left rows out (one host read).

    Example:
        >>> from collapsekit import Analyzer
        >>> a = Analyzer(num_classes=3)
        >>> a.update(torch.tensor([[1.0, 0.0], [float("nan"), 1.0], [0.0, 1.0]]),
        ...          torch.tensor([0, 1, 7]))
        >>> check_deferred(a)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: features: expected finite rows with labels in 0..2 (num_classes=3), ...
    """
    if a.invalid is None:
        return
    nonfinite, out_of_range, _ = (int(v) for v in a.invalid.tolist())
    if nonfinite or out_of_range:
        k = a.encoder.num_classes
        raise ValueError(
            f"features: expected finite rows with labels in 0..{k - 1} (num_classes={k}), "
            f"received {nonfinite} row(s) with NaN/Inf{_float32_bound(a)} and {out_of_range} "
            f"label(s) out of range over the stream; they were left out of the statistics as "
            f"they arrived (the deferred check of num_classes=K) and no report is made; drop "
            f"them before update(), or use Analyzer() without num_classes to refuse each bad "
            f"batch whole"
        )


def _float32_bound(a: Analyzer) -> str:
    """The row bound of the float32 mode, for the deferred error message."""
    if a.precision != "float32":
        return ""
    return (
        f" or a norm above {FLOAT32_PRODUCTS_PEAK:.1e} (precision='float32' forms products "
        "in float32; precision='float64' takes them)"
    )
