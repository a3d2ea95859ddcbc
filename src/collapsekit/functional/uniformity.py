"""Uniformity of L2-normalised embeddings on the hypersphere (Wang & Isola 2020)."""

from __future__ import annotations

import math
from typing import Any

import torch

from collapsekit._validation import accumulation_dtype, check_features
from collapsekit.functional._common import l2_normalize, row_tile


def uniformity(features: Any, t: float = 2.0, memory_bytes: int = 256 * 2**20) -> float:
    """log mean over pairs i < j of exp(-t ||x_i - x_j||^2), rows L2-normalised.

    Lower is more uniform: about -t*2 (-4 for t=2) when embeddings spread over the whole
    sphere in high dimension, 0 when every row is identical (complete collapse). Exact over all
    N(N-1)/2 pairs, tiled within ``memory_bytes`` with a running log-sum-exp (no N x N matrix);
    ``||x_i - x_j||^2 = 2 - 2 x_i.x_j`` on unit rows.

    Reference: Wang & Isola, "Understanding contrastive representation learning through
    alignment and uniformity on the hypersphere", ICML 2020.

    Example:
        >>> import torch
        >>> uniformity(torch.ones(5, 3))
        0.0
    """
    x = check_features(features, "features")
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"features: expected at least 2 rows, received {n}")
    u = l2_normalize(x).to(accumulation_dtype(x))
    tile = row_tile(n, memory_bytes, itemsize=u.element_size(), copies=2)
    # exp(-t ||u_i - u_j||^2) = exp(2t (u_i.u_j - 1)) lies in [exp(-4t), 1]: summed directly
    # (float64 accumulator); only t > 170 would underflow, and then log-sum-exp is used.
    stable = 4.0 * t < 170.0
    total = torch.zeros((), dtype=torch.float64, device=u.device)
    parts: list[torch.Tensor] = []
    for lo in range(0, n, tile):
        hi = min(n, lo + tile)
        dots = u[lo:hi] @ u[lo:].T  # rows lo..hi against columns lo..n (j >= lo)
        vals = dots.sub_(1.0).mul_(2.0 * t)
        vals[:, : hi - lo] = (
            vals[:, : hi - lo]
            .triu(1)
            .where(
                torch.ones(hi - lo, hi - lo, dtype=torch.bool, device=u.device).triu(1),
                -math.inf,
            )
        )
        if stable:
            total += vals.exp_().sum(dtype=torch.float64)
        else:
            parts.append(torch.logsumexp(vals.double().flatten(), 0))
    log_total = float(total.log()) if stable else float(torch.logsumexp(torch.stack(parts), 0))
    return log_total - math.log(n * (n - 1) / 2)
