"""A seeded, split-invariant, mergeable uniform sample of rows (for the metrics that need
rows: the probe, uniformity, and per-row metrics when the source cannot be read twice)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

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


class RowReservoir:
    """Keeps the ``capacity`` rows with the smallest keys (:func:`row_keys`): a uniform random
    sample without replacement, identical for any batch split, and exact to merge (keep the
    smallest keys of the union).

    Rows are stored in float32 (float64 input stays float64) with their dense labels and, when
    given, their paired reference rows.

    Example:
        >>> import torch
        >>> r = RowReservoir(capacity=3, seed=0)
        >>> r.update(torch.arange(10.0)[:, None], torch.zeros(10, dtype=torch.long))
        >>> r.rows.shape, r.seen
        (torch.Size([3, 1]), 10)
    """

    def __init__(self, capacity: int, seed: int = 0, stream: int = 0) -> None:
        self.capacity, self.seed, self.stream = capacity, seed, stream
        self.rows: torch.Tensor | None = None
        self.labels: torch.Tensor | None = None
        self.reference: torch.Tensor | None = None
        self.keys = torch.zeros(0, dtype=torch.float64)
        self.seen = 0

    @property
    def size(self) -> int:
        return int(self.keys.numel())

    def update(
        self, rows: torch.Tensor, labels: torch.Tensor, reference: torch.Tensor | None = None
    ) -> None:
        n = rows.shape[0]
        keys = row_keys(self.seed, self.stream, self.seen, n)
        self.seen += n
        if n == 0:
            return
        store = torch.float64 if rows.dtype == torch.float64 else torch.float32
        if self.size >= self.capacity:
            keep = keys < float(self.keys.max())
            if not bool(keep.any()):
                return
            idx = torch.nonzero(keep).flatten()
        else:
            idx = torch.arange(n)
        dev_idx = idx.to(rows.device)
        self._absorb(
            keys[idx],
            rows.index_select(0, dev_idx).to(store),
            labels.index_select(0, dev_idx.to(labels.device)),
            None
            if reference is None
            else reference.index_select(0, dev_idx).to(
                torch.float64 if reference.dtype == torch.float64 else torch.float32
            ),
        )

    def _absorb(
        self,
        keys: torch.Tensor,
        rows: torch.Tensor,
        labels: torch.Tensor,
        reference: torch.Tensor | None,
    ) -> None:
        if self.rows is None:
            self.rows, self.labels, self.reference = rows, labels, reference
            self.keys = keys
        else:
            assert self.labels is not None
            self.keys = torch.cat([self.keys, keys])
            self.rows = torch.cat([self.rows, rows.to(self.rows.device, self.rows.dtype)])
            self.labels = torch.cat([self.labels, labels.to(self.labels.device)])
            if self.reference is not None and reference is not None:
                self.reference = torch.cat([self.reference, reference.to(self.reference)])
        if self.size > self.capacity:
            top = torch.topk(self.keys, self.capacity, largest=False).indices
            top = top.sort().values
            self.keys = self.keys[top]
            dev = top.to(self.rows.device)
            self.rows = self.rows.index_select(0, dev)
            self.labels = self.labels.index_select(0, dev.to(self.labels.device))
            if self.reference is not None:
                self.reference = self.reference.index_select(0, dev)

    def remap_classes(self, mapping: torch.Tensor) -> RowReservoir:
        if self.labels is not None:
            self.labels = mapping.to(self.labels.device)[self.labels]
        return self

    def merge(self, other: RowReservoir) -> RowReservoir:
        """Union of both samples, cut to the smallest keys (``other`` must use another stream
        or other rows: equal keys would mean the same rows)."""
        if other.rows is not None and other.labels is not None:
            self._absorb(other.keys.clone(), other.rows, other.labels, other.reference)
        self.seen += other.seen
        return self

    def all_gather(self, group: Any = None) -> RowReservoir:
        """Every process ends with the same sample of all processes' rows."""
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return self
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
        if self.rows is not None:
            self.rows = self.rows.to(device)
            assert self.labels is not None
            self.labels = self.labels.to(device)
            if self.reference is not None:
                self.reference = self.reference.to(device)
        del rank
        return self

    def state_dict(self) -> dict[str, Any]:
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

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.capacity, self.seed = int(state["capacity"]), int(state["seed"])
        self.stream, self.seen = int(state["stream"]), int(state["seen"])
        self.keys = torch.as_tensor(state["keys"], dtype=torch.float64).clone()
        self.rows, self.labels, self.reference = state["rows"], state["labels"], state["reference"]
        if self.rows is not None and (
            self.labels is None or self.rows.shape[0] != self.keys.numel()
        ):
            raise ValueError("state: expected a RowReservoir.state_dict()")
