"""Class-pair sums by block: the blocks of any partition of the classes (each shard with
itself, every pair of shards once) add up to the sums over all pairs."""

import itertools

import torch

from collapsekit.functional.class_pair_geometry import (
    PairBlock,
    class_pair_block_sums,
    class_pair_sums,
    pair_sums_from_raw,
)


def test_blocks_of_a_partition_add_up_to_every_pair():
    g = torch.Generator().manual_seed(1)
    k, d = 23, 4
    m = torch.randn(k, d, generator=g, dtype=torch.float64)
    m -= m.mean(0)
    var = torch.rand(k, generator=g, dtype=torch.float64)
    floor = torch.full((k,), 1e-20, dtype=torch.float64)
    gfro = float(torch.linalg.matrix_norm(m.T @ m))
    whole = class_pair_sums(m, var, gfro, 5, coincident_sq=floor)
    bounds = [0, 6, 6, 15, 23]  # uneven shards, one empty
    blocks = [PairBlock(m[a:b], var[a:b], floor[a:b]) for a, b in itertools.pairwise(bounds)]
    raw = sum(class_pair_block_sums(b, None, k, gfro, 4) for b in blocks)
    for i in range(len(blocks)):
        for j in range(i + 1, len(blocks)):
            raw = raw + class_pair_block_sums(blocks[i], blocks[j], k, gfro, 4)
    parts = pair_sums_from_raw(raw, k)
    for field in ("cdnv_sum", "cos_dev_sum", "cos_dev_sq_sum", "cos_abs_dev_sum", "etf_sq_sum"):
        a, b = getattr(whole, field), getattr(parts, field)
        assert abs(a - b) <= 1e-10 * max(abs(a), 1.0), field
    assert abs(whole.log_dev_sq_sum - parts.log_dev_sq_sum) <= 1e-10 * whole.log_dev_sq_sum
    assert parts.pairs == k * (k - 1) // 2
