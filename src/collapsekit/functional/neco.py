"""NECO (Ammar et al., ICLR 2024): out-of-distribution score from neural-collapse geometry."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from collapsekit._validation import check_features, check_positive_int


class NecoBasis(NamedTuple):
    """What NECO needs from the in-distribution features (all float64).

    ``mean`` (D,) is subtracted from each row (zeros when ``center=False``), ``scale`` (D,)
    divides each column (ones when ``standardize=False``), ``basis`` (dim, D) holds the top-dim
    principal directions of the transformed in-distribution rows as orthonormal rows.
    """

    mean: torch.Tensor
    scale: torch.Tensor
    basis: torch.Tensor


def neco_score(
    features: Any,
    id_features: Any,
    dim: int,
    center: bool = True,
    standardize: bool = True,
) -> torch.Tensor:
    """Per-row NECO score ``||P z|| / ||z||`` (float64, one value per row of ``features``).

    ``z = (h - m) / s`` is the row after the in-distribution (ID) transform and ``P`` projects
    onto the top-``dim`` principal subspace of the transformed ID rows. With the defaults
    (``center=True, standardize=True``: ``m`` the ID mean, ``s`` the ID population std per
    column, zero-variance columns left unscaled) this is the authors' reference code
    (scikit-learn ``StandardScaler`` then ``PCA``, ratio of norms). ``center=False,
    standardize=False`` is the paper's equation taken literally, on raw rows (the principal
    directions are still those of the centred ID covariance).

    Reading: in [0, 1]. Under neural collapse ID features live near the (K-1)-dimensional span
    of the class means while OOD features fall largely outside it, so ID rows score close to 1
    and OOD rows lower: a *low* score flags out-of-distribution. ``dim`` is typically K - 1 or
    a little more (the paper tunes it on held-out data).

    Convention differences: the paper multiplies the score by the max logit for ViT/Swin models
    (not for ResNets); do that yourself (``neco_score(...) * logits.amax(1)``) when you want it.

    Degenerate cases: a row equal to the ID mean (``z = 0``) scores 0; ``dim`` above
    min(N_id, D) raises ValueError.

    Reference: Ammar, Belkhir, Popescu, Manzanera & Franchi, "NECO: NEural Collapse based
    out-of-distribution detection", ICLR 2024.

    Example (ID rows in a 2-D subspace of R^6; OOD rows along the other axes):
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> id_x = torch.zeros(200, 6); id_x[:, :2] = torch.randn(200, 2, generator=g)
        >>> ood = torch.zeros(3, 6); ood[:, 4] = 1.0
        >>> s = neco_score(torch.cat([id_x[:3], ood]), id_x, 2, center=False, standardize=False)
        >>> s.round(decimals=6).tolist()
        [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    """
    x = check_features(features, "features")
    return neco_from_basis(x, neco_basis(id_features, dim, center, standardize))


def neco_basis(
    id_features: Any, dim: int, center: bool = True, standardize: bool = True
) -> NecoBasis:
    """Fit NECO's transform and top-``dim`` principal basis on in-distribution rows (N x D)."""
    x = check_features(id_features, "id_features", min_rows=2).double()
    n = x.shape[0]
    mean = x.mean(0)
    centred = x - mean
    var = centred.square().mean(0)
    return neco_basis_from_moments(centred.T @ centred / n, mean, var, n, dim, center, standardize)


# size: public function: three moments, their sizes and two documented options
def neco_basis_from_moments(
    covariance: torch.Tensor,
    mean: torch.Tensor,
    variance: torch.Tensor,
    num_rows: int,
    dim: int,
    center: bool = True,
    standardize: bool = True,
) -> NecoBasis:
    """NECO basis from the ID covariance (D x D, 1/N), mean (D,) and per-column variance (D,).

    This is how a streamed engine fits NECO: all three come from one pass of sufficient
    statistics (``ClassStats.total_cov()`` and the sample mean).

    Example:
        >>> import torch
        >>> cov = torch.diag(torch.tensor([3.0, 2.0, 0.0], dtype=torch.float64))
        >>> b = neco_basis_from_moments(cov, torch.zeros(3), cov.diagonal(), 10, 2, True, False)
        >>> b.basis.abs().round().tolist()
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    d = covariance.shape[0]
    k = check_positive_int(dim, "dim")
    if k > min(num_rows, d):
        raise ValueError(
            f"dim: expected at most min(N_id, D) = {min(num_rows, d)} principal directions, "
            f"received {k}"
        )
    cov = covariance.double()
    mean = mean.double().to(cov.device)
    std = variance.double().to(cov.device).clamp_min(0.0).sqrt()
    scale = torch.where(std > 0, std, torch.ones_like(std)) if standardize else torch.ones_like(std)
    cov = cov / torch.outer(scale, scale)
    _, vecs = torch.linalg.eigh(0.5 * (cov + cov.T))
    basis = vecs.flip(1)[:, :k].T.contiguous()
    shift = mean if center else torch.zeros_like(mean)
    return NecoBasis(shift, scale, basis)


def neco_from_basis(features: Any, basis: NecoBasis) -> torch.Tensor:
    """Per-row NECO scores of ``features`` for a fitted :class:`NecoBasis` (streams by batch).

    Example:
        >>> import torch
        >>> b = NecoBasis(torch.zeros(2), torch.ones(2), torch.tensor([[1.0, 0.0]]).double())
        >>> neco_from_basis(torch.tensor([[3.0, 4.0]]), b).tolist()
        [0.6]
    """
    x = check_features(features, "features", basis.mean.numel())
    z = (x.double().to(basis.mean.device) - basis.mean) / basis.scale
    full = torch.linalg.vector_norm(z, dim=1)
    inside = torch.linalg.vector_norm(z @ basis.basis.T, dim=1)
    return torch.where(full > 0, inside / torch.where(full > 0, full, 1.0), 0.0).to(x.device)
