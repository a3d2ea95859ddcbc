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

from collapsekit._threads import map_independent


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
    tile holds ``g_cc' / ||m_c||``) and about 12 elementwise passes over each cache-sized
    tile, half of them reads only: the CDNV sum over a tile is one product of
    ``W = 1 / ||mu_c - mu_c'||^2`` with ``[1, v]`` (sum over pairs of (v_c + v_c') w_cc' =
    v . (W 1) + 1 . (W v)), the coincidence mask runs only on tiles whose closest pair is
    within the largest rounding floor, the cosine sums are read from the log-energy's
    argument, and the log1p clamp only where a cosine reaches 1.

    Example:
        >>> import torch
        >>> m = torch.tensor([[1.0, 0.0], [-0.5, 3**0.5 / 2], [-0.5, -(3**0.5) / 2]],
        ...                  dtype=torch.float64)
        >>> s = class_pair_sums(m, torch.zeros(3, dtype=torch.float64),
        ...                     float(torch.linalg.norm(m.T @ m)), tile_rows=2)
        >>> s.pairs, abs(s.cos_abs_dev_sum) < 1e-12, abs(s.etf_sq_sum) < 1e-12
        (3, True, True)
    """
    sweep = _PairSweep.build(centred_means, variances, gram_fro, tile_rows, coincident_sq)
    n_tiles = len(sweep.starts)
    tiles = [(ti, tj) for ti in range(n_tiles) for tj in range(ti, n_tiles)]
    # two halves of the tiles side by side, one intra-op thread each (no fork/join per small
    # tile operation); the halves' sums are added in a fixed order, so results do not depend
    # on the scheduling
    halves = [tiles[0::2], tiles[1::2]] if len(tiles) > 1 else [tiles]
    acc = torch.stack(map_independent(sweep.run, halves, sweep.m.device)).sum(0)
    vals = acc.tolist()
    k, alpha = sweep.k, sweep.alpha
    return ClassPairSums(
        pairs=k * (k - 1) // 2,
        cdnv_sum=vals[0] if math.isfinite(vals[0]) else math.inf,
        cos_dev_sum=-vals[1] / alpha,
        cos_dev_sq_sum=vals[2] / alpha**2,
        cos_abs_dev_sum=vals[3] / alpha,
        log_dev_sum=-0.5 * vals[4],
        log_dev_sq_sum=0.25 * vals[5],
        log_etf_value=sweep.v0,
        etf_sq_sum=vals[6],
    )


@dataclass
class _PairSweep:
    """What every tile of :func:`class_pair_sums` reads: the means, their norms, the
    variances, the rounding floors and the ETF constants."""

    m: torch.Tensor
    k: int
    tile_rows: int
    sq: torch.Tensor
    norms: torch.Tensor
    scaled: torch.Tensor
    var: torch.Tensor
    floor: torch.Tensor
    floor_max: list[float]
    c0: float
    v0: float
    alpha: float
    log_floor: float
    etf_off: float
    etf_diag: float
    gfro: float
    dev_scale: torch.Tensor
    u_scale: torch.Tensor
    one: torch.Tensor
    starts: list[int]

    @classmethod
    def build(
        cls,
        centred_means: torch.Tensor,
        variances: torch.Tensor,
        gram_fro: float,
        tile_rows: int,
        coincident_sq: torch.Tensor | None,
    ) -> _PairSweep:
        m = centred_means.double()
        k = m.shape[0]
        sq = m.square().sum(1)
        tiny = torch.finfo(torch.float64).tiny
        norms = sq.sqrt().clamp_min(tiny)
        inv_norms = 1.0 / norms
        var = variances.double()
        floor = coincident_sq.double() if coincident_sq is not None else torch.zeros_like(var)
        v0 = -0.5 * math.log(2.0 * k / (k - 1))
        # the log-energy term around its ETF value: -log||u_c - u_c'|| - v0 = -0.5 log1p(u)
        # with u = -alpha (cos - c0), alpha = (K - 1) / K; log1p keeps it exact to rounding
        # near the ETF. Coinciding directions (u = -1) are clamped as -0.5 log(tiny) - v0.
        alpha = (k - 1) / k
        gfro = gram_fro if gram_fro > 0 else 1.0
        return cls(
            m=m,
            k=k,
            tile_rows=tile_rows,
            sq=sq,
            norms=norms,
            scaled=m * inv_norms[:, None],  # tile GEMM gives g_cc' / ||m_c||
            var=var,
            floor=floor,
            floor_max=[float(floor[i : i + tile_rows].max()) for i in range(0, k, tile_rows)],
            c0=-1.0 / (k - 1),
            v0=v0,
            alpha=alpha,
            log_floor=math.log(tiny) + 2.0 * v0,
            etf_off=-1.0 / (k * math.sqrt(k - 1)),
            etf_diag=(1.0 - 1.0 / k) / math.sqrt(k - 1),
            gfro=gfro,
            # g / ||G||_F = (g / ||m_c||) * ||m_c|| / ||G||_F
            dev_scale=(norms / gfro)[:, None],
            u_scale=(-alpha * inv_norms)[None, :],
            one=torch.ones((), dtype=torch.float64, device=m.device),
            starts=list(range(0, k, tile_rows)),
        )

    def run(self, tiles: list[tuple[int, int]]) -> torch.Tensor:
        """The seven sums over ``tiles`` (pairs of tile indices)."""
        acc = torch.zeros(7, dtype=torch.float64, device=self.m.device)
        for ti, tj in tiles:
            acc += self.tile(ti, tj)
        return acc

    def tile(self, ti: int, tj: int) -> torch.Tensor:
        """[cdnv, sum u, sum u^2, sum |u|, sum log1p(u), sum log1p(u)^2, etf] of one tile."""
        k, tile_rows, sq, var, one = self.k, self.tile_rows, self.sq, self.var, self.one
        i0, j0 = self.starts[ti], self.starts[tj]
        i1, j1 = min(k, i0 + tile_rows), min(k, j0 + tile_rows)
        rows = self.scaled[i0:i1]
        n_i, sq_i, var_i = self.norms[i0:i1, None], sq[i0:i1, None], var[i0:i1]
        same = i0 == j0
        gs = rows @ self.m[j0:j1].T  # g / ||m_c||
        # ETF error over all ordered pairs (c, c'), the diagonal included
        diff = torch.addcmul(one * -self.etf_off, gs, self.dev_scale[i0:i1])
        if same:
            diff.diagonal().copy_(sq[i0:i1] / self.gfro - self.etf_diag)
        flat = diff.view(-1)
        etf = torch.dot(flat, flat) * (1.0 if same else 2.0)
        # CDNV: w = 1 / ||mu_c - mu_c'||^2 (the 1/2 is applied to the total); the tile's
        # sum of (v_c + v_c') w is one product of w with [1, v_c']. A pair within its
        # rounding floor is coincident (w = inf); the mask only runs where one can be.
        dist2 = torch.addcmul(sq_i, gs, n_i, value=-2.0).add_(sq[None, j0:j1])
        close = float(dist2.min()) <= self.floor_max[ti] + self.floor_max[tj]
        w = dist2.reciprocal_()  # coincident pairs at exactly 0 give inf already
        if close:
            coincident = dist2 <= self.floor[i0:i1, None] + self.floor[None, j0:j1]
            w.masked_fill_(coincident, math.inf)
        if same:
            w.triu_(1)  # pairs c < c' only
        sums = w @ torch.stack([torch.ones_like(var[j0:j1]), var[j0:j1]], 1)
        # coincident class means give w = inf and a non-finite sum (checked at the end)
        cdnv = 0.5 * (torch.dot(sums[:, 0], var_i) + sums[:, 1].sum())
        # u = -alpha (cos + 1/(K-1)); the cosine sums are read from it
        u = torch.addcmul(one * (self.alpha * self.c0), gs, self.u_scale[:, j0:j1], out=diff)
        if same:
            u = u[torch.ones_like(u, dtype=torch.bool).triu_(1)]
        u = u.reshape(-1)
        u_sum, u_sq, u_abs = u.sum(), torch.dot(u, u), torch.linalg.vector_norm(u, ord=1)
        if u.numel() and float(u.min()) <= -1.0:  # a cosine at (or by rounding above) 1
            u.clamp_min_(-1.0)
            logd = torch.log1p(u, out=u).clamp_min_(self.log_floor)
        else:
            logd = torch.log1p(u, out=u)
        # logd holds log1p(u) = -2 (-log||u_c - u_c'|| - v0): rescaled in the sums below
        return torch.stack([cdnv, u_sum, u_sq, u_abs, logd.sum(), torch.dot(logd, logd), etf])
