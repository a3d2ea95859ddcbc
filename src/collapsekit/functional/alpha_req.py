"""alpha-ReQ (Agrawal et al. 2022): the power-law decay exponent of the covariance spectrum."""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple

import torch

from collapsekit.functional.spectrum import singular_values

FitWeighting = Literal["uniform", "inverse_rank"]
DEFAULT_FIT_RANGE = (11, 100)


class PowerLawFit(NamedTuple):
    """Least-squares fit ``log lambda_i = intercept - alpha * log i`` over ranks first..last."""

    alpha: float
    intercept: float
    r2: float
    first: int
    last: int


def alpha_req(
    features: Any,
    fit_range: tuple[int, int] = DEFAULT_FIT_RANGE,
    weighting: FitWeighting = "uniform",
) -> float:
    """alpha-ReQ: the decay exponent alpha of the eigenspectrum lambda_i ~ i^(-alpha).

    ``lambda_1 >= lambda_2 >= ...`` are the eigenvalues of the covariance of the column-centred
    features (N x D); alpha is the least-squares slope (sign flipped) of ``log lambda_i``
    against ``log i`` over the ranks ``i`` in ``fit_range`` (1-based, both ends included).

    Fit range: ``(11, 100)`` by default, the ranks the authors' reference implementation
    (reptrix, ``fit_range=np.arange(10, 100)`` on 0-based indices) fits: it skips the first ten
    eigenvalues (the few leading directions do not follow the tail's power law). ``last`` is
    clipped to the number of non-zero eigenvalues (at most min(N - 1, D)); when fewer than two
    ranks remain, a ValueError asks for a smaller range (for D = 64 use e.g. ``(2, 50)``).
    The normalisation of the covariance (1/N, 1/(N-1) or explained-variance ratio) only moves
    the intercept, never alpha.

    ``weighting="uniform"`` (default) is ordinary least squares; ``"inverse_rank"`` weights
    rank ``i`` by ``1/i``, as reptrix does (after Stringer et al. 2019): both give the same
    alpha on an exact power law, and differ slightly on a noisy spectrum.

    Reading: alpha near 1 is the "critical" decay of healthy representations (Stringer et al.
    2019; Agrawal et al. find the best linear-probe accuracy in a band around it). Large alpha
    (fast decay: a few directions hold all the variance) means dimensional collapse; alpha near
    0 means a flat, white-noise-like spectrum with no structure.

    Degenerate cases: constant features have no non-zero eigenvalue (ValueError); fewer than two
    non-zero eigenvalues in the range raises ValueError.

    Reference: Agrawal, Mondal, Ghosh & Richards, "alpha-ReQ: Assessing representation quality
    in self-supervised learning by measuring eigenspectrum decay", NeurIPS 2022.

    Example (an exact power law lambda_i = i^-1.5 over 64 dimensions):
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> z = torch.randn(500, 64, generator=g, dtype=torch.float64)
        >>> q, _ = torch.linalg.qr(z - z.mean(0))  # orthonormal, centred columns
        >>> x = q * torch.arange(1, 65, dtype=torch.float64) ** -0.75
        >>> round(alpha_req(x, fit_range=(2, 60)), 6)
        1.5
    """
    s = singular_values(features, center=True)
    return alpha_req_from_eigenvalues(s.square(), fit_range, weighting)


def alpha_req_from_eigenvalues(
    eigenvalues: Any,
    fit_range: tuple[int, int] = DEFAULT_FIT_RANGE,
    weighting: FitWeighting = "uniform",
) -> float:
    """alpha-ReQ from precomputed covariance eigenvalues (any order, any positive scale).

    Used by the streamed paths (``ClassStats.total_cov()`` eigenvalues). See :func:`alpha_req`.

    Example:
        >>> import torch
        >>> lam = torch.arange(1, 201, dtype=torch.float64) ** -2.0
        >>> round(alpha_req_from_eigenvalues(lam), 9)
        2.0
    """
    return power_law_fit(eigenvalues, fit_range, weighting).alpha


def power_law_fit(
    eigenvalues: Any,
    fit_range: tuple[int, int] = DEFAULT_FIT_RANGE,
    weighting: FitWeighting = "uniform",
) -> PowerLawFit:
    """The full fit behind :func:`alpha_req`: alpha, intercept, r2 and the ranks used.

    ``r2`` is the coefficient of determination of the (weighted) fit of ``log lambda_i`` over
    the fitted ranks: close to 1 when the spectrum really is a power law there.

    Example:
        >>> import torch
        >>> fit = power_law_fit(torch.arange(1.0, 51.0) ** -1.0, fit_range=(1, 50))
        >>> round(fit.alpha, 6), round(fit.r2, 6), fit.first, fit.last
        (1.0, 1.0, 1, 50)
    """
    if weighting not in ("uniform", "inverse_rank"):
        raise ValueError(f"weighting: expected 'uniform' or 'inverse_rank', received {weighting!r}")
    first, last = _check_fit_range(fit_range)
    lam = torch.as_tensor(eigenvalues).detach().double().flatten().cpu()
    if lam.numel() and not bool(torch.isfinite(lam).all()):
        raise ValueError("eigenvalues: expected finite values, received NaN or Inf")
    lam = torch.sort(lam, descending=True).values
    positive = int((lam > 0).sum())
    last = min(last, positive)
    if last - first + 1 < 2:
        raise ValueError(
            f"fit_range: expected at least two non-zero eigenvalues with ranks in {fit_range}, "
            f"received {positive} non-zero eigenvalue(s) in all; pass a smaller fit_range such "
            f"as (2, {max(positive, 3)}) or more rows/dimensions"
        )
    ranks = torch.arange(first, last + 1, dtype=torch.float64)
    x = ranks.log()
    y = lam[first - 1 : last].log()
    w = torch.ones_like(x) if weighting == "uniform" else 1.0 / ranks
    w = w / w.sum()
    xm, ym = float((w * x).sum()), float((w * y).sum())
    sxx = float((w * (x - xm).square()).sum())
    sxy = float((w * (x - xm) * (y - ym)).sum())
    slope = sxy / sxx
    intercept = ym - slope * xm
    resid = y - (intercept + slope * x)
    ss_res = float((w * resid.square()).sum())
    ss_tot = float((w * (y - ym).square()).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return PowerLawFit(-slope, intercept, r2 if math.isfinite(r2) else math.nan, first, last)


def _check_fit_range(fit_range: Any) -> tuple[int, int]:
    ok = (
        isinstance(fit_range, tuple | list)
        and len(fit_range) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in fit_range)
        and 1 <= fit_range[0] < fit_range[1]
    )
    if not ok:
        raise ValueError(
            "fit_range: expected (first, last) 1-based eigenvalue ranks with 1 <= first < last, "
            f"received {fit_range!r}"
        )
    return int(fit_range[0]), int(fit_range[1])
