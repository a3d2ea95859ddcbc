"""Effective rank (Roy & Vetterli 2007): how many dimensions the features really use."""

from __future__ import annotations

from typing import Any

import torch

from collapsekit._threads import map_independent
from collapsekit.functional._common import compact_labels, features_and_labels
from collapsekit.functional.spectrum import singular_values


def entropy_rank(s: torch.Tensor) -> float:
    """exp(H(p)) with p = s / sum(s); 0 for an all-zero spectrum (one row of
    :func:`entropy_ranks`)."""
    return float(entropy_ranks(s[None])[0])


def entropy_ranks(s: torch.Tensor) -> torch.Tensor:
    """exp(H(p)), p = s / sum(s), of each row of a stack of spectra (B x k); 0 for an all-zero
    row (a zero singular value adds nothing: 0 log 0 = 0).

    Example:
        >>> import torch
        >>> entropy_ranks(torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]).double())
        tensor([2., 0.], dtype=torch.float64)
    """
    total = s.sum(-1, keepdim=True)
    p = torch.where(s > 0, s / total.clamp_min(torch.finfo(s.dtype).tiny), 1.0)
    rank = torch.exp(-(p * p.log()).sum(-1))
    return torch.where(total[..., 0] > 0, rank, 0.0)


def effective_rank(features: Any, center: bool = True) -> float:
    """Effective rank exp(H(p)), p = s / sum(s), s the singular values of X (N x D).

    Reads as "number of dimensions in use": between 1 (all rows on one line: dimensional
    collapse) and min(N, D) (flat spectrum). Healthy embeddings use a sizeable fraction of D;
    a value that drops during training signals dimensional collapse. 0 for constant input.

    Reference: Roy & Vetterli, "The effective rank: a measure of effective dimensionality",
    EUSIPCO 2007.

    Example:
        >>> import torch
        >>> round(effective_rank(torch.eye(4), center=False), 6)
        4.0
        >>> round(effective_rank(torch.arange(10.0)[:, None] * torch.ones(1, 5)), 6)
        1.0
    """
    return entropy_rank(singular_values(features, center))


def effective_rank_score(features: Any) -> float:
    """1 - effective_rank / min(N-1, D), in [0, 1]: 1 = collapsed, 0 = flat spectrum.

    Constant input gives 1. This is the "collapse score" MONAI reports; healthy random
    isotropic data of the same shape scores low (about 0.1-0.3 depending on N/D).

    Example:
        >>> import torch
        >>> effective_rank_score(torch.ones(8, 3))
        1.0
    """
    s = singular_values(features, center=True)
    return score_from_singular_values(s, features.shape[0], features.shape[1])


def score_from_singular_values(s: torch.Tensor, n: int, d: int) -> float:
    """1 - exp(H(s / sum s)) / min(N-1, D) from precomputed centred singular values."""
    full = min(n - 1, d)
    if full < 1:
        raise ValueError(f"features: expected at least 2 rows, received shape ({n}, {d})")
    return min(1.0, max(0.0, 1.0 - entropy_rank(s) / full))


def per_class_effective_rank(
    features: Any, labels: Any, center: bool = True, deflate: bool = True
) -> dict[int, float]:
    """Effective rank of each class's rows (classes with >= 2 rows), keyed by label
    (``deflate``: as :func:`~collapsekit.functional.spectrum.singular_values`).

    A class whose rank is far below the others has collapsed on its own (class collapse), even
    when the global spectrum looks healthy.

    Example:
        >>> import torch
        >>> x = torch.cat([torch.randn(20, 4), torch.ones(20, 4)])
        >>> y = torch.tensor([0] * 20 + [1] * 20)
        >>> ranks = per_class_effective_rank(x, y)
        >>> ranks[0] > 3, ranks[1]
        (True, 0.0)
    """
    x, y = features_and_labels(features, labels)
    ids, yc = compact_labels(y)
    out: dict[int, float] = {}
    order = torch.argsort(yc, stable=True)
    counts = torch.bincount(yc, minlength=ids.numel()).tolist()
    parts = [
        (int(cls), rows)
        for cls, rows in zip(ids.tolist(), x[order].split(counts), strict=True)
        if rows.shape[0] >= 2
    ]
    # one independent factorisation per class: run side by side, single-threaded each
    ranks = map_independent(
        lambda part: entropy_rank(singular_values(part[1], center, deflate)), parts, x.device
    )
    for (cls, _), rank in zip(parts, ranks, strict=True):
        out[cls] = rank
    return out
