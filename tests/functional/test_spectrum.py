"""Spectra of float32 input match a float64 computation on the same stored values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from collapsekit.functional import effective_rank, rankme
from collapsekit.functional.spectrum import (
    near_floor,
    singular_values,
    singular_values_from_covariance,
    singular_values_from_split,
    split_scatter,
)


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
    full = np.linalg.svd(xd, compute_uv=False)
    # the stored float32 values carry storage noise (singular values ~5e-9 x the largest):
    # the float64 SVD counts it; deflate=False cuts what the Gram does not resolve (below
    # sqrt(max(N, D) eps) x the largest)
    s = s[s > s[0] * np.sqrt(768 * np.finfo(np.float64).eps)]

    def entropy(v):
        p = v / v.sum()
        return float(np.exp(-(p * np.log(p)).sum()))

    got = effective_rank(x)
    assert got < 3.01  # not the 3.23 of a float32 scatter's floor
    assert got == pytest.approx(effective_rank(x.double()), rel=1e-12)
    assert got == pytest.approx(entropy(full), rel=1e-9)
    cut = singular_values(x, deflate=False)
    assert (cut > 0).sum() == 3
    assert entropy(cut.numpy()[:3]) == pytest.approx(entropy(s), rel=1e-6)


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


def _low_rank_rows(n: int, d: int, offset: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(5)
    a = torch.randn(n, 4, generator=g, dtype=torch.float64)
    return (a @ torch.randn(4, d, generator=g, dtype=torch.float64) + offset).float()


@pytest.mark.parametrize("shape", [(500, 128), (100, 300)])
def test_deflated_singular_values_resolve_a_float32_tail_below_the_floor(shape) -> None:
    # rank 4 + an offset of 100: the other singular values are the float32 storage round-off,
    # about 1e-7 of the largest (1e-14 in eigenvalue, below max(N, D) * eps64)
    x = _low_rank_rows(*shape, 100.0)
    x64 = x.double()
    want = torch.linalg.svdvals(x64 - x64.mean(0))[: min(shape) - 1]
    cut = singular_values(x, deflate=False)[: min(shape) - 1]
    assert not torch.allclose(cut, want, rtol=1e-2)  # the plain Gram route cuts the tail
    got = singular_values(x)[: min(shape) - 1]
    assert torch.allclose(got, want, rtol=1e-6, atol=0.0)
    raw = torch.linalg.svdvals(x64)
    assert torch.allclose(singular_values(x, center=False), raw, rtol=1e-6)


def test_split_spectrum_corrects_an_inexact_basis_through_the_cross_term() -> None:
    x = _low_rank_rows(400, 64, 100.0).double()
    xc = x - x.mean(0)
    want = torch.linalg.svdvals(xc)[:63]
    v = torch.linalg.svd(xc, full_matrices=False).Vh[:4].T
    g = torch.Generator().manual_seed(0)
    tilt = torch.linalg.qr(v + 1e-6 * torch.randn(v.shape, generator=g, dtype=v.dtype)).Q
    top, cross, tail = split_scatter(xc, tilt)
    got = singular_values_from_split(top, cross, tail, 400)[:63]
    assert torch.allclose(got, want, rtol=1e-6, atol=0.0)
    # without the Schur complement the leaked top directions swamp the tail
    plain = singular_values_from_split(top, torch.zeros_like(cross), tail, 400)[:63]
    assert float((plain[4:] / want[4:] - 1).abs().max()) > 1.0
    assert near_floor(singular_values(x.float(), deflate=False), 63, 400, 64)
    assert not near_floor(
        singular_values(torch.randn(400, 64, generator=g), deflate=False), 63, 400, 64
    )


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


def test_covariance_stack_keeps_each_scale_even_at_extreme_magnitudes() -> None:
    from collapsekit.functional.spectrum import singular_values_from_covariances

    base = torch.diag(torch.tensor([4.0, 1.0], dtype=torch.float64))
    covs = torch.stack([base * 1e-300, base, base * 1e300, torch.zeros(2, 2, dtype=torch.float64)])
    got = singular_values_from_covariances(covs, torch.tensor([4, 4, 4, 3]))
    assert torch.allclose(got[1], torch.tensor([4.0, 2.0], dtype=torch.float64))
    for row, scale in zip(got[:3], (1e-150, 1.0, 1e150), strict=True):
        assert torch.allclose(
            row / scale, torch.tensor([4.0, 2.0], dtype=torch.float64), rtol=1e-12
        )
    assert torch.equal(got[3], torch.zeros(2, dtype=torch.float64))
