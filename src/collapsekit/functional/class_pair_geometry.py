"""Pairwise class-mean statistics reduced tile by tile (never a full K x K matrix).

For every pair of classes c < c' the kernel needs only the Gram entry
``G_cc' = (mu_c - mu_G).(mu_c' - mu_G)`` and per-class scalars, so it walks over tiles of
``T x T`` pairs, ``T`` chosen from a memory budget, and keeps running sums. Spreads are
accumulated around their simplex-ETF values (``-1/(K-1)`` for cosines), so the sums stay
accurate exactly where collapse makes the spread tiny.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class ClassPairSums:
    """Running sums over the P = K(K-1)/2 class pairs (see :func:`class_pair_sums`)."""

    pairs: int
    cdnv_sum: float
    cos_dev_sum: float  # sum of (cos + 1/(K-1))
    cos_dev_sq_sum: float  # sum of (cos + 1/(K-1))^2
    cos_abs_dev_sum: float  # sum of |cos + 1/(K-1)|
    log_dev_sum: float  # sum of (-log||u_c - u_c'|| - v0), v0 its ETF value
    log_dev_sq_sum: float
    log_etf_value: float  # v0 = -0.5 log(2K/(K-1))
    etf_sq_sum: float  # sum over all (c, c') of (G/||G||_F - (I - 11^T/K)/sqrt(K-1))^2


def tile_rows_for_budget(tile_bytes: int, num_classes: int) -> int:
    """Rows per tile so that about ten T x T float64 temporaries fit in ``tile_bytes``."""
    return max(1, min(num_classes, int(math.sqrt(tile_bytes / (8 * 10)))))


def class_pair_sums(
    centred_means: torch.Tensor,
    variances: torch.Tensor,
    gram_fro: float,
    tile_rows: int,
    coincident_sq: torch.Tensor | None = None,
) -> ClassPairSums:
    """Accumulate every pairwise class statistic in one tiled sweep.

    Args:
        centred_means: (K, D) float64 ``mu_c - mu_G``.
        variances: (K,) ``var_c`` for CDNV.
        gram_fro: ``||G||_F`` of ``G = M~ M~^T`` (computed as ``||M~^T M~||_F``).
        tile_rows: tile edge T; any T >= 1 gives the same sums (up to float64 rounding).
        coincident_sq: optional (K,) rounding floor of each class mean (squared distance); a
            pair with ``||mu_c - mu_c'||^2 <= floor_c + floor_c'`` counts as coincident
            (cdnv = inf) instead of giving a huge finite ratio of round-off.

    Example:
        >>> import torch
        >>> m = torch.tensor([[1.0, 0.0], [-0.5, 3**0.5 / 2], [-0.5, -(3**0.5) / 2]],
        ...                  dtype=torch.float64)
        >>> s = class_pair_sums(m, torch.zeros(3, dtype=torch.float64),
        ...                     float(torch.linalg.norm(m.T @ m)), tile_rows=2)
        >>> s.pairs, abs(s.cos_abs_dev_sum) < 1e-12, abs(s.etf_sq_sum) < 1e-12
        (3, True, True)
    """
    m = centred_means.double()
    k = m.shape[0]
    sq = m.square().sum(1)
    norms = sq.sqrt()
    var = variances.double()
    floor = coincident_sq.double() if coincident_sq is not None else torch.zeros_like(var)
    c0 = -1.0 / (k - 1)
    v0 = -0.5 * math.log(2.0 * k / (k - 1))
    etf_off = -1.0 / (k * math.sqrt(k - 1))
    etf_diag = (1.0 - 1.0 / k) / math.sqrt(k - 1)
    gfro = gram_fro if gram_fro > 0 else 1.0
    tiny = torch.finfo(torch.float64).tiny
    acc = torch.zeros(7, dtype=torch.float64, device=m.device)
    for i0 in range(0, k, tile_rows):
        i1 = min(k, i0 + tile_rows)
        for j0 in range(i0, k, tile_rows):
            j1 = min(k, j0 + tile_rows)
            g = m[i0:i1] @ m[j0:j1].T
            same = i0 == j0
            # ETF error: all ordered pairs (c, c'), the diagonal included
            diff = g / gfro - etf_off
            if same:
                diff.diagonal().copy_(g.diagonal() / gfro - etf_diag)
            etf = diff.square_().sum() * (1.0 if same else 2.0)
            del diff
            # pairs c < c': the strict upper triangle of diagonal tiles, all of the others
            mask = torch.ones_like(g, dtype=torch.bool).triu_(1) if same else None
            dist2 = (sq[i0:i1, None] + sq[None, j0:j1]).sub_(g, alpha=2.0).clamp_min_(0.0)
            vsum = var[i0:i1, None] + var[None, j0:j1]
            coincident = dist2 <= (floor[i0:i1, None] + floor[None, j0:j1]).clamp_min_(tiny)
            cdnv = vsum.div_(dist2.mul_(2.0).clamp_min_(tiny))
            cdnv.masked_fill_(coincident, math.inf)
            # g is not needed after; a zero mean has cosine 0 with every other (no 0/0)
            cos = g.div_((norms[i0:i1, None] * norms[None, j0:j1]).clamp_min_(tiny))
            logd = torch.log((2.0 - 2.0 * cos).clamp_min_(tiny)).mul_(-0.5).sub_(v0)
            dev = cos.sub_(c0)
            if mask is not None:
                cdnv, logd, dev = cdnv[mask], logd[mask], dev[mask]
            acc += torch.stack(
                [
                    cdnv.sum(),
                    dev.sum(),
                    dev.square().sum(),
                    dev.abs().sum(),
                    logd.sum(),
                    logd.square().sum(),
                    etf,
                ]
            )
    vals = acc.tolist()
    return ClassPairSums(
        pairs=k * (k - 1) // 2,
        cdnv_sum=vals[0],
        cos_dev_sum=vals[1],
        cos_dev_sq_sum=vals[2],
        cos_abs_dev_sum=vals[3],
        log_dev_sum=vals[4],
        log_dev_sq_sum=vals[5],
        log_etf_value=v0,
        etf_sq_sum=vals[6],
    )
