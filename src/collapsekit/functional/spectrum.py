"""Singular values of a feature matrix, through the smaller Gram matrix, in float64."""

from __future__ import annotations

from typing import Any

import torch

from collapsekit import _linalg
from collapsekit._threads import factorization_threads
from collapsekit._validation import check_features
from collapsekit.functional._common import power_of_two_scale


def singular_values(features: Any, center: bool = True, deflate: bool = True) -> torch.Tensor:
    """Singular values of X (column-centred when ``center``), descending, float64.

    Computed from the eigenvalues of the smaller of X^T X and X X^T (O(N D min(N, D))). The
    stored values are converted to float64 *before* the Gram product, so float32 and half
    input give the spectrum of the same stored numbers computed in float64 (a float32 Gram
    would leave spurious singular values around 3e-4 x the largest on data with an offset).
    Rows are scaled by a power of two first, so magnitudes from 1e-160 to 1e150 neither
    underflow nor overflow. Eigenvalues below ``max(N, D) * eps * largest`` are treated as
    exact zeros: they are round-off, and keeping them would make rank-1 data look slightly
    higher-rank. With ``deflate`` (the default), a spectrum that comes near that floor within
    its rank bound (:func:`near_floor`) is computed again from the rows split along its
    resolved directions (:func:`singular_values_from_split`): the tail (on float32 rows of low
    rank, their storage round-off) is then resolved relative to its own scale, as an SVD
    would; ``deflate=False`` cuts it (one factorisation, no more).

    Degenerate input: constant rows (``center=True``) or all-zero rows give all zeros.

    Example:
        >>> import torch
        >>> singular_values(torch.tensor([[3.0, 0.0], [0.0, 4.0]]), center=False)
        tensor([4., 3.], dtype=torch.float64)
    """
    x = check_features(features, "features").double()
    if center:
        x = x - x.mean(0, keepdim=True)
    scale = power_of_two_scale(x)
    if scale != 1.0:
        x = x / scale
    n, d = x.shape
    gram = _linalg.gram(x, rows=n < d)
    with factorization_threads(x.device):  # LAPACK on a busy machine: see _threads.py
        eig = _linalg.eigvalsh(gram).flip(0)
    top = float(eig[0]) if eig.numel() else 0.0
    eig = torch.where(eig > max(n, d) * torch.finfo(torch.float64).eps * top, eig, 0.0)
    s = eig.clamp_min(0.0).sqrt()
    if deflate and near_floor(s, min(n - int(center), d), n, d):
        # the Gram's own side: rows of X when N >= D, columns (rows of X^T) otherwise
        sides = x if n >= d else x.T
        s = singular_values_from_split(
            *split_scatter(sides, leading_basis(gram, max(n, d))), max(n, d)
        )
    return s * scale


def singular_values_from_covariance(cov: torch.Tensor, n: int) -> torch.Tensor:
    """Singular values of the N x D data behind a (D x D, 1/N-normalised) covariance:
    s = sqrt(N * eigenvalues), with round-off eigenvalues (below max(N, D) * eps * largest)
    set to zero as in :func:`singular_values`. Used by the streamed paths; one covariance of
    :func:`singular_values_from_covariances`.

    Example:
        >>> import torch
        >>> singular_values_from_covariance(torch.diag(torch.tensor([4.0, 1.0])).double(), 4)
        tensor([4., 2.], dtype=torch.float64)
    """
    return singular_values_from_covariances(cov[None], torch.tensor([n]))[0]


def singular_values_from_covariances(covs: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """:func:`singular_values_from_covariance` of a stack of covariances (B x D x D) of ``n``
    (B,) rows each, in one batched factorisation: each is divided by its own power of two
    near its largest magnitude (exact; keeps 1e-160 or 1e180 data in range), and each
    spectrum cut at its own ``max(n, D) * eps * largest``. Degenerate: an all-zero covariance
    gives zeros.

    Example:
        >>> import torch
        >>> covs = torch.stack([torch.diag(torch.tensor([4.0, 1.0])), torch.zeros(2, 2)])
        >>> singular_values_from_covariances(covs.double(), torch.tensor([4, 3]))
        tensor([[4., 2.],
                [0., 0.]], dtype=torch.float64)
    """
    c = covs.double()
    counts = n.to(device=c.device, dtype=torch.float64)
    top = c.abs().amax(dim=(1, 2))
    good = (top > 0) & torch.isfinite(top)
    # power_of_two_of, per covariance (the exponent in float64: 2^-530 is no float32)
    exponent = torch.frexp(top.where(good, 1.0)).exponent.to(torch.float64)
    scale = torch.where(good, torch.exp2(exponent), 1.0)
    with factorization_threads(c.device):
        eig = _linalg.eigvalsh(c / scale[:, None, None]).flip(1).clamp_min(0.0)
    eps = torch.finfo(torch.float64).eps
    limit = torch.clamp(counts, min=c.shape[-1])[:, None] * eps * eig[:, :1]
    eig = torch.where(eig > limit, eig, 0.0)
    return (eig * counts[:, None]).sqrt() * scale.sqrt()[:, None]


#: A spectrum "comes near the float64 floor" when an eigenvalue inside its rank bound is
#: within this factor of ``max(N, D) * eps * largest`` (see :func:`near_floor`).
NEAR_FLOOR = 100.0


def resolution_floor(n: int, d: int) -> float:
    """``max(N, D) * eps64``: the smallest eigenvalue, relative to the largest, that an
    eigendecomposition of an N-row Gram or D x D scatter in float64 resolves (below it the
    eigenvalues are round-off and are cut to zero).

    Example:
        >>> resolution_floor(2000, 768) == 2000 * 2.0**-52
        True
    """
    return max(n, d) * torch.finfo(torch.float64).eps


def near_floor(s: torch.Tensor, rank: int, n: int, d: int) -> bool:
    """Whether the singular values ``s`` (descending) come near the float64 floor within
    their rank bound: ``min(s[:rank])^2 < NEAR_FLOOR * max(N, D) * eps * s[0]^2`` (a cut
    eigenvalue counts as 0). Then the tail is at or below what the scatter resolves; on
    float32 rows of rank below ``rank`` it is the storage round-off, and
    :func:`singular_values_from_split` of a deflated pass resolves it.

    Degenerate input: all-zero spectra and ``rank <= 0`` give False.

    Example:
        >>> import torch
        >>> near_floor(torch.tensor([1.0, 0.5]).double(), 2, 10, 2)
        False
        >>> near_floor(torch.tensor([1.0, 0.0]).double(), 2, 10, 2)
        True
    """
    rank = min(rank, s.numel())
    if rank <= 0 or float(s[0]) == 0.0:
        return False
    smallest = float(s[:rank].min()) / float(s[0])
    return smallest**2 < NEAR_FLOOR * resolution_floor(n, d)


def leading_basis(scatter: torch.Tensor, n: int) -> torch.Tensor:
    """The float64 eigenvectors (D x k, orthonormal columns) of a symmetric D x D scatter (or
    Gram) of N rows whose eigenvalues stand above ``NEAR_FLOOR * max(N, D) * eps`` of the
    largest: the part of the spectrum the scatter resolves well, which a deflated pass
    projects out (:func:`split_scatter`). Empty (D x 0) for an all-zero scatter.

    Example:
        >>> import torch
        >>> leading_basis(torch.diag(torch.tensor([4.0, 1e-30])).double(), 10)
        tensor([[1.],
                [0.]], dtype=torch.float64)
    """
    c = scatter.double()
    scale = power_of_two_scale(c)
    with factorization_threads(c.device):
        eig, vec = torch.linalg.eigh(c / scale)
    eig, vec = eig.flip(0), vec.flip(1)
    if not eig.numel() or float(eig[0]) <= 0:
        return vec[:, :0]
    keep = int((eig > NEAR_FLOOR * resolution_floor(n, c.shape[0]) * eig[0]).sum())
    return vec[:, :keep].contiguous()


def split_scatter(
    rows: torch.Tensor, basis: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The scatter of float64 ``rows`` (N x D) split along an orthonormal ``basis`` (D x k):
    with ``A = rows @ basis`` and the residual ``R = rows - A basis^T``, returns
    ``(A^T A, A^T R, R^T R)``. The residual is formed *before* any product, so ``R^T R`` is
    accurate relative to the residual's own scale, not to the largest eigenvalue of the rows.

    Example:
        >>> import torch
        >>> x = torch.tensor([[3.0, 1e-9], [-3.0, 1e-9]]).double()
        >>> top, cross, tail = split_scatter(x, torch.tensor([[1.0], [0.0]]).double())
        >>> top.item(), float(tail[1, 1])
        (18.0, 2e-18)
    """
    a = rows @ basis
    r = rows - a @ basis.T
    return a.T @ a, a.T @ r, r.T @ r


def singular_values_from_split(
    top: torch.Tensor, cross: torch.Tensor, tail: torch.Tensor, n: int
) -> torch.Tensor:
    """Singular values (descending, float64, length D) of N rows from their deflated scatter
    ``(A^T A, A^T R, R^T R)`` (:func:`split_scatter`, k leading directions).

    The rows' scatter is the Gram of ``[A, R]``; its k large eigenvalues are those of
    ``A^T A``, and its small ones those of the Schur complement ``R^T R - (A^T R)^T (A^T
    A)^{-1} A^T R`` (the D - k largest of them; the cross term is zero for exact
    eigenvectors and enters at second order otherwise). Each block is cut at its own
    float64 floor (``max(N, D) * eps`` of its largest eigenvalue), so the tail is resolved
    relative to its own scale: rank-5 float32 rows with an offset of 100 in 768 dimensions
    get 763 tail singular values at 1e-7 of the largest, which the D x D scatter cannot
    resolve (1e-14 of its largest eigenvalue).

    Example:
        >>> import torch
        >>> x = torch.tensor([[3.0, 1e-9], [-3.0, 1e-9]]).double()
        >>> basis = torch.tensor([[1.0], [0.0]]).double()
        >>> singular_values_from_split(*split_scatter(x, basis), n=2)
        tensor([4.2426e+00, 1.4142e-09], dtype=torch.float64)
    """
    k, d = cross.shape
    schur = tail
    if k:
        schur = tail - cross.T @ torch.linalg.solve(top, cross)
        schur = (schur + schur.T) / 2
    parts = []
    for block, keep in ((top, k), (schur, d - k)):
        if not keep:
            continue
        scale = power_of_two_scale(block)
        with factorization_threads(block.device):
            eig = torch.linalg.eigvalsh(block / scale).flip(0)[:keep].clamp_min(0.0)
        if float(eig[0]) > 0:
            eig = torch.where(eig > resolution_floor(n, d) * eig[0], eig, 0.0)
        parts.append(eig * scale)
    return torch.cat(parts).sort(descending=True).values.sqrt()


Blocks = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def shifted_split(
    blocks: Blocks,
    sums: tuple[torch.Tensor, torch.Tensor],
    basis: torch.Tensor,
    shift: torch.Tensor,
    n: int,
) -> Blocks:
    """The split scatter of the rows ``x_i + shift`` from that of the rows ``x_i`` (RankMe's
    uncentred spectrum from the centred rows' deflated pass: no second GEMM).

    ``blocks = (A^T A, A^T R, R^T R)`` and ``sums = (sum_i a_i, sum_i r_i)`` of the rows split
    along ``basis`` V (D x k, :func:`split_scatter`). The shifted rows split as ``a_i + m`` and
    ``r_i + rho u`` with ``m = V^T shift`` and ``rho u = shift - V m`` (``|u| = 1``). When
    ``n rho^2`` stands above the float64 floor of the result, ``u`` joins the basis (its
    rank-one term ``n rho^2 u u^T`` is then projected out exactly, by algebra, instead of
    being added to the tail and subtracted again with round-off at its own scale); otherwise
    the shift's residual stays in the tail. Returns the blocks for
    :func:`singular_values_from_split`.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [-1.0, 0.0]]).double()
        >>> basis = torch.tensor([[1.0], [0.0]]).double()
        >>> a = x @ basis
        >>> r = x - a @ basis.T
        >>> shifted = shifted_split(split_scatter(x, basis), (a.sum(0), r.sum(0)), basis,
        ...                         torch.tensor([0.0, 3.0]).double(), 2)
        >>> singular_values_from_split(*shifted, n=2)
        tensor([4.2426, 1.4142], dtype=torch.float64)
    """
    top, cross, tail = blocks
    sum_a, sum_r = sums
    m = basis.T @ shift
    r_mu = shift - basis @ m
    top = top + torch.outer(sum_a, m) + torch.outer(m, sum_a) + n * torch.outer(m, m)
    rho = float(torch.linalg.vector_norm(r_mu))
    big = n * rho**2
    scale = max(float(torch.linalg.eigvalsh(top)[-1]) if top.numel() else 0.0, big)
    if big <= NEAR_FLOOR * resolution_floor(n, shift.numel()) * scale:
        cross = cross + torch.outer(sum_a + n * m, r_mu) + torch.outer(m, sum_r)
        extra = torch.outer(sum_r, r_mu)
        return top, cross, tail + extra + extra.T + n * torch.outer(r_mu, r_mu)
    u = r_mu / rho

    def off_u(t: torch.Tensor) -> torch.Tensor:  # Q = I - u u^T applied on the right
        return t - torch.outer(t @ u, u)

    # blocks in the basis [V, u, complement of u]; every term along r_mu = rho u drops out of
    # the complement exactly (by algebra, not by cancellation)
    col_u = cross @ u + rho * (sum_a + n * m) + m * float(sum_r @ u)  # G_ar u
    corner = float(u @ tail @ u) + 2 * rho * float(sum_r @ u) + big  # u^T G_rr u
    new_top = torch.cat(
        [torch.cat([top, col_u[:, None]], 1), torch.cat([col_u, top.new_tensor([corner])])[None]]
    )
    new_cross = torch.cat(
        [
            off_u(cross) + torch.outer(m, off_u(sum_r[None])[0]),
            off_u((tail @ u + rho * sum_r)[None]),
        ]
    )
    proj = off_u(off_u(tail).T)  # Q T Q
    return new_top, new_cross, (proj + proj.T) / 2


#: A direction is dead when its singular value is below this fraction of the largest (its
#: variance below 1e-4 of the top variance).
DEAD_RATIO = 0.01


def dead_directions(s: torch.Tensor, n: int, d: int, ratio: float = DEAD_RATIO) -> int:
    """How many of the ``min(N - 1, D)`` directions N centred rows can span carry a singular
    value below ``ratio`` x the largest (variance below ``ratio**2`` of the top).

    Read it against the isotropic value of the same N and D (about 0 unless N is close to D,
    where the Marchenko-Pastur spectrum reaches down to 0): a large excess means dimensional
    collapse (Jing et al. 2022 count singular values below 1% of the largest). Degenerate
    cases: a zero spectrum has every direction dead; ``N < 2`` spans none (0).

    Reference: Jing, Vincent, LeCun & Tian, "Understanding dimensional collapse in contrastive
    self-supervised learning", ICLR 2022.

    Example:
        >>> dead_directions(torch.tensor([10.0, 5.0, 0.05, 0.0]), n=100, d=4)
        2
    """
    span = max(0, min(int(n) - 1, int(d)))
    head = s.double().flatten()[:span]
    if span == 0:
        return 0
    head = torch.cat([head, head.new_zeros(span - head.numel())])
    top = float(head.max())
    if not top > 0:
        return span
    return int((head < ratio * top).sum())
