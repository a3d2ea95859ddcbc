"""The pairwise probe behind the merged-classes confirmation: power along one direction, the
exact permutation null, and its degenerate cases."""

from __future__ import annotations

import pytest
import torch

from collapsekit.functional.pair_probe import pair_probe_test


def _rows(m: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(m, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_a_shift_along_one_low_variance_direction_is_separated() -> None:
    # variance 1 in 59 directions, 0.01 in the last; the shift (1.0) lives in the last only:
    # ||shift||^2 is 1/60 of the total variance, but 10 sds along its own direction
    x = _rows(60, 60, 0)
    x[:, -1] *= 0.1
    y = torch.arange(60) % 2
    x[y == 1, -1] += 1.0
    r = pair_probe_test(x, y, permutations=199)
    assert r.accuracy >= 0.85 and r.p_value == pytest.approx(1 / 200) and r.z > 3


def test_the_null_is_exact_on_random_splits() -> None:
    # one population split at random: p-values are uniform, so rejections at 0.05 stay rare
    rejected = 0
    for seed in range(30):
        x = _rows(40, 30, 100 + seed)
        y = torch.randperm(40, generator=torch.Generator().manual_seed(seed)) % 2
        r = pair_probe_test(x, y, permutations=99, seed=seed)
        assert 0.3 < r.null_mean < 0.7
        rejected += r.p_value <= 0.05
    assert rejected <= 5  # expectation 1.5; P(X > 5) < 0.5% for Binomial(30, 0.05)


def test_degenerate_and_invalid_inputs() -> None:
    x = _rows(6, 4, 1)
    one_row = pair_probe_test(x, torch.tensor([0, 1, 1, 1, 1, 1]), permutations=9)
    assert one_row.p_value == 1.0 and one_row.permutations == 0
    with pytest.raises(ValueError, match="y: expected exactly two classes"):
        pair_probe_test(x, torch.tensor([0, 1, 2, 0, 1, 2]))
    with pytest.raises(ValueError, match=r"x, y: expected \(m, D\) rows"):
        pair_probe_test(x, torch.tensor([0, 1]))


def test_rows_per_class_are_capped() -> None:
    x = _rows(300, 5, 2)
    y = (torch.arange(300) < 250).long()
    assert pair_probe_test(x, y, permutations=9, max_rows_per_class=40).rows == 80
