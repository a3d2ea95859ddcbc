"""He & Su (2023): the law of data separation, a geometric decay of class overlap with depth."""

from __future__ import annotations

import math
from collections.abc import Sequence


def separation_law_fit(values: Sequence[float]) -> dict[str, float]:
    """Least-squares fit of ``log values[l] = intercept + slope * l`` over layer index l = 0, 1, ...

    He & Su find that the separation fuzziness ``D_l = Tr(SS_w SS_b^+)`` of layer l decays
    geometrically, ``D_l ~ rho^l D_0``, in well-trained networks. Fed with NC1 per layer (NC1 is
    D up to the constant factor 1/K, which moves the intercept only), this returns
    ``rho = exp(slope)`` (the per-layer decay factor: below 1 when every layer separates the
    classes a bit more, and all layers contribute equally when the fit is good), ``slope``,
    ``intercept``, ``r2`` (how well a straight line in log scale fits: close to 1 means the law
    holds) and ``num_layers`` (the layers with a finite positive value, the only ones used).

    Degenerate cases: fewer than two usable layers give NaN for every fitted value; two layers
    give ``r2 = 1``; a constant sequence gives ``rho = 1`` and ``r2 = 1``.

    Reference: He & Su, "A law of data separation in deep learning", PNAS 2023.

    Example:
        >>> fit = separation_law_fit([8.0, 4.0, 2.0, 1.0])
        >>> round(fit["rho"], 6), round(fit["r2"], 6), fit["num_layers"]
        (0.5, 1.0, 4.0)
    """
    points = [
        (float(i), math.log(v))
        for i, v in enumerate(values)
        if isinstance(v, int | float) and math.isfinite(v) and v > 0
    ]
    nan = math.nan
    if len(points) < 2:
        return {
            "rho": nan,
            "slope": nan,
            "intercept": nan,
            "r2": nan,
            "num_layers": float(len(points)),
        }
    n = len(points)
    xm = sum(p[0] for p in points) / n
    ym = sum(p[1] for p in points) / n
    sxx = sum((p[0] - xm) ** 2 for p in points)
    sxy = sum((p[0] - xm) * (p[1] - ym) for p in points)
    syy = sum((p[1] - ym) ** 2 for p in points)
    slope = sxy / sxx
    intercept = ym - slope * xm
    ss_res = sum((p[1] - intercept - slope * p[0]) ** 2 for p in points)
    r2 = 1.0 - ss_res / syy if syy > 0 else 1.0
    return {
        "rho": math.exp(slope),
        "slope": slope,
        "intercept": intercept,
        "r2": r2,
        "num_layers": float(n),
    }
