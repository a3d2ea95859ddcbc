"""The per-batch accumulation of ClassStats (``stats/class_batch.py``): the float32 mode's
rounding, its overflow guard, and the float32 column sums behind the scatter's diagonal."""

import numpy as np
import pytest
import torch

from collapsekit import ClassStats
from collapsekit.stats.class_batch import column_sums


@pytest.mark.parametrize("n", [1, 31, 32, 1000, 16_385])
def test_column_sums_match_a_float64_reference(n: int) -> None:
    g = torch.Generator().manual_seed(n)
    m = torch.rand(n, 7, generator=g) * 1e3
    ref = m.double().numpy().sum(axis=0)
    got = column_sums(m)
    assert got.dtype == torch.float64
    # each float32 run of 32 rows rounds by at most ~32 x 2^-24 / 2 of its sum
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-6)


def test_column_sums_of_runs_beat_one_float32_sum() -> None:
    g = torch.Generator().manual_seed(0)
    m = torch.rand(16_384, 64, generator=g).square()
    ref = m.double().sum(0)
    runs = ((column_sums(m) - ref).abs() / ref).max()
    plain = ((m.sum(0).double() - ref).abs() / ref).max()
    assert runs < 1e-7 and runs < plain


def test_float32_mode_rounds_each_residual_once():
    g = torch.Generator().manual_seed(3)
    y = torch.randint(0, 5, (900,), generator=g)
    x = 7.3 + torch.randn(5, 24, generator=g)[y] * 3 + torch.randn(900, 24, generator=g)
    exact, fast = ClassStats(5, 24), ClassStats(5, 24, precision="float32")
    for xb, yb in zip(x.split(128), y.split(128), strict=True):
        exact.update(xb, yb)
        fast.update(xb, yb)
    assert torch.equal(exact.counts, fast.counts)
    # class means, squares and the scatter's diagonal: float32 rounding of each residual and
    # square (~1e-7 of the spread), summed in float64 across batches, so it does not grow
    torch.testing.assert_close(fast.class_means(), exact.class_means(), rtol=0, atol=1e-6)
    assert not torch.equal(fast.class_means(), exact.class_means())
    torch.testing.assert_close(fast.resid_sq, exact.resid_sq, rtol=1e-6, atol=0)
    torch.testing.assert_close(fast.scatter.diagonal(), exact.scatter.diagonal(), rtol=1e-6, atol=0)
    # off the diagonal: float32 round-off of the products, near 1e-7 of the scale
    err = (fast.scatter - exact.scatter).abs().max() / exact.scatter.abs().max()
    assert 0 < err < 1e-5
    a, b = exact.neural_collapse(), fast.neural_collapse()
    assert abs(b["nc1"] / a["nc1"] - 1) < 1e-5
    assert fast.copy().precision == "float32"


def test_float32_mode_takes_rows_beyond_its_range_in_float64():
    """Entries past 2^48 would overflow float32 squares summed over a batch: such a batch is
    accumulated in float64, the same numbers as the default precision."""
    g = torch.Generator().manual_seed(4)
    y = torch.arange(64) % 4
    x = (torch.randn(64, 8, generator=g) * 1e17).float()
    exact, fast = ClassStats(4, 8), ClassStats(4, 8, precision="float32")
    exact.update(x, y)
    fast.update(x, y)
    assert torch.isfinite(fast.scatter).all()
    torch.testing.assert_close(fast.scatter, exact.scatter, rtol=1e-13, atol=0)
    torch.testing.assert_close(fast.resid_sq, exact.resid_sq, rtol=1e-13, atol=0)


def test_float32_mode_streams_without_drift():
    """Each float32 sum spans one batch's class or a 32-row run: on 64 batches of rows far
    from the origin the class means stay within float32 rounding of the residuals."""
    g = torch.Generator().manual_seed(5)
    exact, fast = ClassStats(3, 16), ClassStats(3, 16, precision="float32")
    for _ in range(64):
        y = torch.randint(0, 3, (512,), generator=g)
        x = 1e3 + torch.randn(512, 16, generator=g)
        exact.update(x, y)
        fast.update(x, y)
    drift = (fast.class_means() - exact.class_means()).abs().max()
    assert drift < 1e-6
    assert abs(fast.neural_collapse()["nc1"] / exact.neural_collapse()["nc1"] - 1) < 1e-4
