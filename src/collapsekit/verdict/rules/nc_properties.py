"""The four neural-collapse properties, each judged on its own against the random-label null's
simulated spread (Papyan, Han & Donoho 2020).

For a metric that is low under collapse (positive, skewed), the z-score is read on the log
scale, ``z = (log null mean - log value) / (null sd / null mean)``: on the linear scale a perfect
value 0 could not reach ``z = 3`` whenever the null's mean lies within 3 sds of 0 (equinorm
of a few classes). For NCC agreement, high under collapse, ``z = (value - null mean) / null sd``.
The null mean and sd are those of
:func:`~collapsekit.inference.null_model.isotropic_null` (``<key>`` and
``<key>_null_sd``: the same N, D and class sizes, labels at random). A check is *reached* when
``z >= neural_z`` and the value is past its absolute limit (``neural_nc1``,
``neural_etf_error``, ...): the z-score alone would call any trained network's NC1 collapsed
when the null is tight (many rows), the limit alone would call random class means in a wide
layer an ETF. Without a null sd the limit alone decides (z reported as NaN).

Properties (``report.verdict.neural_collapse``, one entry each):

* ``nc1``: within-class variability, ``nc1``;
* ``nc2``: simplex ETF, ``etf_error`` (z and limit) and ``equinorm`` (its limit only: random
  means in a wide layer are already nearly equinormed, null 0.06 at D = 128, so its z is
  reported, not required); ``equiangularity`` is listed, not required;
* ``nc3``: self-duality, ``self_duality`` (needs classifier weights); null: unrelated weights,
  mean ``sqrt 2``, sd ``1 / sqrt(2 (K-1) D)``;
* ``nc4``: nearest-class-centre agreement, ``ncc_agreement`` (needs classifier weights); null:
  mean ``1/K``, binomial sd ``sqrt(p (1-p) / N)``.

Each entry: ``{"status": "reached" | "not reached" | "not tested", "checks": [...],
"reason": ...}``; a check is ``{"metric", "value", "limit", "null_mean", "null_sd", "z",
"required", "reached"}``.
"""

from __future__ import annotations

import math
from typing import Any

from collapsekit.inference.null_model import NULL_SD_SUFFIX
from collapsekit.verdict.context import VerdictContext

REACHED, NOT_REACHED, NOT_TESTED = "reached", "not reached", "not tested"

#: property -> (metric, absolute-limit threshold name or None, required, low is collapse,
#: z required)
_CHECKS: dict[str, tuple[tuple[str, str | None, bool, bool, bool], ...]] = {
    "nc1": (("nc1", "neural_nc1", True, True, True),),
    "nc2": (
        ("etf_error", "neural_etf_error", True, True, True),
        ("equinorm", "neural_equinorm", True, True, False),
        ("equiangularity", None, False, True, True),
    ),
    "nc3": (("self_duality", "neural_self_duality", True, True, True),),
    "nc4": (("ncc_agreement", "neural_ncc_agreement", True, False, True),),
}
#: what each property means, for the summary
TITLES = {
    "nc1": "NC1 (within-class variability)",
    "nc2": "NC2 (simplex ETF)",
    "nc3": "NC3 (self-duality)",
    "nc4": "NC4 (nearest-centre agreement)",
}


def _null(ctx: VerdictContext, metric: str) -> tuple[float, float]:
    """``(mean, sd)`` of ``metric`` under the null (NaN where unknown)."""
    base = ctx.baseline
    if metric in base:
        return float(base[metric]), float(base.get(metric + NULL_SD_SUFFIX, math.nan))
    counts = ctx.counts
    if counts is None:
        return math.nan, math.nan
    k = int((counts > 0).sum())
    n = int(counts.sum())
    if metric == "ncc_agreement" and k >= 2:
        p = 1.0 / k
        return p, math.sqrt(p * (1.0 - p) / max(n, 1))
    if metric == "self_duality" and k >= 2 and ctx.stats is not None:
        d = int(ctx.stats.class_means().shape[1])
        return math.sqrt(2.0), 1.0 / math.sqrt(2.0 * (k - 1) * d)
    return math.nan, math.nan


def _z(value: float, mean: float, sd: float, low: bool) -> float:
    """The z-score of ``value`` against the null (module docstring); NaN without a null."""
    if not (sd > 0 and math.isfinite(mean) and math.isfinite(value)):
        return math.nan
    if not low:
        return (value - mean) / sd
    if mean <= 0:
        return math.nan
    return math.inf if value <= 0 else math.log(mean / value) / (sd / mean)


def _check(
    ctx: VerdictContext,
    metric: str,
    limit_name: str | None,
    required: bool,
    low: bool,
    z_needed: bool = True,
) -> dict[str, Any]:
    t = ctx.thresholds
    value = float(ctx.metrics[metric])
    mean, sd = _null(ctx, metric)
    z = _z(value, mean, sd, low)
    limit = float(getattr(t, limit_name)) if limit_name is not None else math.nan
    past = (value < limit if low else value >= limit) if limit_name is not None else True
    beyond = (z >= t.neural_z if math.isfinite(z) else limit_name is not None) or not z_needed
    return {
        "metric": metric,
        "value": value,
        "limit": limit,
        "null_mean": mean,
        "null_sd": sd,
        "z": z,
        "required": required,
        "z_needed": z_needed,
        "reached": bool(math.isfinite(value) and past and beyond),
    }


def nc1_check(ctx: VerdictContext) -> dict[str, Any]:
    """The NC1 check alone, whatever the class sizes (the dimensional-collapse rule asks whether
    the class geometry explains a low rank, 1-row minority classes included).

    Example:
        >>> nc1_check(VerdictContext({"nc1": 0.01}, {"nc1": 1.0, "nc1_null_sd": 0.1}))["reached"]
        True
    """
    return _check(ctx, "nc1", "neural_nc1", True, True)


def nc_properties(ctx: VerdictContext) -> dict[str, dict[str, Any]]:
    """Every NC property's status and checks (module docstring); empty without labels, two
    classes or NC1; ``not tested`` with fewer than two rows per class on average (the label
    needs ``neural_min_rows_per_class`` in every class: see the neural-collapse rule).

    Example:
        >>> import torch
        >>> ctx = VerdictContext(
        ...     {"nc1": 0.01, "etf_error": 0.3, "equinorm": 0.01, "equiangularity": 0.1},
        ...     {"nc1": 1.0, "nc1_null_sd": 0.1, "etf_error": 0.3, "etf_error_null_sd": 0.05,
        ...      "equinorm": 0.1, "equinorm_null_sd": 0.02}, has_labels=True,
        ...     counts=torch.tensor([50, 50, 50]))
        >>> {k: v["status"] for k, v in nc_properties(ctx).items()}
        {'nc1': 'reached', 'nc2': 'not reached', 'nc3': 'not tested', 'nc4': 'not tested'}
    """
    if not (ctx.classes_testable and "nc1" in ctx.metrics):
        return {}
    counts = ctx.counts
    present = counts[counts > 0] if counts is not None else None
    # NC1 needs within-class variation to measure: N - K >= K (2 rows per class on average;
    # single-row minority classes are fine, one row per class everywhere is not)
    few = present is not None and int(present.sum()) - present.numel() < present.numel()
    out: dict[str, dict[str, Any]] = {}
    for prop, specs in _CHECKS.items():
        missing = [m for m, _, req, *_ in specs if req and m not in ctx.metrics]
        if few:
            reason = "fewer than 2 rows per class on average: no within-class variation to judge"
            out[prop] = {"status": NOT_TESTED, "checks": [], "reason": reason}
            continue
        if prop == "nc2" and present is not None and present.numel() < 3:
            reason = "two classes: any two centred means form a simplex ETF (vacuous)"
            out[prop] = {"status": NOT_TESTED, "checks": [], "reason": reason}
            continue
        if missing:
            why = "no classifier weights" if prop in ("nc3", "nc4") else "not computed"
            out[prop] = {
                "status": NOT_TESTED,
                "checks": [],
                "reason": f"{why}: {', '.join(missing)}",
            }
            continue
        checks = [_check(ctx, *spec) for spec in specs if spec[0] in ctx.metrics]
        ok = all(c["reached"] for c in checks if c["required"])
        out[prop] = {"status": REACHED if ok else NOT_REACHED, "checks": checks, "reason": ""}
    return out


def status_sentence(props: dict[str, dict[str, Any]]) -> str:
    """``"NC1, NC4 reached; NC2 not reached (etf_error 0.22, z 0.1); NC3 not tested."``, or ``""``
    without properties.

    Example:
        >>> status_sentence({"nc1": {"status": "reached", "checks": []},
        ...                  "nc2": {"status": "not reached", "checks": [
        ...                      {"metric": "etf_error", "value": 0.22, "z": 0.1,
        ...                       "required": True, "reached": False}]}})
        'NC1 reached; NC2 not reached (etf_error 0.22, z 0.1).'
    """
    parts = []
    for status in (REACHED, NOT_REACHED, NOT_TESTED):
        names = [p.upper() for p, v in props.items() if v["status"] == status]
        if not names:
            continue
        text = f"{', '.join(names)} {status}"
        if status == NOT_REACHED:
            failed = [
                f"{c['metric']} {c['value']:.3g}, z {c['z']:.2g}"
                for p, v in props.items()
                if v["status"] == NOT_REACHED
                for c in v["checks"]
                if c["required"] and not c["reached"]
            ]
            text += f" ({'; '.join(failed)})"
        parts.append(text)
    return "; ".join(parts) + "." if parts else ""


__all__ = [
    "NOT_REACHED",
    "NOT_TESTED",
    "REACHED",
    "TITLES",
    "nc1_check",
    "nc_properties",
    "status_sentence",
]
