"""Singular values of a feature matrix, through the smaller Gram matrix, in float64."""

from __future__ import annotations

import math
from typing import Any

import torch

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
    gram = x.T @ x if n >= d else x @ x.T
    with factorization_threads(gram.device):  # LAPACK on a busy machine: see _threads.py
        eig = torch.linalg.eigvalsh(gram).flip(0)
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
        eig = torch.linalg.eigvalsh(c / scale).flip(0).clamp_min(0.0)
    if eig.numel() and float(eig[0]) > 0:
        limit = max(n, cov.shape[0]) * torch.finfo(torch.float64).eps * eig[0]
        eig = torch.where(eig > limit, eig, 0.0)
    return (eig * n).sqrt() * math.sqrt(scale)


#: A direction is dead when its singular value is below this fraction of the largest (its
#: variance below 1e-4 of the top variance).
DEAD_RATIO = 0.01


def dead_directions(s: torch.Tensor, n: int, d: int, ratio: float = DEAD_RATIO) -> int:
    """How many of the ``min(N - 1, D)`` directions N centred rows can span carry a singular
    value below ``ratio`` x the largest (variance below ``ratio**2`` of the top).

    Read it against the isotropic value of the same N and D (about 0 unless N is close to D,
    where the Marchenko-Pastur spectrum reaches down to 0): a large excess means dimensional
    collapse (Jing et al. 2022 count singular values below 1% of the largest). Degenerate
    cases: a zero spectrum has every direction dead; ``N < 2`` spans none (0).

    Reference: Jing, Vincent, LeCun & Tian, "Understanding dimensional collapse in contrastive
    self-supervised learning", ICLR 2022.

    Example:
        >>> dead_directions(torch.tensor([10.0, 5.0, 0.05, 0.0]), n=100, d=4)
        2
    """
    span = max(0, min(int(n) - 1, int(d)))
    head = s.double().flatten()[:span]
    if span == 0:
        return 0
    head = torch.cat([head, head.new_zeros(span - head.numel())])
    top = float(head.max())
    if not top > 0:
        return span
    return int((head < ratio * top).sum())
