"""RankMe (Garrido et al. 2023): a label-free proxy for SSL representation quality."""

from __future__ import annotations

import math
from typing import Any

import torch

from collapsekit._validation import check_nonnegative_float
from collapsekit.functional.spectrum import singular_values


def rankme(features: Any, eps: float = 1e-7) -> float:
    """exp(-sum_k p_k log p_k), p_k = s_k / ||s||_1 + eps, s the singular values of uncentred X.

    Like the effective rank but on uncentred embeddings and with the paper's ``eps``; ranges
    from about 1 (complete collapse) to min(N, D). In SSL a falling RankMe warns of
    dimensional collapse before downstream accuracy drops.

    Reference: Garrido, Balestriero, Najman & LeCun, "RankMe: Assessing the downstream
    performance of pretrained self-supervised representations by their rank", ICML 2023.

    Example:
        >>> import torch
        >>> round(rankme(torch.eye(5)), 4)
        5.0
    """
    eps = check_nonnegative_float(eps, "eps", "the paper uses 1e-7")
    return rankme_from_singular_values(singular_values(features, center=False), eps)


def rankme_from_singular_values(s: torch.Tensor, eps: float = 1e-7) -> float:
    """RankMe from precomputed singular values of the uncentred features (1.0 when all are 0)."""
    eps = check_nonnegative_float(eps, "eps", "the paper uses 1e-7")
    total = float(s.sum())
    if total <= 0:
        return 1.0
    p = s / total + eps
    return math.exp(float(-torch.special.xlogy(p, p).sum()))  # 0 log 0 = 0
