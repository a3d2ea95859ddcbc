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


#: Largest tile edge: a 384 x 384 float64 tile (1.2 MB) stays in a core's L2 cache while the
#: elementwise passes run over it, which makes them 3-5x cheaper than on DRAM-sized tiles.
CACHE_TILE_ROWS = 384


def tile_rows_for_budget(tile_bytes: int, num_classes: int) -> int:
    """Rows per tile: about ten T x T float64 temporaries within ``tile_bytes``, and at most
    :data:`CACHE_TILE_ROWS` so that a tile stays in cache."""
    return max(1, min(num_classes, CACHE_TILE_ROWS, int(math.sqrt(tile_bytes / (8 * 10)))))


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

    Cost: one float64 GEMM over the K(K-1)/2 pairs (rows pre-divided by their norms, so the
    tile holds ``g_cc' / ||m_c||``) and about 16 fused elementwise passes over each cache-sized
    tile; the CDNV sum over a tile is two matrix-vector products with ``1 / ||mu_c - mu_c'||^2``
    (sum over pairs of (v_c + v_c') w_cc' = v . (W 1) + (1^T W) . v).

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
    tiny = torch.finfo(torch.float64).tiny
    norms = sq.sqrt().clamp_min(tiny)
    inv_norms = 1.0 / norms
    scaled = m * inv_norms[:, None]  # tile GEMM gives g_cc' / ||m_c||
    var = variances.double()
    floor = coincident_sq.double() if coincident_sq is not None else torch.zeros_like(var)
    c0 = -1.0 / (k - 1)
    v0 = -0.5 * math.log(2.0 * k / (k - 1))
    etf_off = -1.0 / (k * math.sqrt(k - 1))
    etf_diag = (1.0 - 1.0 / k) / math.sqrt(k - 1)
    gfro = gram_fro if gram_fro > 0 else 1.0
    dev_scale = (norms / gfro)[:, None]  # g / ||G||_F = (g / ||m_c||) * ||m_c|| / ||G||_F
    one = torch.ones((), dtype=torch.float64, device=m.device)
    acc = torch.zeros(7, dtype=torch.float64, device=m.device)
    for i0 in range(0, k, tile_rows):
        i1 = min(k, i0 + tile_rows)
        rows = scaled[i0:i1]
        n_i, sq_i, var_i = norms[i0:i1, None], sq[i0:i1, None], var[i0:i1]
        for j0 in range(i0, k, tile_rows):
            j1 = min(k, j0 + tile_rows)
            same = i0 == j0
            gs = rows @ m[j0:j1].T  # g / ||m_c||
            # ETF error over all ordered pairs (c, c'), the diagonal included
            diff = torch.addcmul(one * -etf_off, gs, dev_scale[i0:i1])
            if same:
                diff.diagonal().copy_(sq[i0:i1] / gfro - etf_diag)
                # pairs c < c' only from here on: the strict upper triangle of this tile
                keep = torch.ones_like(diff, dtype=torch.bool).triu_(1)
            flat = diff.view(-1)
            etf = torch.dot(flat, flat) * (1.0 if same else 2.0)
            # CDNV: w = 1 / (2 ||mu_c - mu_c'||^2); sum of (v_c + v_c') w over the tile
            dist2 = torch.addcmul(sq_i, gs, n_i, value=-2.0).add_(sq[None, j0:j1])
            dist2.clamp_min_(0.0)
            coincident = dist2 <= floor[i0:i1, None] + floor[None, j0:j1]
            w = dist2.mul_(2.0).reciprocal_().masked_fill_(coincident, math.inf)
            if same:
                w.masked_fill_(~keep, 0.0)
            # coincident class means give w = inf and a non-finite sum (checked at the end)
            cdnv = torch.dot(w.sum(1), var_i) + torch.dot(w.sum(0), var[j0:j1])
            # cosines around their ETF value and the hyperspherical log-energy around v0
            dev = torch.addcmul(one * -c0, gs, inv_norms[None, j0:j1], out=diff)
            logd = torch.add(one * (2.0 - 2.0 * c0), dev, alpha=-2.0, out=dist2)
            logd.clamp_min_(tiny).log_()
            logd = torch.add(one * -v0, logd, alpha=-0.5, out=logd)
            if same:
                dev, logd = dev[keep], logd[keep]
            dev, logd = dev.reshape(-1), logd.reshape(-1)
            acc += torch.stack(
                [
                    cdnv,
                    dev.sum(),
                    torch.dot(dev, dev),
                    torch.linalg.vector_norm(dev, ord=1),
                    logd.sum(),
                    torch.dot(logd, logd),
                    etf,
                ]
            )
    vals = acc.tolist()
    return ClassPairSums(
        pairs=k * (k - 1) // 2,
        cdnv_sum=vals[0] if math.isfinite(vals[0]) else math.inf,
        cos_dev_sum=vals[1],
        cos_dev_sq_sum=vals[2],
        cos_abs_dev_sum=vals[3],
        log_dev_sum=vals[4],
        log_dev_sq_sum=vals[5],
        log_etf_value=v0,
        etf_sq_sum=vals[6],
    )
