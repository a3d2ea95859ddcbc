"""Linear centred kernel alignment (Kornblith et al. 2019) between two paired feature sets."""

from __future__ import annotations

from typing import Any

import torch

from collapsekit._validation import accumulation_dtype, check_features
from collapsekit.functional._common import power_of_two_scale


def _debiased(xty: float, rows_x: torch.Tensor, rows_y: torch.Tensor, n: int) -> float:
    # unbiased HSIC estimator (Song et al. 2012) in feature space, as in the reference notebook
    sx, sy = float(rows_x.sum()), float(rows_y.sum())
    return xty - n / (n - 2.0) * float(rows_x @ rows_y) + sx * sy / ((n - 1.0) * (n - 2.0))


def linear_cka(features_x: Any, features_y: Any, debiased: bool = False) -> float:
    """Linear CKA = ||Y_c^T X_c||_F^2 / (||X_c^T X_c||_F ||Y_c^T Y_c||_F), columns centred.

    Compares two representations of the *same* N inputs (row i of X and row i of Y come from
    the same example); D_x and D_y may differ. 1 = identical up to rotation and isotropic
    scale; near 0 = unrelated. After fine-tuning, a CKA far below 1 against the pre-trained
    model says the representation moved. ``debiased=True`` uses the unbiased HSIC estimator
    (Song et al. 2012), which removes the upward bias of small N (tiny cohorts).

    Scale: each side is divided by a power of two near its largest centred entry first, so
    ``linear_cka(x * 1e18, x) == 1`` (no float32 overflow) and tiny magnitudes do not
    underflow. Constant (zero-variance) features raise ValueError.

    Feature-space form, O(N D^2): no N x N Gram matrix. Columns are centred in float64, the
    products run in float32 for float32/half input and float64 for float64 input.

    Reference: Kornblith, Norouzi, Lee & Hinton, "Similarity of neural network representations
    revisited", ICML 2019 (feature_space_linear_cka in their notebook).

    Example:
        >>> import torch
        >>> x = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
        >>> q, _ = torch.linalg.qr(torch.randn(8, 8, generator=torch.Generator().manual_seed(1)))
        >>> round(linear_cka(x, 3 * x @ q), 6)
        1.0
    """
    x = check_features(features_x, "features_x")
    y = check_features(features_y, "features_y", device=x.device)
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"features_y: expected the same number of rows as features_x ({x.shape[0]}, row i "
            f"of both from the same input), received {y.shape[0]}; CKA of unpaired sets is not "
            "defined. Embed the same inputs with both models"
        )
    n = x.shape[0]
    if n < (4 if debiased else 2):
        raise ValueError(
            f"features_x: expected at least {4 if debiased else 2} paired rows, received {n}"
        )
    dt = accumulation_dtype(x) if accumulation_dtype(x) == accumulation_dtype(y) else torch.float64
    xc = x.double() - x.double().mean(0)
    yc = y.double() - y.double().mean(0)
    # CKA is scale-free: bring each side near 1 (exact power-of-two division) before any
    # square, so 1e18 or 1e-160 features neither overflow nor underflow
    xc = (xc / power_of_two_scale(xc)).to(dt)
    yc = (yc / power_of_two_scale(yc)).to(dt)
    xty = float(torch.linalg.matrix_norm((xc.T @ yc).double()) ** 2)
    xtx = float(torch.linalg.matrix_norm((xc.T @ xc).double()) ** 2)
    yty = float(torch.linalg.matrix_norm((yc.T @ yc).double()) ** 2)
    if debiased:
        rows_x = xc.double().square().sum(1)
        rows_y = yc.double().square().sum(1)
        xty = _debiased(xty, rows_x, rows_y, n)
        xtx = _debiased(xtx, rows_x, rows_x, n)
        yty = _debiased(yty, rows_y, rows_y, n)
    denom = (max(xtx, 0.0) ** 0.5) * (max(yty, 0.0) ** 0.5)
    if denom == 0:
        raise ValueError("features_x: expected non-constant features, received zero variance")
    return xty / denom


def linear_cka_from_moments(moments: dict[str, Any], debiased: bool = False) -> float:
    """Linear CKA from streamed cross moments of paired rows (exact, no N x N matrix).

    ``moments`` holds, for residuals e_i = x_i - s_x and f_i = y_i - s_y around any fixed
    shifts: ``n``; ``sum_e`` (Dx), ``sum_f`` (Dy); ``exx`` = sum e e^T, ``eyy`` = sum f f^T,
    ``exy`` = sum e f^T; and for the debiased estimator, with a_i = ||e_i||^2 and
    b_i = ||f_i||^2: ``sum_aa``, ``sum_bb``, ``sum_ab`` (scalars), ``sum_ae``, ``sum_be``
    (Dx), ``sum_af``, ``sum_bf`` (Dy). Every quantity of :func:`linear_cka` (centred Gram
    norms and the row-norm terms of the unbiased HSIC) is a polynomial in these sums.

    Example:
        >>> import torch
        >>> x = torch.randn(30, 4, generator=torch.Generator().manual_seed(0)).double()
        >>> a, b = x.square().sum(1), (2 * x).square().sum(1)
        >>> m = {"n": 30, "sum_e": x.sum(0), "sum_f": 2 * x.sum(0), "exx": x.T @ x,
        ...      "eyy": 4 * x.T @ x, "exy": 2 * x.T @ x}
        >>> round(linear_cka_from_moments(m), 6)
        1.0
    """
    n = int(moments["n"])
    if n < (4 if debiased else 2):
        raise ValueError(
            f"features_x: expected at least {4 if debiased else 2} paired rows, received {n}"
        )
    mx = moments["sum_e"].double() / n
    my = moments["sum_f"].double() / n
    cxx = moments["exx"].double() - n * torch.outer(mx, mx)
    cyy = moments["eyy"].double() - n * torch.outer(my, my)
    cxy = moments["exy"].double() - n * torch.outer(mx, my)
    # scale-free: divide each block by its own largest entry before squaring
    sx = float(cxx.diagonal().abs().max().clamp_min(0.0)) or 1.0
    sy = float(cyy.diagonal().abs().max().clamp_min(0.0)) or 1.0
    sxy = (sx * sy) ** 0.5
    xtx = float(torch.linalg.matrix_norm(cxx / sx) ** 2)
    yty = float(torch.linalg.matrix_norm(cyy / sy) ** 2)
    xty = float(torch.linalg.matrix_norm(cxy / sxy) ** 2)
    if debiased:
        ax_sum, by_sum = float(cxx.trace()), float(cyy.trace())
        rxy, rxx, ryy = _centred_norm_sums(moments, n, mx, my)
        xty = _debiased_terms(xty, ax_sum / sx, by_sum / sy, rxy / (sx * sy), n)
        xtx = _debiased_terms(xtx, ax_sum / sx, ax_sum / sx, rxx / (sx * sx), n)
        yty = _debiased_terms(yty, by_sum / sy, by_sum / sy, ryy / (sy * sy), n)
    denom = (max(xtx, 0.0) ** 0.5) * (max(yty, 0.0) ** 0.5)
    if denom == 0:
        raise ValueError("features_x: expected non-constant features, received zero variance")
    return xty / denom


def _centred_norm_sums(
    moments: dict[str, Any], n: int, mx: torch.Tensor, my: torch.Tensor
) -> tuple[float, float, float]:
    """``sum_i ||e_i - mx||^2 ||f_i - my||^2`` and the two same-view sums (x with x, y with
    y), from the streamed moments (see :func:`_centred_norm_products`)."""
    sum_e, sum_f = moments["sum_e"].double(), moments["sum_f"].double()
    raw = {k: moments[k].double() for k in ("exx", "eyy", "exy")}
    sa, sb = float(raw["exx"].trace()), float(raw["eyy"].trace())
    rxy = _centred_norm_products(
        n,
        float(moments["sum_ab"]),
        moments["sum_af"].double(),
        moments["sum_be"].double(),
        raw["exy"],
        sum_e,
        sum_f,
        mx,
        my,
        sa,
        sb,
    )
    rxx = _centred_norm_products(
        n,
        float(moments["sum_aa"]),
        moments["sum_ae"].double(),
        moments["sum_ae"].double(),
        raw["exx"],
        sum_e,
        sum_e,
        mx,
        mx,
        sa,
        sa,
    )
    ryy = _centred_norm_products(
        n,
        float(moments["sum_bb"]),
        moments["sum_bf"].double(),
        moments["sum_bf"].double(),
        raw["eyy"],
        sum_f,
        sum_f,
        my,
        my,
        sb,
        sb,
    )
    return rxy, rxx, ryy


def _debiased_terms(hsic: float, sum_a: float, sum_b: float, sum_ab: float, n: int) -> float:
    """Unbiased HSIC (Song et al. 2012) from the biased term and centred row-norm sums."""
    return hsic - n / (n - 2.0) * sum_ab + sum_a * sum_b / ((n - 1.0) * (n - 2.0))


# size: one argument per streamed sum of the expanded product
def _centred_norm_products(
    n: int,
    sum_ab: float,
    sum_a_f: torch.Tensor,
    sum_b_e: torch.Tensor,
    sum_ef: torch.Tensor,
    sum_e: torch.Tensor,
    sum_f: torch.Tensor,
    u: torch.Tensor,
    v: torch.Tensor,
    sa: float,
    sb: float,
) -> float:
    """sum_i ||e_i - u||^2 ||f_i - v||^2 expanded into streamed sums
    (a_i = ||e_i||^2, b_i = ||f_i||^2, sa = sum a_i, sb = sum b_i, sum_ef = sum e_i f_i^T)."""
    uu, vv = float(u @ u), float(v @ v)
    return (
        sum_ab
        - 2.0 * float(sum_a_f @ v)
        + vv * sa
        - 2.0 * float(sum_b_e @ u)
        + 4.0 * float(u @ sum_ef @ v)
        - 2.0 * vv * float(sum_e @ u)
        + uu * sb
        - 2.0 * uu * float(sum_f @ v)
        + n * uu * vv
    )
