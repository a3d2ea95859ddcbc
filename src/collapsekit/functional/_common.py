"""Small helpers shared by the functional kernels (validation, class sums, row tiling)."""

from __future__ import annotations

import math
from typing import Any

import torch

from collapsekit._validation import check_features, check_labels


def features_and_labels(
    features: Any, labels: Any, min_classes: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated (features, labels) on the features' device; labels must name >= min_classes."""
    x = check_features(features, "features")
    y = check_labels(labels, x.shape[0], None, "labels", x.device)
    if min_classes > 1:
        found = int(torch.unique(y).numel())
        if found < min_classes:
            raise ValueError(
                f"labels: expected at least {min_classes} distinct classes, received {found}; "
                "this statistic compares classes with each other"
            )
    return x, y


def compact_labels(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(class ids present, labels re-indexed to 0..K-1)."""
    return torch.unique(y, return_inverse=True)


def class_sums(
    x: torch.Tensor, y_compact: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(counts (K,), float64 per-class row sums (K, D))."""
    counts = torch.bincount(y_compact, minlength=k)
    sums = torch.zeros(k, x.shape[1], dtype=torch.float64, device=x.device)
    sums.index_add_(0, y_compact, x.double())
    return counts, sums


def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit norm (zero rows stay zero), in float64."""
    u = x.to(torch.float64, copy=True)  # one N x D allocation whatever the input dtype
    norms = torch.linalg.vector_norm(u, dim=1, keepdim=True)
    return u.div_(torch.where(norms > 0, norms, torch.ones_like(norms)))


def row_tile(n_cols: int, budget_bytes: int, itemsize: int = 8, copies: int = 4) -> int:
    """Rows per tile so that ``copies`` tiles of ``rows x n_cols`` fit in ``budget_bytes``."""
    return max(1, int(budget_bytes // max(1, itemsize * copies * n_cols)))


def power_of_two_scale(x: torch.Tensor) -> float:
    """A power of two close to max|x| (1.0 for an all-zero x): dividing by it is exact and
    keeps squares of 1e-160 or 1e180 data inside the float64 range."""
    return power_of_two_of(float(x.abs().max()) if x.numel() else 0.0)


def power_of_two_of(top: float) -> float:
    """The power of two :func:`power_of_two_scale` takes for a largest magnitude ``top``
    (1.0 for 0 or a non-finite ``top``).

    Example:
        >>> power_of_two_of(3.0), power_of_two_of(0.0)
        (4.0, 1.0)
    """
    if top == 0.0 or not math.isfinite(top):
        return 1.0
    return math.ldexp(1.0, math.frexp(top)[1])
