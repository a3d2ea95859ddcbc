"""Routing rows to the rank that owns their class (``all_to_all``), for
:class:`~collapsekit.engine.sharded.ShardedAnalyzer`.

Two collectives per exchange: an ``all_to_all_single`` of the row counts (and each sender's
dtype), then one of the rows and one of their labels with those split sizes. ``gloo`` in torch
2.13 implements ``all_to_all_single`` with uneven splits on CPU tensors (checked with three
processes), so no point-to-point fallback is needed; NCCL implements it on CUDA tensors.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist


def owners(labels: torch.Tensor, bounds: list[int]) -> torch.Tensor:
    """The rank owning each label, rank r holding ``bounds[r] <= label < bounds[r + 1]``.

    Example:
        >>> owners(torch.tensor([0, 3, 4, 9]), [0, 4, 7, 10]).tolist()
        [0, 0, 1, 2]
    """
    inner = torch.tensor(bounds[1:-1], dtype=labels.dtype, device=labels.device)
    return torch.bucketize(labels, inner, right=True)


def route_to_owners(
    x: torch.Tensor, y: torch.Tensor, bounds: list[int], group: Any = None
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(rows, labels) this rank owns, gathered from every rank's ``x``, ``y`` (collective),
    and the bytes this rank sent to other ranks. Rows travel in float32 unless some rank
    holds float64 rows (then float64 for all, so nothing is rounded); rows from one sender
    keep their order."""
    world = len(bounds) - 1
    dest = owners(y, bounds)
    order = torch.argsort(dest, stable=True)
    send = torch.bincount(dest, minlength=world)
    wide = int(x.dtype == torch.float64)
    meta = torch.stack([send, torch.full_like(send, wide)], 1).flatten()  # on x's device (NCCL)
    got = torch.empty_like(meta)
    dist.all_to_all_single(got, meta, group=group)
    got = got.view(world, 2)
    wire = torch.float64 if bool(got[:, 1].any()) else torch.float32
    send_sizes, recv_sizes = send.tolist(), got[:, 0].tolist()
    rows = torch.empty(sum(recv_sizes), x.shape[1], dtype=wire, device=x.device)
    dist.all_to_all_single(rows, x[order].to(wire), recv_sizes, send_sizes, group=group)
    labels = torch.empty(sum(recv_sizes), dtype=torch.long, device=y.device)
    dist.all_to_all_single(labels, y[order].long(), recv_sizes, send_sizes, group=group)
    me = dist.get_rank(group)
    away = x.shape[0] - send_sizes[me]
    sent = meta.numel() * 8 + away * (x.shape[1] * rows.element_size() + 8)
    return rows, labels, sent
