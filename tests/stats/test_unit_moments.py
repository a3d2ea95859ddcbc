"""Streamed unit-vector moments keep the std of L2-normalised rows exact at large offsets."""

import torch

from collapsekit.functional import std_of_l2_normalized
from collapsekit.functional.std_of_l2_normalized import std_of_l2_normalized_from_moments
from collapsekit.stats.unit_moments import UnitVectorMoments


def test_float32_rows_at_a_large_offset_match_float64():
    """float32 rows 1e6 from the origin (classes in different directions, sorted by class so
    the first batch's shift is far from the later rows; two shards merged): within 1e-6 of
    the float64 value of the same rows."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(6000) % 3
    offsets = torch.randn(3, 16, generator=g) * 1e6
    x = (offsets[y] + 10 * torch.randn(6000, 16, generator=g)).float()
    order = torch.argsort(y)
    x, y = x[order], y[order]
    reference = std_of_l2_normalized(x.double())
    assert abs(std_of_l2_normalized(x) - reference) < 1e-6
    a, b = UnitVectorMoments(3, 16), UnitVectorMoments(3, 16)
    for i in range(0, 3000, 500):
        a.update(x[i : i + 500], y[i : i + 500])
    b.update(x[3000:], y[3000:])
    a.merge(b)
    streamed = std_of_l2_normalized_from_moments(a.n, a.dev_sum, a.dev_sq_sum)
    assert abs(streamed - reference) < 1e-6
