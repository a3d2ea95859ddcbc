"""alpha-ReQ against exact power laws, a float64 numpy reference and reptrix's algorithm."""

import numpy as np
import pytest
import torch

from collapsekit import functional as F
from collapsekit.functional.alpha_req import power_law_fit


def exact_spectrum(eigenvalues, n, seed=0):
    """Rows whose covariance (1/N, centred) has exactly the given eigenvalues, rotated."""
    rng = np.random.default_rng(seed)
    d = len(eigenvalues)
    z = rng.standard_normal((n, d))
    q, _ = np.linalg.qr(z - z.mean(0))  # orthonormal centred columns: q^T q = I
    rot, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return (q * np.sqrt(n * np.asarray(eigenvalues))) @ rot.T


def reference_alpha(x, first, last, inverse_rank=False):
    """From the paper: eigenvalues of the covariance, least-squares line in log-log."""
    lam = np.sort(np.linalg.eigvalsh(np.cov(np.asarray(x, dtype=np.float64).T, bias=True)))[::-1]
    ranks = np.arange(first, last + 1, dtype=np.float64)
    logy = np.log(lam[first - 1 : last])
    if not inverse_rank:
        slope, _ = np.polyfit(np.log(ranks), logy, 1)
        return -slope
    # reptrix's normal equations (after Stringer et al.), weights 1/rank, in float64
    xm = np.stack([-np.log(ranks), np.ones_like(ranks)], 1)
    w = (1.0 / ranks)[:, None]
    return np.linalg.solve(xm.T @ (xm * w), (w * xm).T @ logy[:, None])[0, 0]


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.7, 3.0])
@pytest.mark.parametrize("weighting", ["uniform", "inverse_rank"])
def test_exact_power_law_returns_its_exponent(alpha, weighting):
    d = 120
    x = exact_spectrum(np.arange(1, d + 1) ** -alpha, n=400, seed=int(alpha * 10))
    for dtype in (torch.float64, torch.float32):
        got = F.alpha_req(torch.tensor(x, dtype=dtype), fit_range=(11, 100), weighting=weighting)
        assert got == pytest.approx(alpha, abs=1e-9 if dtype == torch.float64 else 2e-4)
    assert F.alpha_req(torch.tensor(x), fit_range=(1, d)) == pytest.approx(alpha, abs=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_equals_float64_reference_on_noisy_spectra(seed):
    rng = np.random.default_rng(seed)
    n, d = 600, 150
    x = rng.standard_normal((n, d)) * np.arange(1, d + 1) ** -0.6 * np.exp(0.2 * rng.normal(size=d))
    for weighting, inv in (("uniform", False), ("inverse_rank", True)):
        got = F.alpha_req(torch.tensor(x), weighting=weighting)
        assert got == pytest.approx(reference_alpha(x, 11, 100, inv), rel=1e-9)
    # the two weightings are a real convention difference on noisy spectra
    assert F.alpha_req(torch.tensor(x)) != pytest.approx(
        F.alpha_req(torch.tensor(x), weighting="inverse_rank"), rel=1e-6
    )


def test_invariances_rotation_scale_offset():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((500, 64)) * np.arange(1, 65) ** -0.8
    rot, _ = np.linalg.qr(rng.standard_normal((64, 64)))
    base = F.alpha_req(torch.tensor(x), fit_range=(2, 50))
    assert F.alpha_req(torch.tensor(x @ rot), fit_range=(2, 50)) == pytest.approx(base, rel=1e-9)
    assert F.alpha_req(torch.tensor(7.5 * x + 3.0), fit_range=(2, 50)) == pytest.approx(
        base, rel=1e-9
    )


def test_from_eigenvalues_fit_details_and_clipping():
    lam = torch.arange(1, 31, dtype=torch.float64) ** -1.25
    assert F.alpha_req_from_eigenvalues(lam.flip(0), fit_range=(1, 30)) == pytest.approx(1.25)
    fit = power_law_fit(torch.cat([lam, torch.zeros(5)]), fit_range=(3, 1000))
    assert (fit.first, fit.last) == (3, 30)  # clipped to the non-zero eigenvalues
    assert fit.r2 == pytest.approx(1.0) and fit.intercept == pytest.approx(0.0, abs=1e-12)
    noisy = lam * torch.tensor(np.exp(0.3 * np.random.default_rng(0).normal(size=30)))
    assert 0 < power_law_fit(noisy, fit_range=(1, 30)).r2 < 1


def test_bad_input_and_degenerate_cases():
    with pytest.raises(ValueError, match="fit_range: expected at least two non-zero"):
        F.alpha_req(torch.randn(50, 8))  # default (11, 100) but only 8 eigenvalues
    with pytest.raises(ValueError, match="fit_range: expected at least two non-zero"):
        F.alpha_req(torch.ones(20, 4), fit_range=(1, 4))  # constant: no variance
    with pytest.raises(ValueError, match="fit_range: expected"):
        F.alpha_req(torch.randn(50, 8), fit_range=(3, 2))
    with pytest.raises(ValueError, match="weighting"):
        F.alpha_req(torch.randn(50, 8), fit_range=(1, 8), weighting="log")
    with pytest.raises(ValueError, match="eigenvalues: expected finite"):
        F.alpha_req_from_eigenvalues(torch.tensor([1.0, float("nan"), 0.5]), (1, 3))
