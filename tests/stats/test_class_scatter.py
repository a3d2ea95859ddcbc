"""PerClassScatter: per-class covariances equal the direct ones, for classes of many rows (one
GEMM each) and of few rows (accumulated together) in the same batches."""

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
