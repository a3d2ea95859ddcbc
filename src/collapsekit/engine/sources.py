"""What ``analyze()`` accepts as a source, turned into batches ``(features, labels, reference)``.

* an in-memory matrix (tensor, numpy array or memmap, h5py dataset, anything 2-D with
  ``shape`` and row slicing) with parallel ``labels`` / ``reference``: read in slices, and
  re-readable, so the second pass is exact;
* a re-iterable of batches (a list, a ``DataLoader``): each ``iter()`` starts again;
* a zero-argument callable returning a fresh iterator of batches;
* a one-shot iterator or generator: one pass, the rest from the row sample.

A batch is ``x``, ``(x,)``, ``(x, y)``, ``(x, y, reference)`` or a dict with
``features``/``embeddings``/``x``, ``labels``/``label``/``y`` and ``reference``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

Batch = tuple[Any, Any, Any]


@dataclass
class BatchSource:
    """``batches()`` starts a pass; ``reiterable`` says whether a second pass is possible;
    ``rows`` is the row count when known up front."""

    batches: Callable[[], Iterator[Batch]]
    reiterable: bool
    rows: int | None


def _is_matrix(obj: Any) -> bool:
    shape = getattr(obj, "shape", None)
    return shape is not None and hasattr(obj, "__getitem__") and len(tuple(shape)) >= 1


def _looks_like_row_list(obj: Any) -> bool:
    """A nested list of numbers (a matrix written as lists), as opposed to a list of batches."""
    if not isinstance(obj, list | tuple) or not obj:
        return False
    first = obj[0]
    if isinstance(first, list | tuple) and first:
        return isinstance(first[0], int | float | np.number) and not isinstance(first[0], bool)
    return False


def split_batch(batch: Any) -> Batch:
    """``(features, labels, reference)`` of one batch (see the module docstring)."""
    if isinstance(batch, Mapping):
        x = next((batch[k] for k in ("features", "embeddings", "x") if k in batch), None)
        if x is None:
            raise ValueError(
                "source: expected each dict batch to hold 'features' (or 'embeddings' / 'x'), "
                f"received keys {sorted(map(str, batch))}"
            )
        y = next((batch[k] for k in ("labels", "label", "y") if k in batch), None)
        return x, y, batch.get("reference")
    if isinstance(batch, tuple | list):
        if not 1 <= len(batch) <= 3:
            raise ValueError(
                "source: expected batches of (features,), (features, labels) or (features, "
                f"labels, reference), received a sequence of {len(batch)} items"
            )
        padded = [*batch, None, None]
        return padded[0], padded[1], padded[2]
    if isinstance(batch, torch.Tensor | np.ndarray):
        return batch, None, None
    raise TypeError(
        "source: expected batches of (features, labels) tuples, dicts or feature tensors, "
        f"received {type(batch).__name__}"
    )


def _slice(obj: Any, lo: int, hi: int) -> Any:
    return None if obj is None else obj[lo:hi]


def batch_source(
    source: Any, labels: Any = None, reference: Any = None, batch_size: int = 65_536
) -> BatchSource:
    """Wrap any accepted source (see the module docstring)."""
    if _looks_like_row_list(source):
        source = np.asarray(source)
    if isinstance(labels, list | tuple):
        labels = np.asarray(labels)
    if isinstance(reference, list | tuple):
        reference = np.asarray(reference)
    if _is_matrix(source):
        shape = tuple(source.shape)
        if len(shape) != 2:
            raise ValueError(
                f"features: expected a 2-D array of shape (N, D), received shape {shape}; "
                "flatten the spatial/token dimensions or pool them first (e.g. x.flatten(1))"
            )
        n = int(shape[0])
        for name, other in (("labels", labels), ("reference", reference)):
            length = None if other is None else len(other)
            if length is not None and length != n:
                raise ValueError(
                    f"{name}: expected one {name.rstrip('s') if name == 'labels' else 'row'} "
                    f"per feature row ({n}), received {length}"
                )

        def slices() -> Iterator[Batch]:
            for lo in range(0, n, batch_size):
                hi = min(n, lo + batch_size)
                yield source[lo:hi], _slice(labels, lo, hi), _slice(reference, lo, hi)

        return BatchSource(slices, True, n)
    if labels is not None or reference is not None:
        raise ValueError(
            "labels: expected labels inside the batches when the source is an iterable of "
            "batches ((features, labels) tuples), received a separate labels argument"
        )
    if callable(source) and not isinstance(source, Iterable):
        factory = source

        def fresh() -> Iterator[Batch]:
            return (split_batch(b) for b in factory())

        return BatchSource(fresh, True, None)
    if isinstance(source, Iterable):
        reiterable = iter(source) is not source

        def passes() -> Iterator[Batch]:
            return (split_batch(b) for b in source)

        return BatchSource(passes, reiterable, None)
    raise TypeError(
        "features: expected a tensor or array (N x D), an iterable of (features, labels) "
        f"batches, or a callable returning one; received {type(source).__name__}"
    )
