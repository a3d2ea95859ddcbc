"""A seeded, split-invariant, mergeable uniform sample of rows (for the metrics that need
rows: the probe, uniformity, and per-row metrics when the source cannot be read twice)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from collapsekit.stats._accumulator import check_mergeable, distributed_active
from collapsekit.stats._tensor_state import require_keys, state_check, state_count, state_tensor

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def row_keys(seed: int, stream: int, start: int, count: int) -> torch.Tensor:
    """Pseudo-random keys in [0, 1) for rows ``start .. start+count-1`` of stream ``stream``
    (splitmix64 of the row's position): the same row gets the same key however the rows are
    batched, so the sample does not depend on the batch split.

    Example:
        >>> a = row_keys(0, 0, 0, 6)
        >>> bool((a == torch.cat([row_keys(0, 0, 0, 2), row_keys(0, 0, 2, 4)])).all())
        True
    """
    with np.errstate(over="ignore"):
        base = np.uint64(
            (seed * 0x9E3779B97F4A7C15 + stream * 0xD1B54A32D192ED03) & 0xFFFFFFFFFFFFFFFF
        )
        z = (
            np.arange(start, start + count, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15) + base
        ) & _MASK
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
        z = z ^ (z >> np.uint64(31))
    return torch.from_numpy((z >> np.uint64(11)).astype(np.float64) / float(1 << 53))


def _stored_dtype(t: torch.Tensor) -> torch.dtype:
    return torch.float64 if t.dtype == torch.float64 else torch.float32


class RowReservoir:
    """Keeps the ``capacity`` rows with the smallest keys (:func:`row_keys`): a uniform random
    sample without replacement, identical for any batch split, and exact to merge (keep the
    smallest keys of the union).

    Rows are stored in float32 (float64 input stays float64) with their dense labels and, when
    given, their paired reference rows; they are read back in the order they arrived (merged
    samples: this one's rows first), whatever the batch split.

    Cost per batch: the new rows' keys, their threshold against the held keys (a selection
    over ``capacity + batch`` numbers), and a copy of only the rows that enter the sample,
    written over the rows they displace (no re-copy of the held sample); the arrival order is
    restored once, when the rows are read.

    Example:
        >>> import torch
        >>> r = RowReservoir(capacity=3, seed=0)
        >>> r.update(torch.arange(10.0)[:, None], torch.zeros(10, dtype=torch.long))
        >>> r.rows.shape, r.seen
        (torch.Size([3, 1]), 10)
    """

    def __init__(self, capacity: int, seed: int = 0, stream: int = 0) -> None:
        self.capacity, self.seed, self.stream = capacity, seed, stream
        self.seen = 0
        self._clear()

    def _clear(self) -> None:
        # buffers: the first ``_size`` entries are held; ``_order`` is each one's arrival rank
        self._rows: torch.Tensor | None = None
        self._labels: torch.Tensor | None = None
        self._reference: torch.Tensor | None = None
        self._keys = torch.zeros(0, dtype=torch.float64)
        self._order = torch.zeros(0, dtype=torch.long)
        self._size = 0
        self._next = 0
        self._in_order = True

    # ------------------------------------------------------------------ held rows
    @property
    def size(self) -> int:
        return self._size

    def _arrange(self) -> None:
        """Put the held rows back in arrival order (after rows were written over others)."""
        if self._in_order:
            return
        n = self._size
        perm = torch.argsort(self._order[:n])
        self._keys[:n] = self._keys[:n][perm]
        self._order[:n] = self._order[:n][perm]
        for t in (self._rows, self._labels, self._reference):
            if t is not None:
                t[:n] = t[:n].index_select(0, perm.to(t.device))
        self._in_order = True

    def _held(self, t: torch.Tensor | None) -> torch.Tensor | None:
        self._arrange()
        return None if t is None else t[: self._size]

    @property
    def rows(self) -> torch.Tensor | None:
        return self._held(self._rows)

    @property
    def labels(self) -> torch.Tensor | None:
        return self._held(self._labels)

    @property
    def reference(self) -> torch.Tensor | None:
        return self._held(self._reference)

    @property
    def keys(self) -> torch.Tensor:
        self._arrange()
        return self._keys[: self._size]

    @keys.setter
    def keys(self, value: torch.Tensor) -> None:
        self._arrange()
        self._keys[: self._size] = value

    # ------------------------------------------------------------------ accumulation
    def update(
        self, rows: torch.Tensor, labels: torch.Tensor, reference: torch.Tensor | None = None
    ) -> None:
        n = rows.shape[0]
        keys = row_keys(self.seed, self.stream, self.seen, n)
        self.seen += n
        if n == 0:
            return
        self._insert(keys, rows, labels, reference)

    def _insert(
        self,
        keys: torch.Tensor,
        rows: torch.Tensor,
        labels: torch.Tensor,
        reference: torch.Tensor | None,
    ) -> None:
        """Add the candidates (``keys`` with their rows) that make the cut: the ``capacity``
        smallest keys of the held and the new ones. Rows are kept in float32 (float64 stays
        float64), in the dtype of the first rows held."""
        size, cap = self._size, self.capacity
        held = self._keys[:size]
        if size + keys.numel() <= cap:
            enter = torch.arange(keys.numel())
            slots = torch.arange(size, size + keys.numel())
            keep_size = size + keys.numel()
        else:
            threshold = float(torch.kthvalue(torch.cat([held, keys]), cap).values)
            keep = held <= threshold
            need = cap - int(keep.sum())
            enter = torch.nonzero(keys <= threshold).flatten()
            if enter.numel() > need:  # equal keys at the threshold: the smallest first
                enter = enter[torch.topk(keys[enter], need, largest=False).indices].sort().values
            if not need:
                return
            # displaced held rows first, then the free slots at the end
            slots = torch.cat([torch.nonzero(~keep).flatten(), torch.arange(size, cap)])
            if bool((slots < size).any()):
                self._in_order = False
            keep_size = cap
        self._reserve(keep_size, rows, labels, reference)
        assert self._rows is not None and self._labels is not None
        # host indices to the rows' device without waiting for it (no host round-trip on a GPU)
        dev_enter = enter.to(rows.device, non_blocking=True)
        self._keys[slots] = keys[enter]
        self._order[slots] = self._next + torch.arange(enter.numel())
        self._next += int(enter.numel())
        # in the held rows' dtype (set by the first batch), whatever this batch's
        dev_slots = slots.to(self._rows.device, non_blocking=True)
        self._rows[dev_slots] = rows.index_select(0, dev_enter).to(self._rows)
        lab = labels.index_select(0, enter.to(labels.device, non_blocking=True))
        self._labels[slots.to(self._labels.device, non_blocking=True)] = lab.to(self._labels.device)
        if self._reference is not None and reference is not None:
            picked = reference.index_select(0, enter.to(reference.device))
            self._reference[slots.to(self._reference.device)] = picked.to(self._reference)
        self._size = keep_size

    def _reserve(
        self, size: int, rows: torch.Tensor, labels: torch.Tensor, reference: torch.Tensor | None
    ) -> None:
        """Buffers for at least ``size`` rows (grown geometrically up to ``capacity``)."""
        have = self._keys.numel()
        if self._rows is not None and size <= have:
            return
        length = min(self.capacity, max(size, 2 * have))

        def grown(old: torch.Tensor | None, like: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
            device = like.device if old is None else old.device
            dtype = dtype if old is None else old.dtype
            out = torch.empty((length, *like.shape[1:]), dtype=dtype, device=device)
            if old is not None:
                out[: self._size] = old[: self._size]
            return out

        self._rows = grown(self._rows, rows, _stored_dtype(rows))
        self._labels = grown(self._labels, labels, torch.long)
        if reference is not None and (self._reference is not None or self._size == 0):
            self._reference = grown(self._reference, reference, _stored_dtype(reference))
        keys = torch.zeros(length, dtype=torch.float64)
        keys[: self._size] = self._keys[: self._size]
        order = torch.zeros(length, dtype=torch.long)
        order[: self._size] = self._order[: self._size]
        self._keys, self._order = keys, order

    def remap_classes(self, mapping: torch.Tensor) -> RowReservoir:
        if self._labels is not None:
            held = self._labels[: self._size]
            held.copy_(mapping.to(held.device)[held])
        return self

    def merge(self, other: RowReservoir) -> RowReservoir:
        """Union of both samples, cut to the smallest keys (``other`` must use another stream
        or other rows: equal keys would mean the same rows)."""
        check_mergeable(self, other, ())
        rows, labels = other.rows, other.labels
        if rows is not None and labels is not None and other.size:
            self._insert(other.keys.clone(), rows, labels, other.reference)
        self.seen += other.seen
        return self

    def all_gather(self, group: Any = None) -> RowReservoir:
        """Every process ends with the same sample of all processes' rows."""
        if not distributed_active():
            return self
        import torch.distributed as dist

        mine = {
            k: (v.cpu() if isinstance(v, torch.Tensor) else v) for k, v in self.state_dict().items()
        }
        gathered: list[Any] = [None] * dist.get_world_size(group)
        dist.all_gather_object(gathered, mine, group=group)
        rank = dist.get_rank(group)
        device = self.rows.device if self.rows is not None else torch.device("cpu")
        fresh = RowReservoir(self.capacity, self.seed, self.stream)
        for i, state in enumerate(gathered):
            part = RowReservoir(self.capacity, self.seed, i)
            part.load_state_dict(state)
            fresh.merge(part)
        self.load_state_dict(fresh.state_dict())
        if self._rows is not None and self._labels is not None:
            self._rows, self._labels = self._rows.to(device), self._labels.to(device)
            if self._reference is not None:
                self._reference = self._reference.to(device)
        del rank
        return self

    def all_reduce(self, group: Any = None) -> RowReservoir:
        """The reservoir's reduction: :meth:`all_gather` (every process keeps the same sample
        of all processes' rows); a no-op when torch.distributed is not initialised."""
        return self.all_gather(group)

    def state_dict(self) -> dict[str, Any]:
        """The options, ``seen`` and the held keys, rows, labels and reference rows (cloned,
        in arrival order)."""
        return {
            "capacity": self.capacity,
            "seed": self.seed,
            "stream": self.stream,
            "seen": self.seen,
            "keys": self.keys.clone(),
            "rows": None if self.rows is None else self.rows.clone(),
            "labels": None if self.labels is None else self.labels.clone(),
            "reference": None if self.reference is None else self.reference.clone(),
        }

    def load_state_dict(self, state: Mapping[str, Any], num_classes: int | None = None) -> None:
        """Restore a :meth:`state_dict`, all or nothing: every key present, ``capacity`` >= 1,
        ``seen`` a count, keys in [0, 1) (one per held row, at most ``capacity`` and ``seen``
        of them), finite rows, labels non-negative integers (below ``num_classes`` when
        given) and reference rows paired with the rows. A ValueError names the first key at
        fault; nothing changes then."""
        keys_needed = ("capacity", "seed", "stream", "seen", "keys", "rows", "labels", "reference")
        require_keys(state, keys_needed, "RowReservoir")
        capacity = state_count(state, "capacity", at_least=1)
        lowest = -(2**63)  # seeds and streams may be any int64
        seed = state_count(state, "seed", at_least=lowest)
        stream = state_count(state, "stream", at_least=lowest)
        seen = state_count(state, "seen")
        keys = state_tensor(state, "keys", (None,))
        n = keys.numel()
        state_check(
            n <= min(capacity, seen),
            "keys",
            f"at most min(capacity, seen) = {min(capacity, seen)} held rows",
            n,
        )
        state_check(bool(((keys >= 0) & (keys < 1)).all()), "keys", "values in [0, 1)", "others")
        held = self._checked_rows(state, n, num_classes)
        self.capacity, self.seed, self.stream, self.seen = capacity, seed, stream, seen
        self._clear()
        if held is not None:
            self._rows, self._labels, self._reference = held
            self._keys, self._order = keys, torch.arange(n)
            self._size, self._next = n, n

    @staticmethod
    def _checked_rows(
        state: Mapping[str, Any], n: int, num_classes: int | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None:
        """(rows, labels, reference) of a state, checked against ``n`` held keys."""
        if state["rows"] is None:
            state_check(n == 0, "rows", f"{n} rows (one per key)", None)
            state_check(state["labels"] is None, "labels", "None (no rows held)", "labels")
            return None
        state_tensor(state, "rows", (n, None))
        labels = state_tensor(state, "labels", (n,), integer=True, nonnegative=True)
        if num_classes is not None and n:
            top = int(labels.max())
            state_check(top < num_classes, "labels", f"ids below {num_classes}", top)
        rows = torch.as_tensor(state["rows"]).detach().clone()
        reference = None
        if state["reference"] is not None:
            state_tensor(state, "reference", (n, None))
            reference = torch.as_tensor(state["reference"]).detach().clone()
        return rows, labels.to(rows.device), reference
