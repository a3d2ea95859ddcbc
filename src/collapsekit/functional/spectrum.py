"""Singular values of a feature matrix, through the smaller Gram matrix, in float64."""

from __future__ import annotations

import math
from typing import Any

import torch

from collapsekit import _linalg
from collapsekit._threads import factorization_threads
from collapsekit._validation import check_features
from collapsekit.functional._common import power_of_two_scale


def singular_values(features: Any, center: bool = True) -> torch.Tensor:
    """Singular values of X (column-centred when ``center``), descending, float64.

    Computed from the eigenvalues of the smaller of X^T X and X X^T (O(N D min(N, D))). The
    stored values are converted to float64 *before* the Gram product, so float32 and half
    input give the spectrum of the same stored numbers computed in float64 (a float32 Gram
    would leave spurious singular values around 3e-4 x the largest on data with an offset).
    Rows are scaled by a power of two first, so magnitudes from 1e-160 to 1e150 neither
    underflow nor overflow. Eigenvalues below ``max(N, D) * eps * largest`` are treated as
    exact zeros: they are round-off, and keeping them would make rank-1 data look slightly
    higher-rank.

    Degenerate input: constant rows (``center=True``) or all-zero rows give all zeros.

    Example:
        >>> import torch
        >>> singular_values(torch.tensor([[3.0, 0.0], [0.0, 4.0]]), center=False)
        tensor([4., 3.], dtype=torch.float64)
    """
    x = check_features(features, "features").double()
    if center:
        x = x - x.mean(0, keepdim=True)
    scale = power_of_two_scale(x)
    if scale != 1.0:
        x = x / scale
    n, d = x.shape
    with factorization_threads(x.device):  # LAPACK on a busy machine: see _threads.py
        eig = _linalg.eigvalsh(_linalg.gram(x, rows=n < d)).flip(0)
    top = float(eig[0]) if eig.numel() else 0.0
    eig = torch.where(eig > max(n, d) * torch.finfo(torch.float64).eps * top, eig, 0.0)
    return eig.clamp_min(0.0).sqrt() * scale


def singular_values_from_covariance(cov: torch.Tensor, n: int) -> torch.Tensor:
    """Singular values of the N x D data behind a (D x D, 1/N-normalised) covariance:
    s = sqrt(N * eigenvalues), with round-off eigenvalues (below max(N, D) * eps * largest)
    set to zero as in :func:`singular_values`. Used by the streamed paths.

    Example:
        >>> import torch
        >>> singular_values_from_covariance(torch.diag(torch.tensor([4.0, 1.0])).double(), 4)
        tensor([4., 2.], dtype=torch.float64)
    """
    c = cov.double()
    scale = power_of_two_scale(c)
    with factorization_threads(c.device):
        eig = _linalg.eigvalsh(c / scale).flip(0).clamp_min(0.0)
    if eig.numel() and float(eig[0]) > 0:
        limit = max(n, cov.shape[0]) * torch.finfo(torch.float64).eps * eig[0]
        eig = torch.where(eig > limit, eig, 0.0)
    return (eig * n).sqrt() * math.sqrt(scale)
