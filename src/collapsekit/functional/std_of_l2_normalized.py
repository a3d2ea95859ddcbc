"""Per-dimension spread of L2-normalised embeddings (SimSiam's collapse monitor)."""

from __future__ import annotations

from typing import Any

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
    u = l2_normalize(x)
    return float(u.std(0, correction=1 if unbiased else 0).mean())
