"""Streaming neural regression collapse (NRC1-NRC3): feature, unit-row and target moments.

State, all float64 and relative to per-quantity *shifts* (the first batch's means) so that a
large common offset costs no precision:

* features: count M, shift s, ``r = sum_i (h_i - s)``, ``S = sum_i (h_i - s)(h_i - s)^T``;
* unit rows: ``U = sum_i h~_i h~_i^T`` with ``h~_i = h_i / ||h_i||`` (bounded, no shift needed);
* targets: shift t, ``r_y = sum_i (y_i - t)``, ``S_y = sum_i (y_i - t)(y_i - t)^T``.

From these: the centred feature covariance ``(S - r r^T / M) / M``, the uncentred second moment
and Sigma, which :func:`collapsekit.functional.regression_collapse.regression_collapse_from_moments`
turns into NRC1-NRC3. Re-shifting is exact algebra, so ``merge`` and ``all_reduce`` are exact.
Memory: 2 D x D + n x n.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from collapsekit._validation import (
    accumulation_dtype,
    check_features,
    check_positive_int,
)
from collapsekit.functional._common import l2_normalize
from collapsekit.functional.regression_collapse import (
    check_regression_weights,
    check_targets,
    regression_collapse_from_moments,
)
from collapsekit.stats._accumulator import distributed_active
from collapsekit.stats._tensor_state import TensorState, check_scatter_diagonal

_STATE_VERSION = 1
_TENSORS = (
    "count",
    "feature_shift",
    "feature_sum",
    "feature_scatter",
    "unit_scatter",
    "target_shift",
    "target_sum",
    "target_scatter",
)


def _scatter(resid: torch.Tensor, low: torch.dtype) -> torch.Tensor:
    """resid^T resid: GEMM in ``low`` precision, exact float64 diagonal."""
    r = resid.to(low)
    out = (r.T @ r).double()
    out.diagonal().copy_(resid.square().sum(0))
    return out


def _reshift_terms(
    total: torch.Tensor, n: float, delta: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Terms added to (sum, scatter) when every residual gains ``delta``."""
    cross = torch.outer(total, delta)
    return n * delta, cross + cross.T + n * torch.outer(delta, delta)


class RegressionStats(TensorState):
    """One-pass, mergeable, checkpointable accumulator of neural regression collapse.

    Args:
        dim: feature width D.
        target_dim: target dimension n (1 for univariate regression).
        device: where the state lives; ``None`` adopts the device of the first batch.

    Example:
        >>> import torch
        >>> from collapsekit.functional.regression_collapse import regression_collapse
        >>> g = torch.Generator().manual_seed(0)
        >>> y = torch.randn(300, 2, generator=g, dtype=torch.float64)
        >>> h = y @ torch.randn(2, 6, generator=g, dtype=torch.float64)
        >>> h += 0.1 * torch.randn(300, 6, generator=g, dtype=torch.float64)
        >>> stats = RegressionStats(dim=6, target_dim=2)
        >>> for hb, yb in zip(h.split(64), y.split(64)):
        ...     stats.update(hb, yb)
        >>> abs(stats.compute()["nrc1"] - regression_collapse(h, y)["nrc1"]) < 1e-12
        True
    """

    _TENSOR_NAMES = _TENSORS
    _SHAPE_OPTIONS = ("dim", "target_dim")
    _STATE_VERSION = _STATE_VERSION

    def __init__(
        self, dim: int, target_dim: int = 1, device: torch.device | str | None = None
    ) -> None:
        self.dim = check_positive_int(dim, "dim")
        self.target_dim = check_positive_int(target_dim, "target_dim")
        self._device_fixed = device is not None
        dev = torch.device(device) if device is not None else torch.device("cpu")
        d, n, f64 = self.dim, self.target_dim, torch.float64
        self.count = torch.zeros((), dtype=torch.int64, device=dev)
        self.feature_shift = torch.zeros(d, dtype=f64, device=dev)
        self.feature_sum = torch.zeros(d, dtype=f64, device=dev)
        self.feature_scatter = torch.zeros(d, d, dtype=f64, device=dev)
        self.unit_scatter = torch.zeros(d, d, dtype=f64, device=dev)
        self.target_shift = torch.zeros(n, dtype=f64, device=dev)
        self.target_sum = torch.zeros(n, dtype=f64, device=dev)
        self.target_scatter = torch.zeros(n, n, dtype=f64, device=dev)

    # ------------------------------------------------------------------ state handling
    @property
    def device(self) -> torch.device:
        return self.count.device

    @property
    def num_samples(self) -> int:
        return int(self.count)

    def copy(self) -> RegressionStats:
        """An independent copy of this state."""
        out = RegressionStats(self.dim, self.target_dim, self.device)
        out.load_state_dict(self.state_dict())
        return out

    # ------------------------------------------------------------------ accumulation
    def update(self, features: Any, targets: Any) -> None:
        """Add ``features`` (N x D) with ``targets`` (N x n or N,); state untouched on error."""
        if not self._device_fixed and isinstance(features, torch.Tensor):
            if features.device != self.device and self.num_samples == 0:
                self.to(features.device)
            self._device_fixed = True
        x = check_features(features, "features", self.dim, self.device, 0)
        y = check_targets(targets, x.shape[0], self.device)
        if y.shape[1] != self.target_dim:
            raise ValueError(
                f"targets: expected {self.target_dim} target column(s) (the target_dim given at "
                f"construction), received shape {tuple(y.shape)}"
            )
        if x.shape[0] == 0:
            return
        low = accumulation_dtype(x)
        xd = x.double()
        first = self.num_samples == 0
        fshift = xd.mean(0) if first else self.feature_shift
        tshift = y.mean(0) if first else self.target_shift
        fres, tres = xd - fshift, y - tshift
        fscatter = _scatter(fres, low)
        unit = l2_normalize(x)
        uscatter = _scatter(unit, low)
        # validated: commit
        self.feature_shift, self.target_shift = fshift.clone(), tshift.clone()
        self.count += x.shape[0]
        self.feature_sum += fres.sum(0)
        self.feature_scatter += fscatter
        self.unit_scatter += uscatter
        self.target_sum += tres.sum(0)
        self.target_scatter += tres.T @ tres

    def _reshift(self, feature_shift: torch.Tensor, target_shift: torch.Tensor) -> None:
        n = float(self.count)
        ds, dc = _reshift_terms(self.feature_sum, n, self.feature_shift - feature_shift)
        self.feature_sum, self.feature_scatter = self.feature_sum + ds, self.feature_scatter + dc
        ts, tc = _reshift_terms(self.target_sum, n, self.target_shift - target_shift)
        self.target_sum, self.target_scatter = self.target_sum + ts, self.target_scatter + tc
        self.feature_shift = feature_shift.double().clone()
        self.target_shift = target_shift.double().clone()

    def merge(self, other: RegressionStats) -> RegressionStats:
        """Add the rows accumulated by ``other`` (unchanged) into ``self``; returns ``self``."""
        theirs = self._check_mergeable(other).copy().to(self.device)
        if theirs.num_samples == 0:
            return self
        if self.num_samples == 0:
            self.load_state_dict(theirs.state_dict())
            return self
        theirs._reshift(self.feature_shift, self.target_shift)
        for name in ("count", "feature_sum", "feature_scatter", "unit_scatter"):
            setattr(self, name, getattr(self, name) + getattr(theirs, name))
        for name in ("target_sum", "target_scatter"):
            setattr(self, name, getattr(self, name) + getattr(theirs, name))
        return self

    def all_reduce(self, group: Any = None) -> RegressionStats:
        """Sum the state over every process of ``torch.distributed`` (in place); returns ``self``.

        Ranks first re-express their state relative to the global means (exact), then one
        packed SUM all-reduce combines them. A no-op without torch.distributed.
        """
        if not distributed_active():
            return self
        import torch.distributed as dist

        count = self.count.clone()
        dist.all_reduce(count, group=group)
        n = float(self.count)
        absolute = torch.cat(
            [self.feature_sum + n * self.feature_shift, self.target_sum + n * self.target_shift]
        )
        dist.all_reduce(absolute, group=group)
        total = max(float(count), 1.0)
        self._reshift(absolute[: self.dim] / total, absolute[self.dim :] / total)
        names = ("feature_sum", "feature_scatter", "unit_scatter", "target_sum", "target_scatter")
        packed = torch.cat([getattr(self, k).flatten() for k in names])
        dist.all_reduce(packed, group=group)
        offset = 0
        for k in names:
            ref = getattr(self, k)
            setattr(self, k, packed[offset : offset + ref.numel()].view_as(ref).clone())
            offset += ref.numel()
        self.count = count
        return self

    def _check_loaded(self, loaded: Mapping[str, torch.Tensor]) -> None:
        for key in ("feature_scatter", "unit_scatter", "target_scatter"):
            check_scatter_diagonal(loaded[key], key)

    # ------------------------------------------------------------------ results
    def feature_cov(self, center: bool = True) -> torch.Tensor:
        """(1/M) sum_i (h_i - mean)(h_i - mean)^T, or the uncentred (1/M) sum_i h_i h_i^T."""
        m = max(self.num_samples, 1)
        r, s = self.feature_sum, self.feature_shift
        if center:
            return (self.feature_scatter - torch.outer(r, r) / m) / m
        cross = torch.outer(r, s)
        return (self.feature_scatter + cross + cross.T + m * torch.outer(s, s)) / m

    def target_cov(self) -> torch.Tensor:
        """Sigma = (1/M) sum_i (y_i - y_bar)(y_i - y_bar)^T."""
        m = max(self.num_samples, 1)
        r = self.target_sum
        return (self.target_scatter - torch.outer(r, r) / m) / m

    def compute(self, weights: Any = None, center: bool = True) -> dict[str, float]:
        """NRC1 (and NRC2, NRC3 with ``weights`` n x D) of every row seen since the last reset."""
        if self.num_samples < 2:
            raise ValueError(
                f"features: expected at least 2 accumulated rows, received {self.num_samples}; "
                "call update() first"
            )
        w = None
        if weights is not None:
            w = check_regression_weights(weights, self.target_dim, self.dim, self.device)
        return regression_collapse_from_moments(
            self.unit_scatter, self.num_samples, self.feature_cov(center), self.target_cov(), w
        )
