"""Uniformity of L2-normalised embeddings on the hypersphere (Wang & Isola 2020)."""

from __future__ import annotations

import math
from typing import Any

import torch

from collapsekit._validation import (
    accumulation_dtype,
    check_features,
    check_nonnegative_float,
    check_positive_int,
)
from collapsekit.functional._common import l2_normalize, row_tile


def uniformity(features: Any, t: float = 2.0, memory_bytes: int = 256 * 2**20) -> float:
    """log mean over pairs i < j of exp(-t ||x_i - x_j||^2), rows L2-normalised.

    Lower is more uniform: about -t*2 (-4 for t=2) when embeddings spread over the whole
    sphere in high dimension, 0 when every row is identical (complete collapse). Exact over all
    N(N-1)/2 pairs, tiled within ``memory_bytes`` with a running log-sum-exp (no N x N matrix);
    ``||x_i - x_j||^2 = 2 - 2 x_i.x_j`` on unit rows.

    Degenerate input: an all-zero row has no direction on the sphere, so it cannot be placed
    there; rows of zeros raise ValueError (with their count and indices) instead of counting
    as points orthogonal to everything (which made all-zero input look "perfectly uniform",
    -4). ``t`` must be >= 0 (``t = 0`` gives 0); fewer than two rows raise ValueError.

    Reference: Wang & Isola, "Understanding contrastive representation learning through
    alignment and uniformity on the hypersphere", ICML 2020.

    Example:
        >>> import torch
        >>> uniformity(torch.ones(5, 3))
        0.0
    """
    t = check_nonnegative_float(t, "t", "the temperature of the Gaussian potential, e.g. 2")
    check_positive_int(memory_bytes, "memory_bytes")
    x = check_features(features, "features")
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"features: expected at least 2 rows, received {n}")
    zero = ~(x != 0).any(dim=1)
    if bool(zero.any()):
        idx = torch.nonzero(zero).flatten().tolist()
        shown = ", ".join(str(i) for i in idx[:10]) + (", ..." if len(idx) > 10 else "")
        raise ValueError(
            f"features: expected rows with a direction (non-zero), received {len(idx)} all-zero "
            f"row(s) (indices {shown}); uniformity lives on the unit sphere, where a zero row "
            "has no place: drop them first, e.g. x[x.abs().sum(1) > 0]"
        )
    u = l2_normalize(x).to(accumulation_dtype(x))
    # rows lo..hi against columns lo..n: the diagonal block's lower half is computed and
    # discarded, so tiles of at most 1,024 rows keep that waste small (17% at N = 10k with
    # 3,355-row tiles, 5% with 1,024)
    tile = min(1024, row_tile(n, memory_bytes, itemsize=u.element_size(), copies=2))
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
            # float32 row sums (positive terms, so no cancellation: ~1e-7 relative), added up
            # in float64; a float64 sum over the whole tile converts every element (10x slower)
            total += vals.exp_().sum(dim=1).sum(dtype=torch.float64)
        else:
            parts.append(torch.logsumexp(vals.double().flatten(), 0))
    log_total = float(total.log()) if stable else float(torch.logsumexp(torch.stack(parts), 0))
    return log_total - math.log(n * (n - 1) / 2)
