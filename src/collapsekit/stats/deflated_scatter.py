"""The scatter of rows split along the directions the one-pass moments resolve: the second
pass that resolves a spectrum's tail below the moments' float64 floor.

The one-pass D x D scatter resolves eigenvalues down to about ``max(N, D) * eps64`` of its
largest. On rank-deficient float32 rows the rest of the spectrum is the rows' storage
round-off, and with a common offset it sits below that floor (rank 5 in 768 dimensions at an
offset of 100: 763 singular values at 1e-7 of the largest, 1e-14 in eigenvalue; together
8e-5 of the singular-value mass). A second pass over the same rows, with the moments' mean
``mu`` and their resolved eigenvectors ``V`` (D x k) fixed, accumulates in float64 with
``e_i = x_i - mu``, ``a_i = V^T e_i`` and the residual ``r_i = e_i - V a_i``:

* ``sum a_i a_i^T`` (k x k), ``sum a_i r_i^T`` (k x D) and ``sum r_i r_i^T`` (D x D);
* ``sum a_i`` and ``sum r_i``, from which the uncentred rows ``x_i = e_i + mu`` split the same
  way by algebra (RankMe's spectrum without a second GEMM,
  :func:`collapsekit.functional.spectrum.shifted_split`).

The residual is formed before it is squared, so its scatter is accurate relative to the tail's
own scale; :func:`collapsekit.functional.spectrum.singular_values_from_split` turns the three
blocks into the spectrum. Cost: one float64 D x D GEMM per row, as the first pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from collapsekit._validation import check_features
from collapsekit.functional.spectrum import (
    NEAR_FLOOR,
    resolution_floor,
    shifted_split,
    singular_values_from_split,
)
from collapsekit.stats._accumulator import distributed_active
from collapsekit.stats._gram import add_gram_
from collapsekit.stats._tensor_state import TensorState, check_scatter_diagonal, state_check

_TENSORS = ("count", "top", "cross", "tail", "sum_top", "sum_tail")


class DeflatedScatter(TensorState):
    """Second-pass accumulator of the rows' scatter split along a fixed orthonormal ``basis``
    (D x k) around a fixed ``center`` (D,): the constructor's arguments are not state (as
    :class:`~collapsekit.stats.ncc_agreement.NCCAgreement`'s class means).

    Example:
        >>> import torch
        >>> from collapsekit.functional.spectrum import singular_values
        >>> g = torch.Generator().manual_seed(0)
        >>> x = (torch.randn(50, 2, generator=g) @ torch.randn(2, 6, generator=g) + 100).float()
        >>> center = x.double().mean(0)
        >>> basis = torch.linalg.svd(x.double() - center).Vh[:2].T
        >>> acc = DeflatedScatter(center, basis)
        >>> for batch in x.split(20):
        ...     acc.update(batch)
        >>> s = acc.singular_values()
        >>> bool(torch.allclose(s, torch.linalg.svdvals(x.double() - center), rtol=1e-6))
        True
        >>> raw = acc.uncentred_singular_values()
        >>> bool(torch.allclose(raw, torch.linalg.svdvals(x.double()), rtol=1e-6))
        True
    """

    _TENSOR_NAMES = _TENSORS
    _SHAPE_OPTIONS = ("dim", "rank")

    def __init__(self, center: torch.Tensor, basis: torch.Tensor, chunk_size: int = 8192) -> None:
        self.center = center.double().flatten()
        dev = self.center.device
        self.basis = basis.to(dev, torch.float64)
        self.dim = int(self.center.numel())
        if self.basis.dim() != 2 or self.basis.shape[0] != self.dim:
            raise ValueError(
                f"basis: expected a ({self.dim}, k) matrix of orthonormal columns, received "
                f"shape {tuple(self.basis.shape)}; pass the eigenvectors as columns"
            )
        self.rank = int(self.basis.shape[1])
        self.chunk_size = chunk_size
        self._device_fixed = True
        k, d = self.rank, self.dim
        self.count = torch.zeros((), dtype=torch.int64, device=dev)
        self.top = torch.zeros(k, k, dtype=torch.float64, device=dev)
        self.cross = torch.zeros(k, d, dtype=torch.float64, device=dev)
        self.tail = torch.zeros(d, d, dtype=torch.float64, device=dev)
        self.sum_top = torch.zeros(k, dtype=torch.float64, device=dev)
        self.sum_tail = torch.zeros(d, dtype=torch.float64, device=dev)

    @property
    def num_samples(self) -> int:
        return int(self.count)

    def update(self, features: Any) -> None:
        """Add a batch of rows (N x D, any float dtype; products in float64)."""
        x = check_features(features, "features", self.dim, self.center.device)
        for part in x.split(self.chunk_size):
            e = part.double() - self.center
            a = e @ self.basis
            r = e.sub_(a @ self.basis.T)  # the residual, in place of the centred rows
            self.top += a.T @ a
            self.cross += a.T @ r
            add_gram_(self.tail, r)  # r^T r from its upper blocks
            self.sum_top += a.sum(0)
            self.sum_tail += r.sum(0)
        self.count += x.shape[0]

    def merge(self, other: DeflatedScatter) -> DeflatedScatter:
        """Add ``other``'s sums (rows split along the same basis); returns ``self``."""
        theirs = self._check_mergeable(other)
        for name in _TENSORS:
            getattr(self, name).add_(getattr(theirs, name).to(self.center.device))
        return self

    def all_reduce(self, group: Any = None) -> DeflatedScatter:
        """Sum the state over torch.distributed processes (no-op when not initialised)."""
        if distributed_active():
            import torch.distributed as dist

            for name in _TENSORS:
                dist.all_reduce(getattr(self, name), group=group)
        return self

    def _check_loaded(self, loaded: Mapping[str, torch.Tensor]) -> None:
        state_check(int(loaded["count"]) >= 0, "count", "a row count >= 0", int(loaded["count"]))
        check_scatter_diagonal(loaded["top"], "top")
        check_scatter_diagonal(loaded["tail"], "tail")

    def singular_values(self) -> torch.Tensor:
        """Singular values (descending, float64, length D) of the rows seen, centred on
        ``center`` (:func:`~collapsekit.functional.spectrum.singular_values_from_split`)."""
        if self.num_samples == 0:
            raise ValueError("features: no rows were added; call update() first")
        return singular_values_from_split(self.top, self.cross, self.tail, self.num_samples)

    def uncentred_singular_values(self) -> torch.Tensor | None:
        """Singular values of the rows themselves (``e_i + center``) from the same sums
        (:func:`~collapsekit.functional.spectrum.shifted_split`), or None when the shift
        leaves the leading block beyond its own float64 resolution (a centre far larger than
        the leading directions' spread, which all lie in that block)."""
        if self.num_samples == 0:
            raise ValueError("features: no rows were added; call update() first")
        n = self.num_samples
        sums = (self.sum_top, self.sum_tail)
        blocks = shifted_split((self.top, self.cross, self.tail), sums, self.basis, self.center, n)
        top = torch.linalg.eigvalsh(blocks[0]) if blocks[0].numel() else None
        if top is not None and float(top[0]) < NEAR_FLOOR * resolution_floor(n, self.dim) * float(
            top[-1]
        ):
            return None
        return singular_values_from_split(*blocks, n)
