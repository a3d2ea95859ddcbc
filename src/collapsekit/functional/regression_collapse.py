"""Neural regression collapse NRC1-NRC3 (Andriopoulos et al., NeurIPS 2024).

Notation of the paper: M rows ``h_i`` in R^D (last-layer features), targets ``y_i`` in R^n,
last-layer weights ``W`` (n x D), unit rows ``h~_i = h_i / ||h_i||`` and the target covariance
``Sigma = (1/M) sum_i (y_i - y_bar)(y_i - y_bar)^T``.

* NRC1 = (1/M) sum_i ||h~_i - proj(h~_i | H_PCA_n)||^2: distance of the unit rows to the span
  of the top-n principal components of H;
* NRC2 = (1/M) sum_i ||h~_i - proj(h~_i | W^T)||^2: distance to the row space of W;
* NRC3 = min over gamma in [0, lambda_min(Sigma)] of ||A - B(gamma)||_F^2, with
  A = W W^T / ||W W^T||_F and B(gamma) = (Sigma^{1/2} - gamma^{1/2} I_n) normalised to unit
  Frobenius norm.

All three go to 0 under collapse. Every one is a function of the moments
``U = sum_i h~_i h~_i^T`` (D x D), the feature covariance and Sigma: ``sum_i ||(I - P) h~_i||^2 =
tr((I - P) U)`` for an orthogonal projector P, so the metrics stream.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from collapsekit._validation import as_tensor, check_features
from collapsekit.functional._common import l2_normalize

NRC_KEYS = ("nrc1", "nrc2", "nrc3", "nrc3_gamma")


def regression_collapse(
    features: Any,
    targets: Any,
    weights: Any = None,
    center: bool = True,
) -> dict[str, float]:
    """NRC1, NRC2 and NRC3 of features (M x D) with regression targets (M x n or M,).

    * ``nrc1``: mean squared distance of the unit feature rows to the top-n principal subspace
      of the features (n = target dimension). 0 when the features span only n directions.
    * ``nrc2`` (needs ``weights``, n x D): the same distance to the row space of W
      (self-duality). 0 when features live in the span of the regressor's rows.
    * ``nrc3`` (needs ``weights``): distance of the normalised Gram ``W W^T`` to the normalised
      ``Sigma^{1/2} - gamma^{1/2} I``, minimised over gamma in [0, lambda_min(Sigma)] (solved in
      closed form: the objective has one interior critical point); ``nrc3_gamma`` is the
      minimiser. Always 0 for a univariate target (the paper omits it there).

    Reading: all in [0, 2] (NRC1 and NRC2 in [0, 1]); they fall towards 0 during the terminal
    phase of training with weight decay; the paper reports no collapse without regularisation.

    Conventions: ``center=True`` (default) takes the principal components of the centred
    features, as PCA does; ``center=False`` uses the uncentred SVD (nc-toolbox's
    ``nrc1_collapse``). The unit rows are the raw rows normalised (the paper's h~_i), never
    centred. nc-toolbox's ``nrc3_structure`` searches gamma^{1/2} in [0, 1] and centres the
    targets per row; collapsekit follows the paper (gamma in [0, lambda_min], column-centred).

    Degenerate cases: zero rows contribute 0 to NRC1/NRC2 (their unit row is 0); targets with a
    singular covariance give lambda_min = 0, so gamma = 0. ``weights`` of the wrong shape raise
    ValueError.

    Reference: Andriopoulos, Dong, Guo, Zhao & Ross, "The prevalence of neural collapse in
    neural multivariate regression", NeurIPS 2024.

    Example (features inside the 2-D target subspace, W spanning it):
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> y = torch.randn(100, 2, generator=g, dtype=torch.float64)
        >>> a = torch.randn(2, 8, generator=g, dtype=torch.float64)
        >>> out = regression_collapse(y @ a, y, weights=a)
        >>> round(out["nrc1"], 9), round(out["nrc2"], 9)
        (0.0, 0.0)
    """
    x = check_features(features, "features", min_rows=2).double()
    y = check_targets(targets, x.shape[0], x.device)
    m = x.shape[0]
    xm = x.mean(0)
    xc = x - xm
    cov = xc.T @ xc / m if center else x.T @ x / m
    unit = l2_normalize(x)
    yc = y - y.mean(0)
    w = (
        None
        if weights is None
        else check_regression_weights(weights, y.shape[1], x.shape[1], x.device)
    )
    return regression_collapse_from_moments(unit.T @ unit, m, cov, yc.T @ yc / m, w)


def regression_collapse_from_moments(
    unit_scatter: torch.Tensor,
    num_rows: int,
    feature_cov: torch.Tensor,
    target_cov: torch.Tensor,
    weights: torch.Tensor | None = None,
) -> dict[str, float]:
    """NRC metrics from moments (float64).

    Args:
        unit_scatter: ``U = sum_i h~_i h~_i^T`` (D x D) of the L2-normalised rows.
        num_rows: M.
        feature_cov: the matrix whose top-n eigenvectors are H_PCA_n (the centred covariance,
            or the uncentred second moment for ``center=False``), D x D.
        target_cov: Sigma (n x n), n = target dimension.
        weights: optional W (n x D); adds ``nrc2``, ``nrc3`` and ``nrc3_gamma``.

    Example:
        >>> import torch
        >>> u = torch.diag(torch.tensor([3.0, 1.0, 0.0], dtype=torch.float64))
        >>> cov = torch.diag(torch.tensor([5.0, 1.0, 0.0], dtype=torch.float64))
        >>> regression_collapse_from_moments(u, 4, cov, torch.eye(1, dtype=torch.float64))
        {'nrc1': 0.25}
    """
    n = target_cov.shape[0]
    d = feature_cov.shape[0]
    u = unit_scatter.double()
    m = max(int(num_rows), 1)
    _, vecs = torch.linalg.eigh(0.5 * (feature_cov.double() + feature_cov.double().T))
    top = vecs.flip(1)[:, : min(n, d)]
    out = {"nrc1": _outside(u, top, m)}
    if weights is None:
        return out
    w = weights.double().to(u.device)
    out["nrc2"] = _outside(u, _row_space(w), m)
    nrc3, gamma = _nrc3(w, target_cov.double().to(u.device))
    out["nrc3"], out["nrc3_gamma"] = nrc3, gamma
    return out


def _outside(u: torch.Tensor, basis: torch.Tensor, m: int) -> float:
    """tr((I - Q Q^T) U) / M for orthonormal columns Q."""
    inside = float(((basis.T @ u) * basis.T).sum()) if basis.numel() else 0.0
    return max(float(torch.trace(u)) - inside, 0.0) / m


def _row_space(w: torch.Tensor) -> torch.Tensor:
    """Orthonormal basis (D x r) of the row space of W (rank by the pinv tolerance)."""
    _, s, vh = torch.linalg.svd(w, full_matrices=False)
    if s.numel() == 0 or float(s[0]) == 0.0:
        return vh[:0].T
    keep = s > max(w.shape) * torch.finfo(torch.float64).eps * s[0]
    return vh[keep].T


def _nrc3(w: torch.Tensor, sigma: torch.Tensor) -> tuple[float, float]:
    n = sigma.shape[0]
    if n == 1:
        return 0.0, 0.0
    gram = w @ w.T
    gnorm = float(torch.linalg.matrix_norm(gram))
    if gnorm == 0.0:
        return math.nan, math.nan
    a_mat = gram / gnorm
    lam, vec = torch.linalg.eigh(0.5 * (sigma + sigma.T))
    lam = lam.clamp_min(0.0)
    s_mat = (vec * lam.sqrt()) @ vec.T
    s_max = math.sqrt(float(lam[0]))
    a = float((a_mat * s_mat).sum())
    b = float(torch.trace(a_mat))
    c = float(s_mat.square().sum())
    t = float(torch.trace(s_mat))
    # f(s) = 2 - 2 (a - b s) / sqrt(c - 2 t s + n s^2), s = gamma^(1/2); one critical point
    candidates = [0.0, s_max]
    denom = b * t - a * n
    if denom != 0.0:
        s_star = (b * c - a * t) / denom
        if 0.0 < s_star < s_max:
            candidates.append(s_star)
    best, best_s = math.inf, 0.0
    for s in candidates:
        norm_sq = c - 2.0 * t * s + n * s * s
        if norm_sq <= 1e-24 * max(c, 1e-300):
            continue  # Sigma^{1/2} = s I: the normalised target is undefined there
        value = max(2.0 - 2.0 * (a - b * s) / math.sqrt(norm_sq), 0.0)
        if value < best:
            best, best_s = value, s
    if not math.isfinite(best):
        return math.nan, math.nan
    return best, best_s * best_s


def check_targets(targets: Any, n_rows: int, device: torch.device) -> torch.Tensor:
    y = as_tensor(targets, "targets", device)
    if y.dim() == 1:
        y = y[:, None]
    if y.dim() != 2 or y.shape[0] != n_rows:
        raise ValueError(
            f"targets: expected shape ({n_rows}, n) or ({n_rows},), one target vector per "
            f"feature row, received shape {tuple(y.shape)}"
        )
    if y.dtype.is_complex or y.dtype == torch.bool:
        raise TypeError(f"targets: expected real numbers, received dtype {y.dtype}")
    y = y.double()
    if y.numel() and not bool(torch.isfinite(y).all()):
        raise ValueError("targets: expected finite values, received NaN or Inf")
    return y


def check_regression_weights(weights: Any, n: int, d: int, device: torch.device) -> torch.Tensor:
    w = check_features(weights, "weights", device=device).double()
    if tuple(w.shape) != (n, d):
        raise ValueError(
            f"weights: expected the last layer's weight matrix of shape (target dim, D) = "
            f"({n}, {d}), received {tuple(w.shape)}"
        )
    return w
