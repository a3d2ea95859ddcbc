"""PerClassScatter: per-class covariances equal the direct ones, for classes of many rows (one
GEMM each) and of few rows (accumulated together) in the same batches."""

import pytest
import torch

from collapsekit.stats.class_scatter import PerClassScatter


def _direct(x: torch.Tensor, y: torch.Tensor, c: int) -> torch.Tensor:
    rows = x[y == c].double()
    centred = rows - rows.mean(0)
    return centred.T @ centred / rows.shape[0]


def test_small_and_large_classes_match_the_direct_covariance():
    g = torch.Generator().manual_seed(0)
    # class 0: 300 rows; classes 1..200: 1-3 rows each; shuffled, in three batches
    y = torch.cat([torch.zeros(300, dtype=torch.long), torch.arange(1, 201).repeat(2)])
    y = torch.cat([y, torch.arange(1, 201, 3)])
    y = y[torch.randperm(y.numel(), generator=g)]
    x = torch.randn(y.numel(), 5, generator=g) * 2 + 10 + y[:, None].float()
    s = PerClassScatter(num_classes=201, dim=5)
    for xb, yb in zip(x.split(170), y.split(170), strict=True):
        s.update(xb, yb)
    assert torch.equal(s.counts, torch.bincount(y, minlength=201))
    for c in (0, 1, 4, 57, 200):
        assert torch.allclose(s.class_covariance(c), _direct(x, y, c), rtol=1e-5, atol=1e-6), c


def test_merge_of_two_halves_equals_one_pass():
    g = torch.Generator().manual_seed(1)
    y = torch.arange(50).repeat(3)
    x = torch.randn(150, 4, generator=g) + 5
    one = PerClassScatter(50, 4)
    one.update(x, y)
    a, b = PerClassScatter(50, 4), PerClassScatter(50, 4)
    a.update(x[:70], y[:70])
    b.update(x[70:], y[70:])
    a.merge(b)
    for c in range(0, 50, 7):
        assert torch.allclose(a.class_covariance(c), one.class_covariance(c), atol=1e-9)


def test_merge_through_a_mapping_reads_other_in_place():
    g = torch.Generator().manual_seed(2)
    y = torch.randint(0, 30, (400,), generator=g)
    x = torch.randn(400, 6, generator=g, dtype=torch.float64) * 3 + 7
    one = PerClassScatter(30, 6)
    one.update(x, y)
    # the second half counted under permuted ids 0..29 of a 40-class accumulator
    perm = torch.randperm(30, generator=g)
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(30)
    a, b = PerClassScatter(30, 6), PerClassScatter(40, 6)
    a.update(x[:150], y[:150])
    b.update(x[150:], inverse[y[150:]])
    before = {k: v.clone() for k, v in b.state_dict().items()}
    mapping = torch.cat([perm, torch.zeros(10, dtype=torch.long)])  # empty classes: anywhere
    a.merge(b, mapping)
    assert all(torch.equal(before[k], v) for k, v in b.state_dict().items())
    assert torch.equal(a.counts, one.counts)
    for c in range(30):
        torch.testing.assert_close(a.class_covariance(c), one.class_covariance(c))


def test_merge_refuses_a_mapping_of_the_wrong_length_or_range():
    a, b = PerClassScatter(3, 2), PerClassScatter(4, 2)
    for bad in (torch.arange(3), torch.tensor([0, 1, 2, 3])):
        with pytest.raises(ValueError, match="mapping"):
            a.merge(b, bad)
