"""Finding ``collapsed class``: one class far below the others in spread or in effective rank.

Two tests, over the classes with at least two rows (three or more needed):

* spread: the unbiased class variance ``v_c`` against the median class's,
  ``v_c / median < collapsed_class_spread_ratio`` and robust z (log scale, median/MAD)
  ``< -collapsed_class_mad_z``;
* rank: ``q_c = rank_c / null(n_c)``, the per-class effective rank relative to its isotropic null
  at the class's size, with ``q_c / median q < collapsed_class_rank_ratio``, robust z
  ``< -collapsed_class_mad_z`` and ``rank_c < collapsed_class_null_ratio x null(n_c)`` (MONAI's
  "asymmetric collapse").

A class flagged by both gets one finding whose reason joins the two.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from collapsekit.inference.null_model import per_class_rank_null
from collapsekit.verdict.context import RuleResult, VerdictContext
from collapsekit.verdict.findings import Finding
from collapsekit.verdict.labels import COLLAPSED_CLASS
from collapsekit.verdict.rules._common import robust_log_z

_NOT_RUN = "collapsed class (needs 3 or more classes with 2 or more rows and per-class statistics)"


def collapsed_class(ctx: VerdictContext) -> RuleResult:
    """One ``collapsed class`` finding per flagged class, in class-id order. Fires when there is
    one.

    Example:
        >>> import torch
        >>> ctx = VerdictContext({}, {"per_class_effective_rank_n30": 12.0}, has_labels=True,
        ...                      counts=torch.tensor([30] * 4), names=("a", "b", "c", "d"),
        ...                      per_class_rank={"a": 9.0, "b": 10.0, "c": 0.5, "d": 11.0})
        >>> [f.classes for f in collapsed_class(ctx).findings]
        [('c',)]
    """
    counts = ctx.counts
    if not (ctx.classes_testable and counts is not None):
        return RuleResult()
    variances = None
    if ctx.stats is not None:
        variances = torch.zeros(counts.numel(), dtype=torch.float64)
        variances[ctx.stats.present_classes().cpu()] = ctx.stats.class_variances().cpu()
    if int((counts >= 2).sum()) < 3 or (variances is None and not ctx.per_class_rank):
        return RuleResult(not_run=(_NOT_RUN,))
    ok = torch.nonzero(counts >= 2).flatten()
    out: dict[int, dict[str, Any]] = {}
    if variances is not None and ok.numel() >= 3:
        out.update(_spread_outliers(ctx, ok, counts[ok], variances[ok]))
    for c, reason, entry in _rank_outliers(ctx, ok, counts):
        ev = out.setdefault(c, {"reason": ""})
        ev["reason"] = "; ".join(x for x in (ev["reason"], reason) if x)
        ev.update(entry)
    findings = tuple(Finding(COLLAPSED_CLASS, (ctx.names[c],), ev) for c, ev in sorted(out.items()))
    return RuleResult(fired=bool(findings), findings=findings)


def _spread_outliers(
    ctx: VerdictContext, ok: torch.Tensor, counts: torch.Tensor, variances: torch.Tensor
) -> dict[int, dict[str, Any]]:
    """The spread test over the classes ``ok`` (their ``counts`` and biased ``variances``):
    ``{class id: evidence}`` of the classes it flags."""
    t = ctx.thresholds
    n = counts.double()
    v = variances.double() * n / (n - 1.0)
    med = v.median()
    if not float(med) > 0:
        return {}
    ratio = v / med
    z = robust_log_z(v)
    low = (ratio < t.collapsed_class_spread_ratio) & (z < -t.collapsed_class_mad_z)
    out: dict[int, dict[str, Any]] = {}
    for i in torch.nonzero(low).flatten().tolist():
        out[int(ok[i])] = {
            "reason": (
                f"variance {float(ratio[i]):.3g} x the median class's (threshold "
                f"{t.collapsed_class_spread_ratio:g}, null 1); robust z "
                f"{float(z[i]):.3g} (threshold -{t.collapsed_class_mad_z:g})"
            ),
            "variance_ratio": float(ratio[i]),
            "variance_ratio_threshold": t.collapsed_class_spread_ratio,
            "variance_ratio_null": ctx.baseline.get("class_variance_ratio", 1.0),
            "spread_z": float(z[i]),
        }
    return out


def _rank_outliers(
    ctx: VerdictContext, ok: torch.Tensor, counts: torch.Tensor
) -> list[tuple[int, str, dict[str, float]]]:
    """The rank test over the classes ``ok``: ``(class id, reason, evidence)`` of the classes
    it flags."""
    t = ctx.thresholds
    if not ctx.per_class_rank:
        return []
    rows = []
    for c in ok.tolist():
        r = ctx.per_class_rank.get(ctx.names[c])
        null = per_class_rank_null(ctx.baseline, int(counts[c]))
        if r is not None and math.isfinite(r) and null > 0:
            rows.append((c, float(r), null))
    if len(rows) < 3:
        return []
    q = torch.tensor([r / null for _, r, null in rows], dtype=torch.float64)
    med = q.median()
    if not float(med) > 0:
        return []
    rel = q / med
    z = robust_log_z(q)
    out = []
    for i, (c, r, null) in enumerate(rows):
        if not (
            float(rel[i]) < t.collapsed_class_rank_ratio
            and float(z[i]) < -t.collapsed_class_mad_z
            and r < t.collapsed_class_null_ratio * null
        ):
            continue
        reason = (
            f"effective rank {r:.3g} (isotropic null {null:.3g}, threshold "
            f"{t.collapsed_class_null_ratio:g} x null); relative to the median "
            f"class {float(rel[i]):.3g} (threshold "
            f"{t.collapsed_class_rank_ratio:g}); robust z {float(z[i]):.3g}"
        )
        entry = {
            "effective_rank": r,
            "effective_rank_null": null,
            "rank_ratio_to_median": float(rel[i]),
            "rank_z": float(z[i]),
        }
        out.append((c, reason, entry))
    return out


__all__ = ["collapsed_class"]
