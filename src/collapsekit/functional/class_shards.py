"""Reductions over the classes of a metric kernel, whether they sit in one process or are
sharded across processes.

A kernel written against :class:`ClassReduce` reads only its own rows of the class axis (the
class means of one shard, say) and combines them through four operations: an elementwise sum
and maximum over shards, the concatenation of every shard's rows (only for small tensors) and
the raw class-pair sums (:func:`~collapsekit.functional.class_pair_geometry.class_pair_block_sums`)
over every pair of classes. :data:`ONE_PROCESS` does them for a single shard holding every
class; :class:`collapsekit.engine.sharded.ShardedAnalyzer` does them across ranks of
``torch.distributed``. So a metric has one formula, whatever the layout of its classes.
"""

from __future__ import annotations

from typing import Protocol

import torch

from collapsekit._threads import small_work_threads
from collapsekit.functional.class_pair_geometry import PairBlock, class_pair_block_sums


class ClassReduce(Protocol):
    """The reductions over every shard of the class axis that a metric kernel needs."""

    def sum(self, t: torch.Tensor) -> torch.Tensor:
        """Elementwise sum of ``t`` over every shard."""

    def max(self, t: torch.Tensor) -> torch.Tensor:
        """Elementwise maximum of ``t`` over every shard."""

    def all_rows(self, t: torch.Tensor) -> torch.Tensor:
        """Every shard's rows of ``t`` (K_shard x ...), concatenated in class order."""

    def pair_sums(self, block: PairBlock, k: int, gram_fro: float, tile_rows: int) -> torch.Tensor:
        """The raw class-pair sums over every pair of the ``k`` classes, ``block`` being this
        shard's (:func:`~collapsekit.functional.class_pair_geometry.class_pair_block_sums`)."""


class OneProcess:
    """:class:`ClassReduce` of a single shard that holds every class: the identity.

    Example:
        >>> import torch
        >>> ONE_PROCESS.sum(torch.tensor([1.0, 2.0])).tolist()
        [1.0, 2.0]
    """

    def sum(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` itself (one shard)."""
        return t

    def max(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` itself (one shard)."""
        return t

    def all_rows(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` itself (one shard)."""
        return t

    def pair_sums(self, block: PairBlock, k: int, gram_fro: float, tile_rows: int) -> torch.Tensor:
        """The pair sums of the classes with themselves."""
        m = block.centred_means
        with small_work_threads(float(k) * k * m.shape[1], m.device):
            return class_pair_block_sums(block, None, k, gram_fro, tile_rows)


#: the reductions of a kernel whose classes are all in this process
ONE_PROCESS = OneProcess()
