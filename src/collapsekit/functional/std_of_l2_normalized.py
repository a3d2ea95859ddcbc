"""Per-dimension spread of L2-normalised embeddings (SimSiam's collapse monitor)."""

from __future__ import annotations

from typing import Any

import torch

from collapsekit._validation import check_features
from collapsekit.functional._common import l2_normalize


def std_of_l2_normalized(features: Any, unbiased: bool = True) -> float:
    """Mean over dimensions of the std (over rows) of the L2-normalised rows.

    About 1/sqrt(D) when embeddings are spread isotropically; 0 when every row points the same
    way (complete collapse). SimSiam (Chen & He 2021) watched this number to detect collapse;
    ``unbiased`` follows torch.std (ddof=1) as their code did.

    Reference: Chen & He, "Exploring simple Siamese representation learning", CVPR 2021.

    Example:
        >>> import torch
        >>> std_of_l2_normalized(torch.ones(4, 3))
        0.0
    """
    x = check_features(features, "features")
    if x.shape[0] < 2:
        raise ValueError(f"features: expected at least 2 rows, received {x.shape[0]}")
    u = l2_normalize(x)  # our own float64 copy: shifted and squared in place
    # shifted sums around the first row (column sums; torch.std over dim 0 is a strided
    # reduction, 3-6x slower): identical rows give exactly 0, and a row of the data is close
    # enough to the mean that nothing cancels (see std_of_l2_normalized_from_moments)
    dev = u.sub_(u[0].clone())
    total = dev.sum(0)
    return std_of_l2_normalized_from_moments(
        x.shape[0], total, dev.square_().sum(0), unbiased=unbiased
    )


def std_of_l2_normalized_from_moments(
    n: int, shifted_sum: torch.Tensor, shifted_sq_sum: torch.Tensor, unbiased: bool = True
) -> float:
    """:func:`std_of_l2_normalized` from streamed sums of the unit rows around a shift ``s``:
    ``shifted_sum = sum_i (u_i - s)`` and ``shifted_sq_sum = sum_i (u_i - s)^2`` (per
    dimension, float64). var_d = (Q_d - S_d^2 / n) / (n - ddof); any ``s`` gives the same value,
    one near the mean avoids cancellation when every row points the same way.

    Example:
        >>> import torch
        >>> u = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
        >>> std_of_l2_normalized_from_moments(2, u.sum(0), u.square().sum(0))
        0.7071067811865476
    """
    if n < 2:
        raise ValueError(f"features: expected at least 2 rows, received {n}")
    var = (shifted_sq_sum - shifted_sum.square() / n) / (n - 1 if unbiased else n)
    return float(var.clamp_min(0.0).sqrt().mean())
