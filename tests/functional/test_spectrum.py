"""Spectra of float32 input match a float64 computation on the same stored values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from collapsekit.functional import effective_rank, rankme
from collapsekit.functional.spectrum import singular_values, singular_values_from_covariance


@pytest.fixture(autouse=True)
def _one_thread():
    """MKL's multi-threaded eigvalsh slows down 100x when the cores are oversubscribed
    (measured 17 s vs 0.1 s for 768 x 768 on the shared 2-core machine): use one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _numpy_rankme(x: np.ndarray, eps: float = 1e-7) -> float:
    xd = x.astype(np.float64)
    s = np.sqrt(np.clip(np.linalg.eigvalsh(xd.T @ xd), 0.0, None))
    p = s / s.sum() + eps
    return float(np.exp(-(p * np.log(p)).sum()))


def test_rankme_float32_with_offset_matches_float64() -> None:
    x = torch.randn(1000, 384, generator=torch.Generator().manual_seed(0)) + 1e3
    got = rankme(x)
    assert got == pytest.approx(rankme(x.double()), rel=1e-6)
    assert got == pytest.approx(_numpy_rankme(x.numpy()), rel=1e-6)


def test_rank3_data_in_768_dims_has_effective_rank_below_3() -> None:
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(300, 3, generator=g) @ torch.randn(3, 768, generator=g)).float()
    xd = x.double().numpy() - x.double().numpy().mean(0)
    s = np.sort(np.sqrt(np.clip(np.linalg.eigvalsh(xd @ xd.T), 0.0, None)))[::-1]
    # the stored float32 values carry storage noise (singular values ~5e-9 x the largest);
    # the documented cut drops singular values below sqrt(max(N, D) eps) x the largest
    s = s[s > s[0] * np.sqrt(768 * np.finfo(np.float64).eps)]
    p = s / s.sum()
    ref = float(np.exp(-(p * np.log(p)).sum()))
    got = effective_rank(x)
    assert got < 3.0
    assert got == pytest.approx(effective_rank(x.double()), rel=1e-12)
    assert got == pytest.approx(ref, rel=1e-6)
    assert (singular_values(x) > 0).sum() == 3


@pytest.mark.parametrize("scale", [1e-160, 1e150])
def test_spectrum_is_scale_invariant_at_extreme_magnitudes(scale: float) -> None:
    x = torch.randn(40, 6, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert effective_rank(x * scale) == pytest.approx(effective_rank(x), rel=1e-9)
    s = singular_values(x * scale, center=False)
    assert torch.allclose(s / scale, singular_values(x, center=False), rtol=1e-9)


def test_spectrum_from_covariance_at_tiny_scale() -> None:
    cov = torch.diag(torch.tensor([4.0, 1.0], dtype=torch.float64)) * 1e-300
    s = singular_values_from_covariance(cov, 4)
    assert torch.allclose(s, torch.tensor([4.0, 2.0], dtype=torch.float64) * 1e-150)


def test_half_and_bf16_spectrum_match_float64_of_stored_values() -> None:
    x = torch.randn(300, 16, generator=torch.Generator().manual_seed(3)) + 50
    for dt in (torch.float16, torch.bfloat16):
        stored = x.to(dt)
        assert rankme(stored) == pytest.approx(rankme(stored.double()), rel=1e-9)


def test_dead_directions_counts_below_one_percent_of_the_top_within_the_span() -> None:
    from collapsekit.functional.spectrum import dead_directions

    g = torch.Generator().manual_seed(0)
    scales = torch.tensor([1.0] * 6 + [1e-3] * 4, dtype=torch.float64)
    x = torch.randn(500, 10, generator=g, dtype=torch.float64) * scales
    assert dead_directions(singular_values(x), 500, 10) == 4
    # fewer rows than dimensions: only min(N - 1, D) directions can carry anything
    assert dead_directions(singular_values(x[:5]), 5, 10) == 0
    assert dead_directions(torch.zeros(10, dtype=torch.float64), 500, 10) == 10
    assert dead_directions(torch.ones(3, dtype=torch.float64), 1, 3) == 0
