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
