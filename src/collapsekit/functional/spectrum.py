"""Singular values of a feature matrix, through the smaller Gram matrix (float64)."""

from __future__ import annotations

from typing import Any

import torch

from collapsekit._validation import accumulation_dtype, check_features


def singular_values(features: Any, center: bool = True) -> torch.Tensor:
    """Singular values of X (column-centred when ``center``), descending, float64.

    Computed from the eigenvalues of the smaller of X^T X and X X^T (O(N D min(N, D)); the Gram
    product in float32 for float32/half input, centring and eigenvalues in float64),
    with eigenvalues below ``max(N, D) * eps * largest`` treated as exact zeros: they are
    round-off, and keeping them would make rank-1 data look slightly higher-rank.

    Example:
        >>> import torch
        >>> singular_values(torch.tensor([[3.0, 0.0], [0.0, 4.0]]), center=False)
        tensor([4., 3.], dtype=torch.float64)
    """
    raw = check_features(features, "features")
    x = raw.double()
    if center:
        x = x - x.mean(0, keepdim=True)
    n, d = x.shape
    xg = x.to(accumulation_dtype(raw))  # float32 GEMM for float32/half input, float64 otherwise
    gram = (xg.T @ xg if n >= d else xg @ xg.T).double()
    eig = torch.linalg.eigvalsh(gram).flip(0)
    top = float(eig[0]) if eig.numel() else 0.0
    eig = torch.where(eig > max(n, d) * torch.finfo(torch.float64).eps * top, eig, 0.0)
    return eig.clamp_min(0.0).sqrt()


def singular_values_from_covariance(cov: torch.Tensor, n: int) -> torch.Tensor:
    """Singular values of the N x D data behind a (D x D, 1/N-normalised) covariance:
    s = sqrt(N * eigenvalues), with round-off eigenvalues (below max(N, D) * eps * largest)
    set to zero as in :func:`singular_values`. Used by the streamed paths.

    Example:
        >>> import torch
        >>> singular_values_from_covariance(torch.diag(torch.tensor([4.0, 1.0])).double(), 4)
        tensor([4., 2.], dtype=torch.float64)
    """
    eig = torch.linalg.eigvalsh(cov.double()).flip(0).clamp_min(0.0)
    if eig.numel() and float(eig[0]) > 0:
        limit = max(n, cov.shape[0]) * torch.finfo(torch.float64).eps * eig[0]
        eig = torch.where(eig > limit, eig, 0.0)
    return (eig * n).sqrt()
