"""Streaming LiDAR: per-surrogate-class moments folded into D x D sums, in one pass.

Every batch holds whole surrogate classes: views of shape (n_b, q, D), the q augmentations of
n_b source samples. A batch's source means ``mu_x`` and its within-source scatter are exact
(the residuals ``v_xj - mu_x`` are formed in float64 and are small). Across batches the state
keeps, relative to a fixed *shift* ``s`` (the mean of the first batch's source means):

* ``n`` sources and ``N`` views;
* ``r = sum_x (mu_x - s)`` and ``B = sum_x (mu_x - s)(mu_x - s)^T`` (float64);
* ``S_w = sum_x sum_j (v_xj - mu_x)(v_xj - mu_x)^T`` (float64).

Then the between-source scatter is ``B - r r^T / n`` (no cancellation: ``s`` is close to the
mean) and :func:`collapsekit.functional.lidar.lidar_from_moments` gives LiDAR. Changing the
shift is exact algebra, which makes ``merge`` and ``all_reduce`` exact. Memory: 3 D x D + D.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from collapsekit._validation import check_positive_int
from collapsekit.functional.lidar import check_views, lidar_from_moments
from collapsekit.stats._accumulator import distributed_active
from collapsekit.stats._tensor_state import TensorState, check_scatter_diagonal, state_check

_STATE_VERSION = 1
_TENSORS = ("counts", "shift", "mean_sum", "mean_scatter", "within_scatter")


class LiDARStats(TensorState):
    """One-pass, mergeable, checkpointable LiDAR accumulator.

    Args:
        dim: embedding width D.
        device: where the state lives; ``None`` adopts the device of the first batch.

    ``update(views)`` takes (n_b, q, D) views (q may change between batches, each source keeps
    all its views in one batch); ``compute(delta=1e-4, eps=1e-7, unbiased=True)`` returns LiDAR
    exactly as :func:`collapsekit.functional.lidar` on all sources at once.

    Example:
        >>> import torch
        >>> from collapsekit.functional import lidar
        >>> g = torch.Generator().manual_seed(0)
        >>> views = torch.randn(64, 1, 6, generator=g) + 0.1 * torch.randn(64, 4, 6, generator=g)
        >>> stats = LiDARStats(dim=6)
        >>> for batch in views.split(16):
        ...     stats.update(batch)
        >>> abs(stats.compute() - lidar(views)) < 1e-6
        True
    """

    _TENSOR_NAMES = _TENSORS
    _SHAPE_OPTIONS = ("dim",)
    _STATE_VERSION = _STATE_VERSION

    def __init__(self, dim: int, device: torch.device | str | None = None) -> None:
        self.dim = check_positive_int(dim, "dim")
        self._device_fixed = device is not None
        dev = torch.device(device) if device is not None else torch.device("cpu")
        d = self.dim
        # counts = [sources, views]
        self.counts = torch.zeros(2, dtype=torch.int64, device=dev)
        self.shift = torch.zeros(d, dtype=torch.float64, device=dev)
        self.mean_sum = torch.zeros(d, dtype=torch.float64, device=dev)
        self.mean_scatter = torch.zeros(d, d, dtype=torch.float64, device=dev)
        self.within_scatter = torch.zeros(d, d, dtype=torch.float64, device=dev)

    # ------------------------------------------------------------------ state handling
    @property
    def device(self) -> torch.device:
        return self.counts.device

    @property
    def num_sources(self) -> int:
        return int(self.counts[0])

    @property
    def num_views(self) -> int:
        return int(self.counts[1])

    def copy(self) -> LiDARStats:
        """An independent copy of this state."""
        out = LiDARStats(self.dim, self.device)
        out.load_state_dict(self.state_dict())
        return out

    # ------------------------------------------------------------------ accumulation
    def update(self, views: Any) -> None:
        """Add a batch of views (n_b, q, D). Raises ValueError (state untouched) on bad input."""
        if not self._device_fixed and isinstance(views, torch.Tensor):
            if views.device != self.device and self.num_sources == 0:
                self.to(views.device)
            self._device_fixed = True
        v = check_views(views, "views", self.dim)
        v = v.to(self.device)
        n_b, q, _ = v.shape
        if n_b == 0:
            return
        means = v.double().mean(1)
        resid = (v.double() - means[:, None, :]).flatten(0, 1)
        low = resid.to(torch.float64 if v.dtype == torch.float64 else torch.float32)
        within = (low.T @ low).double()
        within.diagonal().copy_(resid.square().sum(0))
        shift = means.mean(0) if self.num_sources == 0 else self.shift
        e = means - shift
        # validated: commit
        self.shift = shift.clone()
        self.counts += torch.tensor([n_b, n_b * q], device=self.device)
        self.mean_sum += e.sum(0)
        self.mean_scatter += e.T @ e
        self.within_scatter += within

    def _reshift(self, new_shift: torch.Tensor) -> None:
        """Express the state relative to ``new_shift`` (exact)."""
        delta = self.shift - new_shift.double()  # e_new = e_old + delta
        n = float(self.counts[0])
        r = self.mean_sum
        cross = torch.outer(r, delta)
        self.mean_scatter += cross + cross.T + n * torch.outer(delta, delta)
        self.mean_sum = r + n * delta
        self.shift = new_shift.double().clone()

    def merge(self, other: LiDARStats) -> LiDARStats:
        """Add the views accumulated by ``other`` (unchanged) into ``self``; returns ``self``."""
        theirs = self._check_mergeable(other).copy().to(self.device)
        if theirs.num_sources == 0:
            return self
        if self.num_sources == 0:
            self.load_state_dict(theirs.state_dict())
            return self
        theirs._reshift(self.shift)
        self.counts += theirs.counts
        self.mean_sum += theirs.mean_sum
        self.mean_scatter += theirs.mean_scatter
        self.within_scatter += theirs.within_scatter
        return self

    def all_reduce(self, group: Any = None) -> LiDARStats:
        """Sum the state over every process of ``torch.distributed`` (in place); returns ``self``.

        Each rank re-expresses its state relative to the global mean of source means (exact),
        then one packed SUM all-reduce combines them. A no-op without torch.distributed.
        """
        if not distributed_active():
            return self
        import torch.distributed as dist

        counts = self.counts.clone()
        dist.all_reduce(counts, group=group)
        absolute = self.mean_sum + float(self.counts[0]) * self.shift
        dist.all_reduce(absolute, group=group)
        total = float(counts[0])
        self._reshift(absolute / total if total > 0 else torch.zeros_like(absolute))
        d = self.dim
        packed = torch.cat(
            [self.mean_sum, self.mean_scatter.flatten(), self.within_scatter.flatten()]
        )
        dist.all_reduce(packed, group=group)
        self.mean_sum = packed[:d].clone()
        self.mean_scatter = packed[d : d + d * d].view(d, d).clone()
        self.within_scatter = packed[d + d * d :].view(d, d).clone()
        self.counts = counts
        return self

    def _check_loaded(self, loaded: Mapping[str, torch.Tensor]) -> None:
        sources, views = (int(v) for v in loaded["counts"])
        state_check(
            views >= sources and (sources > 0 or views == 0),
            "counts",
            "[sources, views] with at least one view per source",
            [sources, views],
        )
        check_scatter_diagonal(loaded["mean_scatter"], "mean_scatter")
        check_scatter_diagonal(loaded["within_scatter"], "within_scatter")

    # ------------------------------------------------------------------ result
    def between_scatter(self) -> torch.Tensor:
        """sum_x (mu_x - mu)(mu_x - mu)^T over all sources (float64, D x D)."""
        n = max(self.num_sources, 1)
        return self.mean_scatter - torch.outer(self.mean_sum, self.mean_sum) / n

    def compute(self, delta: float = 1e-4, eps: float = 1e-7, unbiased: bool = True) -> float:
        """LiDAR of every view since the last reset, as :func:`collapsekit.functional.lidar`."""
        return lidar_from_moments(
            self.between_scatter(),
            self.within_scatter,
            self.num_sources,
            self.num_views,
            delta,
            eps,
            unbiased,
        )
