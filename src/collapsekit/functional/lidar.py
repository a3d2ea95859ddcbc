"""LiDAR (Thilak et al. 2023): the rank of the LDA matrix of the self-supervised surrogate task.

Each source sample x is a *surrogate class* whose members are its q augmented views. With
``mu_x`` the mean of x's views and ``mu`` the mean of the ``mu_x``:

* Sigma_b = 1/(n-1) sum_x (mu_x - mu)(mu_x - mu)^T                   (between sources)
* Sigma_w = 1/(sum_x (q_x - 1)) sum_x sum_j (v_xj - mu_x)(v_xj - mu_x)^T + delta I
* Sigma_lidar = Sigma_w^{-1/2} Sigma_b Sigma_w^{-1/2}
* LiDAR = exp(-sum_i p_i log p_i), p_i = lambda_i / ||lambda||_1 + eps.

The estimators are the unbiased ones (as stable-pretraining's reference callback);
``unbiased=False`` divides by n and sum_x q_x instead (the paper's population expectations).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from collapsekit._validation import accumulation_dtype, as_tensor, raise_nonfinite_rows


def lidar(
    views: Any,
    delta: float = 1e-4,
    eps: float = 1e-7,
    unbiased: bool = True,
) -> float:
    """LiDAR of ``views`` shaped (n, q, D): n source samples with q augmented views each.

    LiDAR is the effective rank (exponential of the entropy of the normalised eigenvalues, with
    the paper's ``eps`` added to each share as in RankMe) of the LDA matrix
    ``Sigma_w^{-1/2} Sigma_b Sigma_w^{-1/2}``, whose classes are the source samples: it counts
    the directions that separate *different* inputs relative to how much the views of one input
    spread. ``delta`` is added to the diagonal of Sigma_w so its inverse square root exists.
    See the module docstring for the estimators (unbiased by default).

    Reading: between 1 and min(n - 1, D) (plus a sliver from ``eps``). Higher is better: in
    Thilak et al. it tracks linear-probe accuracy more closely than RankMe. A falling LiDAR
    means dimensional collapse of the informative directions; 1 means every source maps to the
    same point (complete collapse).

    Invariance: without ``delta`` LiDAR is invariant to any invertible linear map of the
    embedding (the eigenvalues of Sigma_w^-1 Sigma_b do not change); ``delta`` breaks this only
    for directions whose within-source variance is comparable to delta, and makes the value
    depend on the overall scale of tiny embeddings.

    Degenerate cases: Sigma_b = 0 (all sources identical: complete collapse) returns 1.0;
    ``delta=0`` with a singular Sigma_w raises ValueError; fewer than 2 sources or 2 views
    raises ValueError.

    Reference: Thilak, Huang, Saremi, Dinh, Goh, Nakkiran, Susskind & Littwin, "LiDAR: Sensing
    linear probing performance in joint embedding SSL architectures", ICLR 2024
    (arXiv:2312.04000).

    Example (8 sources at +-e_i in 4-D, views = source + small noise):
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> src = torch.cat([torch.eye(4), -torch.eye(4)])[:, None, :]
        >>> views = src + 0.01 * torch.randn(8, 50, 4, generator=g)
        >>> 3.5 < lidar(views) < 4.01
        True
        >>> lidar(torch.ones(8, 3, 4))  # every view of every source identical
        1.0
    """
    v = check_views(views)
    n, q, _ = v.shape
    between, within = view_scatters(v)
    return lidar_from_moments(between, within, n, n * q, delta, eps, unbiased)


def check_views(views: Any, name: str = "views", dim: int | None = None) -> torch.Tensor:
    """Validate a (n, q, D) floating tensor of views with n >= 1, q >= 2 and finite values."""
    v = as_tensor(views, name)
    if v.dim() != 3:
        raise ValueError(
            f"{name}: expected shape (n, q, D) = (source samples, views per sample, features), "
            f"received shape {tuple(v.shape)}; stack the q augmentations of each sample on dim 1"
        )
    if not v.dtype.is_floating_point:
        if v.dtype.is_complex or v.dtype == torch.bool:
            raise TypeError(f"{name}: expected a real floating dtype, received {v.dtype}")
        v = v.to(torch.float32)
    if dim is not None and v.shape[2] != dim:
        raise ValueError(
            f"{name}: expected {dim} features per view (the dim given at construction), "
            f"received shape {tuple(v.shape)}"
        )
    if v.shape[1] < 2:
        raise ValueError(
            f"{name}: expected at least 2 views per source sample, received shape "
            f"{tuple(v.shape)}; the within-sample covariance needs q >= 2"
        )
    if v.numel() and not bool(torch.isfinite(v).all()):
        raise_nonfinite_rows(name, ~torch.isfinite(v).flatten(1).all(dim=1))
    return v


def view_scatters(views: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(between, within) float64 scatter matrices of validated views (n, q, D).

    between = sum_x (mu_x - mu)(mu_x - mu)^T with mu the mean of the source means;
    within = sum_x sum_j (v_xj - mu_x)(v_xj - mu_x)^T. The source means are formed in float64 and
    the residuals, small and centred, go through one GEMM in the accumulation dtype.
    """
    means = views.double().mean(1)
    centred = means - means.mean(0)
    between = centred.T @ centred
    resid = (views.double() - means[:, None, :]).flatten(0, 1)
    r = resid.to(accumulation_dtype(views))
    within = (r.T @ r).double()
    within.diagonal().copy_(resid.square().sum(0))
    return between, within


# size: public function: two scatters, their sizes and three documented numerical options
def lidar_from_moments(
    between_scatter: torch.Tensor,
    within_scatter: torch.Tensor,
    num_sources: int,
    num_views: int,
    delta: float = 1e-4,
    eps: float = 1e-7,
    unbiased: bool = True,
) -> float:
    """LiDAR from the between- and within-source scatter matrices (D x D, float64).

    ``between_scatter = sum_x (mu_x - mu)(mu_x - mu)^T`` over the ``num_sources`` source means;
    ``within_scatter = sum_x sum_j (v_xj - mu_x)(v_xj - mu_x)^T`` over all ``num_views`` views.
    Divides by (n - 1) and (num_views - n) when ``unbiased`` (else n and num_views), adds
    ``delta`` to the diagonal of Sigma_w and returns :func:`lidar_from_covariances`.

    Example:
        >>> import torch
        >>> b = torch.diag(torch.tensor([4.0, 4.0, 0.0], dtype=torch.float64))
        >>> w = torch.eye(3, dtype=torch.float64)
        >>> round(lidar_from_moments(b, w * 10, num_sources=5, num_views=15, delta=0.0), 4)
        2.0
    """
    n, total = int(num_sources), int(num_views)
    if n < 2:
        raise ValueError(
            f"views: expected at least 2 source samples, received {n}; LiDAR compares sources"
        )
    if total - n < n:
        raise ValueError(
            f"views: expected at least 2 views per source sample, received {total} views for "
            f"{n} sources"
        )
    if not (isinstance(delta, int | float) and delta >= 0 and math.isfinite(delta)):
        raise ValueError(f"delta: expected a finite number >= 0, received {delta!r}")
    sigma_b = between_scatter.double() / (n - 1 if unbiased else n)
    sigma_w = within_scatter.double() / (total - n if unbiased else total)
    return lidar_from_covariances(sigma_b, sigma_w, delta, eps)


def lidar_from_covariances(
    sigma_b: torch.Tensor, sigma_w: torch.Tensor, delta: float = 1e-4, eps: float = 1e-7
) -> float:
    """exp(H(p)), p_i = lambda_i / ||lambda||_1 + eps, lambda the eigenvalues of
    (Sigma_w + delta I)^{-1/2} Sigma_b (Sigma_w + delta I)^{-1/2}; 1.0 when Sigma_b = 0.

    Example:
        >>> import torch
        >>> eye = torch.eye(2, dtype=torch.float64)
        >>> round(lidar_from_covariances(eye, eye, delta=0.0, eps=0.0), 6)
        2.0
    """
    lam = lidar_eigenvalues(sigma_b, sigma_w, delta)
    total = float(lam.sum())
    if total <= 0:
        return 1.0
    p = lam / total + eps
    return math.exp(float(-torch.special.xlogy(p, p).sum()))  # 0 log 0 = 0


def lidar_eigenvalues(
    sigma_b: torch.Tensor, sigma_w: torch.Tensor, delta: float = 1e-4
) -> torch.Tensor:
    """Eigenvalues (descending, clamped at 0) of the LiDAR matrix, in float64."""
    d = sigma_w.shape[0]
    sw = sigma_w.double() + delta * torch.eye(d, dtype=torch.float64, device=sigma_w.device)
    sw = 0.5 * (sw + sw.T)
    w_eig, w_vec = torch.linalg.eigh(sw)
    top = float(w_eig[-1]) if d else 0.0
    if d and float(w_eig[0]) <= max(d, 1) * torch.finfo(torch.float64).eps * max(top, 0.0):
        raise ValueError(
            "delta: the within-sample covariance Sigma_w + delta I is singular (smallest "
            f"eigenvalue {float(w_eig[0]):.3g}); pass delta > 0 (the paper uses 1e-4)"
        )
    inv_sqrt = (w_vec * w_eig.rsqrt()) @ w_vec.T
    m = inv_sqrt @ sigma_b.double() @ inv_sqrt
    lam = torch.linalg.eigvalsh(0.5 * (m + m.T)).flip(0)
    return lam.clamp_min(0.0)
