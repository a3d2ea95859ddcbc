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

    The sweep is :func:`class_pair_block_sums` of the classes with themselves, finished by
    :func:`pair_sums_from_raw`; class-sharded statistics
    (:class:`collapsekit.engine.sharded.ShardedAnalyzer`) add the same raw sums over blocks of
    two shards instead.

    Example:
        >>> import torch
        >>> m = torch.tensor([[1.0, 0.0], [-0.5, 3**0.5 / 2], [-0.5, -(3**0.5) / 2]],
        ...                  dtype=torch.float64)
        >>> s = class_pair_sums(m, torch.zeros(3, dtype=torch.float64),
        ...                     float(torch.linalg.norm(m.T @ m)), tile_rows=2)
        >>> s.pairs, abs(s.cos_abs_dev_sum) < 1e-12, abs(s.etf_sq_sum) < 1e-12
        (3, True, True)
    """
    k = centred_means.shape[0]
    side = PairBlock(centred_means, variances, coincident_sq)
    return pair_sums_from_raw(class_pair_block_sums(side, None, k, gram_fro, tile_rows), k)


@dataclass(frozen=True)
class PairBlock:
    """One side of a block of class pairs: centred means (K_b, D) float64, their variances
    and rounding floors (``None``: 0)."""

    centred_means: torch.Tensor
    variances: torch.Tensor
    coincident_sq: torch.Tensor | None = None


def class_pair_block_sums(
    rows: PairBlock, cols: PairBlock | None, k: int, gram_fro: float, tile_rows: int
) -> torch.Tensor:
    """The seven raw pair sums (float64 tensor) over the pairs of one block of classes:
    ``rows`` with themselves (``cols=None``: the pairs c < c' within ``rows``) or every pair of
    a row class with a column class (two disjoint sets of classes). ``k`` is the number of
    classes over every block and ``gram_fro`` their ``||M~^T M~||_F``: the sums of disjoint
    blocks add up to the sums over all pairs (:func:`pair_sums_from_raw` finishes them).

    Example:
        >>> import torch
        >>> m = torch.tensor([[1.0, 0.0], [-0.5, 3**0.5 / 2], [-0.5, -(3**0.5) / 2]],
        ...                  dtype=torch.float64)
        >>> v, g = torch.zeros(3, dtype=torch.float64), float(torch.linalg.norm(m.T @ m))
        >>> whole = class_pair_block_sums(PairBlock(m, v), None, 3, g, 2)
        >>> a, b = PairBlock(m[:1], v[:1]), PairBlock(m[1:], v[1:])
        >>> blocks = [(a, None), (b, None), (a, b)]
        >>> parts = sum(class_pair_block_sums(s, c, 3, g, 2) for s, c in blocks)
        >>> bool(torch.allclose(whole, parts, atol=1e-12))
        True
    """
    sweep = _PairSweep.build(rows, cols, k, gram_fro, tile_rows)
    n_i, n_j = len(sweep.rows.starts), len(sweep.cols.starts)
    if cols is None:
        tiles = [(ti, tj) for ti in range(n_i) for tj in range(ti, n_i)]
    else:
        tiles = [(ti, tj) for ti in range(n_i) for tj in range(n_j)]
    if not tiles:
        return torch.zeros(7, dtype=torch.float64, device=rows.centred_means.device)
    # two halves of the tiles side by side, one intra-op thread each (no fork/join per small
    # tile operation); the halves' sums are added in a fixed order, so results do not depend
    # on the scheduling
    halves = [tiles[0::2], tiles[1::2]] if len(tiles) > 1 else [tiles]
    return torch.stack(map_independent(sweep.run, halves, sweep.rows.m.device)).sum(0)


def pair_sums_from_raw(raw: torch.Tensor, k: int) -> ClassPairSums:
    """:class:`ClassPairSums` of the raw sums of :func:`class_pair_block_sums` over every
    pair of ``k`` classes (``k >= 2``)."""
    vals = raw.tolist()
    alpha = (k - 1) / k
    return ClassPairSums(
        pairs=k * (k - 1) // 2,
        cdnv_sum=vals[0] if math.isfinite(vals[0]) else math.inf,
        cos_dev_sum=-vals[1] / alpha,
        cos_dev_sq_sum=vals[2] / alpha**2,
        cos_abs_dev_sum=vals[3] / alpha,
        log_dev_sum=-0.5 * vals[4],
        log_dev_sq_sum=0.25 * vals[5],
        log_etf_value=_etf_log_value(k),
        etf_sq_sum=vals[6],
    )


def _etf_log_value(k: int) -> float:
    """v0 = -0.5 log(2K/(K-1)): -log||u_c - u_c'|| of a simplex ETF."""
    return -0.5 * math.log(2.0 * k / (k - 1))


@dataclass
class _Side:
    """What the tiles read of one side of a block: the means, their squared norms and norms,
    the means divided by their norms, variances, floors and the per-tile largest floor."""

    m: torch.Tensor
    sq: torch.Tensor
    norms: torch.Tensor
    scaled: torch.Tensor
    var: torch.Tensor
    floor: torch.Tensor
    floor_max: list[float]
    dev_scale: torch.Tensor
    u_scale: torch.Tensor
    starts: list[int]

    @classmethod
    def build(
        cls, block: PairBlock, tile_rows: int, gfro: float, alpha: float, rows: bool = True
    ) -> _Side:
        """The side of ``block``; ``rows=False`` (a column side) skips the row-only copy of
        the means divided by their norms."""
        m = block.centred_means.double()
        kb = m.shape[0]
        sq = m.square().sum(1)
        norms = sq.sqrt().clamp_min(torch.finfo(torch.float64).tiny)
        inv_norms = 1.0 / norms
        var = block.variances.double()
        cs = block.coincident_sq
        floor = cs.double() if cs is not None else torch.zeros_like(var)
        return cls(
            m=m,
            sq=sq,
            norms=norms,
            # tile GEMM gives g_cc' / ||m_c||
            scaled=m * inv_norms[:, None] if rows else m[:0],
            var=var,
            floor=floor,
            floor_max=[float(floor[i : i + tile_rows].max()) for i in range(0, kb, tile_rows)],
            # g / ||G||_F = (g / ||m_c||) * ||m_c|| / ||G||_F
            dev_scale=(norms / gfro)[:, None],
            u_scale=(-alpha * inv_norms)[None, :],
            starts=list(range(0, kb, tile_rows)),
        )


@dataclass
class _PairSweep:
    """What every tile of a block reads: its two sides and the ETF constants of ``k``
    classes."""

    rows: _Side
    cols: _Side
    diagonal: bool
    tile_rows: int
    c0: float
    alpha: float
    log_floor: float
    etf_off: float
    etf_diag: float
    gfro: float
    one: torch.Tensor

    @classmethod
    def build(
        cls, rows: PairBlock, cols: PairBlock | None, k: int, gram_fro: float, tile_rows: int
    ) -> _PairSweep:
        # the log-energy term around its ETF value: -log||u_c - u_c'|| - v0 = -0.5 log1p(u)
        # with u = -alpha (cos - c0), alpha = (K - 1) / K; log1p keeps it exact to rounding
        # near the ETF. Coinciding directions (u = -1) are clamped as -0.5 log(tiny) - v0.
        alpha = (k - 1) / k
        gfro = gram_fro if gram_fro > 0 else 1.0
        row_side = _Side.build(rows, tile_rows, gfro, alpha)
        col_side = row_side if cols is None else _Side.build(cols, tile_rows, gfro, alpha, False)
        return cls(
            rows=row_side,
            cols=col_side,
            diagonal=cols is None,
            tile_rows=tile_rows,
            c0=-1.0 / (k - 1),
            alpha=alpha,
            log_floor=math.log(torch.finfo(torch.float64).tiny) + 2.0 * _etf_log_value(k),
            etf_off=-1.0 / (k * math.sqrt(k - 1)),
            etf_diag=(1.0 - 1.0 / k) / math.sqrt(k - 1),
            gfro=gfro,
            one=torch.ones((), dtype=torch.float64, device=row_side.m.device),
        )

    def run(self, tiles: list[tuple[int, int]]) -> torch.Tensor:
        """The seven sums over ``tiles`` (pairs of tile indices)."""
        acc = torch.zeros(7, dtype=torch.float64, device=self.one.device)
        for ti, tj in tiles:
            acc += self.tile(ti, tj)
        return acc

    def tile(self, ti: int, tj: int) -> torch.Tensor:
        """[cdnv, sum u, sum u^2, sum |u|, sum log1p(u), sum log1p(u)^2, etf] of one tile."""
        r, c, tile_rows, one = self.rows, self.cols, self.tile_rows, self.one
        i0, j0 = r.starts[ti], c.starts[tj]
        i1, j1 = min(r.m.shape[0], i0 + tile_rows), min(c.m.shape[0], j0 + tile_rows)
        n_i, sq_i, var_i = r.norms[i0:i1, None], r.sq[i0:i1, None], r.var[i0:i1]
        var_j = c.var[j0:j1]
        same = self.diagonal and ti == tj
        gs = r.scaled[i0:i1] @ c.m[j0:j1].T  # g / ||m_c||
        # ETF error over all ordered pairs (c, c'), the diagonal included
        diff = torch.addcmul(one * -self.etf_off, gs, r.dev_scale[i0:i1])
        if same:
            diff.diagonal().copy_(r.sq[i0:i1] / self.gfro - self.etf_diag)
        flat = diff.view(-1)
        etf = torch.dot(flat, flat) * (1.0 if same else 2.0)
        # CDNV: w = 1 / ||mu_c - mu_c'||^2 (the 1/2 is applied to the total); the tile's
        # sum of (v_c + v_c') w is one product of w with [1, v_c']. A pair within its
        # rounding floor is coincident (w = inf); the mask only runs where one can be.
        dist2 = torch.addcmul(sq_i, gs, n_i, value=-2.0).add_(c.sq[None, j0:j1])
        close = float(dist2.min()) <= r.floor_max[ti] + c.floor_max[tj]
        w = dist2.reciprocal_()  # coincident pairs at exactly 0 give inf already
        if close:
            coincident = dist2 <= r.floor[i0:i1, None] + c.floor[None, j0:j1]
            w.masked_fill_(coincident, math.inf)
        if same:
            w.triu_(1)  # pairs c < c' only
        sums = w @ torch.stack([torch.ones_like(var_j), var_j], 1)
        # coincident class means give w = inf and a non-finite sum (checked at the end)
        cdnv = 0.5 * (torch.dot(sums[:, 0], var_i) + sums[:, 1].sum())
        # u = -alpha (cos + 1/(K-1)); the cosine sums are read from it
        u = torch.addcmul(one * (self.alpha * self.c0), gs, c.u_scale[:, j0:j1], out=diff)
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
