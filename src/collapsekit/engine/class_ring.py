"""Collectives over classes sharded across the ranks of ``torch.distributed``, for
:class:`~collapsekit.engine.sharded.ShardedAnalyzer`.

:class:`RankShards` is the :class:`~collapsekit.functional.class_shards.ClassReduce` of the
NC kernel across ranks: sums and maxima are all-reduces of at most D x D, the K <= D case
gathers the (small) class means, and the class-pair sums go round a ring: each rank keeps its
own shard and sees the other shards one at a time, so no rank holds more than its own shard
and one visiting shard. :func:`ncc_ring` is NC4's second pass: each round, every rank's
batch of rows travels round the ring and meets every shard of class means and classifier
rows, keeping per row the best logit and the nearest mean so far.

Every function here is collective: every rank of the group calls it, in the same order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist

from collapsekit._threads import small_work_threads
from collapsekit.functional.class_pair_geometry import PairBlock, class_pair_block_sums
from collapsekit.functional.ncc_agreement import NCCBest, ncc_better, ncc_shard_best


class RankShards:
    """:class:`~collapsekit.functional.class_shards.ClassReduce` across the ranks of
    ``group`` (each rank one shard of the classes, in rank order); its own small tensors
    (sizes, counts) live on ``device`` (CUDA for NCCL)."""

    def __init__(self, group: Any = None, device: torch.device | None = None) -> None:
        self.group = group
        self.device = device if device is not None else torch.device("cpu")
        self.rank = dist.get_rank(group)
        self.world = dist.get_world_size(group)
        #: bytes this rank handed to collectives and sends, by kind (payload sizes: a ring
        #: all-reduce moves about twice its payload per rank)
        self.sent: dict[str, int] = {"all_reduce": 0, "ring": 0}

    def peer(self, rank: int) -> int:
        """The global rank of ``rank`` of the group (point-to-point calls take global ranks)."""
        rank %= self.world
        return rank if self.group is None else dist.get_global_rank(self.group, rank)

    def sum(self, t: torch.Tensor) -> torch.Tensor:
        """Elementwise sum over the ranks (a copy)."""
        out = t.clone()
        self.sent["all_reduce"] += out.numel() * out.element_size()
        dist.all_reduce(out, group=self.group)
        return out

    def max(self, t: torch.Tensor) -> torch.Tensor:
        """Elementwise maximum over the ranks (a copy)."""
        out = t.clone()
        dist.all_reduce(out, op=dist.ReduceOp.MAX, group=self.group)
        return out

    def sizes(self, rows: int) -> list[int]:
        """Every rank's ``rows``, in rank order."""
        t = torch.zeros(self.world, dtype=torch.int64, device=self.device)
        t[self.rank] = rows
        return [int(v) for v in self.sum(t)]

    def all_rows(self, t: torch.Tensor) -> torch.Tensor:
        """Every rank's rows of ``t``, concatenated in rank order (padded all-gather)."""
        sizes = self.sizes(t.shape[0])
        top = max(sizes)
        padded = torch.zeros((top, *t.shape[1:]), dtype=t.dtype, device=t.device)
        padded[: t.shape[0]] = t
        parts = [torch.empty_like(padded) for _ in range(self.world)]
        dist.all_gather(parts, padded, group=self.group)
        return torch.cat([p[:n] for p, n in zip(parts, sizes, strict=True)])

    def shift(self, t: torch.Tensor, recv_rows: int) -> torch.Tensor:
        """Send ``t`` to the next rank and receive ``recv_rows`` rows of the same width and
        dtype from the previous one (an empty side sends or receives nothing)."""
        buf = torch.empty((recv_rows, *t.shape[1:]), dtype=t.dtype, device=t.device)
        ops = []
        if t.shape[0]:
            self.sent["ring"] += t.numel() * t.element_size()
            ops.append(dist.P2POp(dist.isend, t.contiguous(), self.peer(self.rank + 1), self.group))
        if recv_rows:
            ops.append(dist.P2POp(dist.irecv, buf, self.peer(self.rank - 1), self.group))
        if ops:
            for work in dist.batch_isend_irecv(ops):
                work.wait()
        return buf

    def pair_sums(self, block: PairBlock, k: int, gram_fro: float, tile_rows: int) -> torch.Tensor:
        """The raw class-pair sums over every pair of the ``k`` classes: this shard with
        itself, then with the shards of ranks ``r-1, r-2, ...`` as they come round the ring;
        each pair of shards is met once (steps 1 .. W/2; at step W/2 of an even ring only the
        first half of the ranks counts it), and the sums are all-reduced."""
        m = block.centred_means
        d = m.shape[1]
        floor = block.coincident_sq
        if floor is None:
            floor = torch.zeros_like(block.variances)
        sizes = self.sizes(m.shape[0])
        visiting = torch.cat([m, block.variances[:, None], floor[:, None]], 1).double()
        with small_work_threads(float(k) * k * d / self.world, m.device):
            raw = class_pair_block_sums(block, None, k, gram_fro, tile_rows)
            for step in range(1, self.world // 2 + 1):
                visiting = self.shift(visiting, sizes[(self.rank - step) % self.world])
                if 2 * step == self.world and self.rank >= step:
                    continue  # the other half of an even ring counts these pairs
                cols = PairBlock(visiting[:, :d], visiting[:, d], visiting[:, d + 1])
                raw = raw + class_pair_block_sums(block, cols, k, gram_fro, tile_rows)
        return self.sum(raw)


def _pack(best: NCCBest) -> torch.Tensor:
    """The four per-row scores as one float64 tensor (class ids exact below 2^53)."""
    return torch.stack(
        [best.logit, best.logit_class.double(), best.distance, best.mean_class.double()], 1
    )


def _unpack(scores: torch.Tensor) -> NCCBest:
    return NCCBest(scores[:, 0], scores[:, 1].long(), scores[:, 2], scores[:, 3].long())


# size: the shard's NC4 inputs, each a distinct tensor
def ncc_ring(
    shards: RankShards,
    batches: Iterator[torch.Tensor | None],
    centred_means: torch.Tensor,
    mean_ids: torch.Tensor,
    center: torch.Tensor,
    weights: torch.Tensor,
    bias: torch.Tensor | None,
    weight_offset: int,
) -> tuple[int, int]:
    """(rows where the classifier agrees with the nearest class mean, rows) over every
    rank's ``batches`` (float rows; the ranks may have different numbers of batches).

    Each round every rank takes its next batch (none once its batches are exhausted); the
    batches then go round the ring, each rank scoring the batch it holds against its own
    shard (``centred_means`` of the classes ``mean_ids``, ``weights`` and ``bias`` of the
    classifier rows from ``weight_offset``) and combining with :func:`ncc_better`. After
    W - 1 hops a batch has met every shard and its agreement is counted where it is."""
    sq = centred_means.square().sum(1)
    dim = centred_means.shape[1]

    def score(h: torch.Tensor) -> NCCBest:
        best = ncc_shard_best(
            h.double(), centred_means, sq, center, weights, bias, weight_offset=weight_offset
        )
        if mean_ids.numel():
            best = best._replace(mean_class=mean_ids[best.mean_class])
        return best

    agree, total = 0, 0
    while True:
        x = next(batches, None)
        meta = torch.zeros(shards.world, 2, dtype=torch.int64, device=shards.device)
        meta[shards.rank, 0] = -1 if x is None else x.shape[0]
        meta[shards.rank, 1] = int(x is not None and x.dtype == torch.float64)
        meta = shards.sum(meta)
        if bool((meta[:, 0] < 0).all()):
            return agree, total
        wire = torch.float64 if bool(meta[:, 1].any()) else torch.float32
        h = torch.zeros(0, dim, dtype=wire) if x is None else x.to(wire)
        h = h.to(centred_means.device)
        best = score(h)
        rows = meta[:, 0].clamp_min(0).tolist()
        for step in range(1, shards.world):
            n_in = int(rows[(shards.rank - step) % shards.world])
            h, scores = shards.shift(h, n_in), shards.shift(_pack(best), n_in)
            best = ncc_better(_unpack(scores), score(h))
        agree += int((best.logit_class == best.mean_class).sum())
        total += h.shape[0]
