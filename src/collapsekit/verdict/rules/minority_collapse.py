"""Finding ``minority collapse`` (Fang et al. 2021, "Exploring deep neural networks via
layer-peeled model: minority collapse in imbalanced training", PNAS).

With class-size imbalance ``max n / min n >= minority_imbalance``, the classes below the
geometric mid-size ``sqrt(max n x min n)`` are the minority. The finding fires when the mean
pairwise cosine of their classifier rows is at least ``minority_cos`` and at least
``minority_cos_margin`` above both the majority rows' mean cosine and the simplex-ETF value
``-1/(K-1)`` (random rows: 0). Needs classifier weights aligned to the class ids, three or more
classes and two or more minority classes; otherwise the reason is stated as not run.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from collapsekit.verdict.context import RuleResult, VerdictContext
from collapsekit.verdict.findings import Finding
from collapsekit.verdict.labels import MINORITY


def minority_collapse(ctx: VerdictContext) -> RuleResult:
    """The ``minority collapse`` finding, or the reason the test did not run.

    Example:
        >>> import torch
        >>> ctx = VerdictContext({}, {}, has_labels=True, counts=torch.tensor([5, 5]))
        >>> minority_collapse(ctx).not_run
        ('minority collapse (no classifier weights)',)
    """
    counts = ctx.counts
    if not (ctx.classes_testable and counts is not None):
        return RuleResult()
    if ctx.weights is None:
        return RuleResult(not_run=("minority collapse (no classifier weights)",))
    w_rows = int(torch.as_tensor(ctx.weights).shape[0])
    if w_rows != counts.numel():
        return RuleResult(
            not_run=(
                f"minority collapse (classifier weights have {w_rows} rows for "
                f"{counts.numel()} class ids; pass rows aligned to the class ids)",
            )
        )
    found, reason = _minority_test(ctx, counts)
    return RuleResult(
        fired=found is not None,
        findings=() if found is None else (found,),
        not_run=() if reason is None else (reason,),
    )


def _unit_rows(weights: Any, k: int) -> torch.Tensor:
    """The classifier rows as float64 unit vectors (zero rows stay zero)."""
    w = torch.as_tensor(weights).detach().to("cpu", torch.float64)
    if w.ndim != 2 or w.shape[0] != k:
        raise ValueError(
            f"weights: expected one classifier row per class ({k} x D), received shape "
            f"{tuple(w.shape)}"
        )
    norms = torch.linalg.vector_norm(w, dim=1, keepdim=True)
    return w / torch.where(norms > 0, norms, torch.ones_like(norms))


def _mean_cos(u: torch.Tensor, ids: torch.Tensor) -> float:
    """Mean pairwise cosine of the unit rows ``u[ids]`` (NaN for fewer than two)."""
    if ids.numel() < 2:
        return math.nan
    c = u[ids] @ u[ids].T
    m = ids.numel()
    return float((c.sum() - c.diagonal().sum()) / (m * (m - 1)))


def _minority_test(ctx: VerdictContext, counts: torch.Tensor) -> tuple[Finding | None, str | None]:
    """The finding (or ``None``) and, when the test cannot run, the reason."""
    t = ctx.thresholds
    u = _unit_rows(ctx.weights, counts.numel())
    present = torch.nonzero(counts > 0).flatten()
    n = counts[present].double()
    if present.numel() < 3:
        return None, "minority collapse (needs 3 or more classes)"
    imbalance = float(n.max() / n.min())
    if imbalance < t.minority_imbalance:
        return None, (
            f"minority collapse (classes balanced: largest/smallest {imbalance:.3g} < "
            f"{t.minority_imbalance:g})"
        )
    cut = math.sqrt(float(n.max() * n.min()))
    minority, majority = present[n < cut], present[n >= cut]
    if minority.numel() < 2:
        return None, "minority collapse (fewer than 2 minority classes)"
    etf = -1.0 / (int(present.numel()) - 1)
    cos_min, cos_maj = _mean_cos(u, minority), _mean_cos(u, majority)
    reference = max(etf, cos_maj) if math.isfinite(cos_maj) else etf
    if not (cos_min >= t.minority_cos and cos_min - reference >= t.minority_cos_margin):
        return None, None
    evidence = {
        "minority_mean_cos": cos_min,
        "majority_mean_cos": cos_maj,
        "etf_cos": etf,
        "null_cos": 0.0,
        "threshold_cos": t.minority_cos,
        "threshold_margin": t.minority_cos_margin,
        "imbalance": imbalance,
        "imbalance_threshold": t.minority_imbalance,
        "minority_sizes": [int(x) for x in counts[minority].tolist()],
    }
    return Finding(MINORITY, tuple(ctx.names[c] for c in minority.tolist()), evidence), None


__all__ = ["minority_collapse"]
