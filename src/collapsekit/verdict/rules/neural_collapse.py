"""Label ``neural collapse`` (Papyan, Han & Donoho 2020, "Prevalence of neural collapse during the
terminal phase of deep learning training", PNAS).

Rule: at least ``neural_min_rows_per_class`` rows in every class, and every one of

* NC1 below ``min(neural_nc1, neural_nc1_null_ratio x null)``,
* the ETF error below ``min(neural_etf_error, neural_etf_null_ratio x null)``,
* equinorm below ``neural_equinorm``,
* (with classifier weights) NCC agreement at least ``neural_ncc_agreement``,

the nulls being the random-label values of the same N, D and class sizes (so noise with few rows
per class in high D, whose NC1 is small too, does not pass). Needs labels, two or more classes and
NC1; a missing null counts as inf (the absolute limit alone applies).
"""

from __future__ import annotations

import math

from collapsekit.verdict.context import RuleResult, VerdictContext
from collapsekit.verdict.evidence import Evidence
from collapsekit.verdict.labels import NEURAL

_HOW = "neural collapse needs every one of these ({})"


#: the metrics the neural-collapse label needs (NC4 agreement joins when present)
_NEEDED = ("nc1", "etf_error", "equinorm")


def neural_collapse(ctx: VerdictContext) -> RuleResult:
    """Fires when every neural-collapse condition holds.

    Example:
        >>> ctx = VerdictContext({"nc1": 0.01, "etf_error": 0.05, "equinorm": 0.01},
        ...                      {"nc1": 1.0, "etf_error": 0.5}, has_labels=True)
        >>> neural_collapse(ctx).fired
        True
    """
    if not (ctx.classes_testable and "nc1" in ctx.metrics):
        return RuleResult()
    missing = [k for k in _NEEDED if k not in ctx.metrics]
    if missing:  # analyze(metrics=...) left some of them out
        return RuleResult(not_run=(f"neural collapse (not computed: {', '.join(missing)})",))
    t, m, base = ctx.thresholds, ctx.metrics, ctx.baseline
    counts = ctx.counts
    min_rows = int(counts[counts > 0].min()) if counts is not None else None
    if min_rows is not None and min_rows < t.neural_min_rows_per_class:
        return RuleResult(
            not_run=(
                f"neural collapse (a class has {min_rows} row(s); needs "
                f"{t.neural_min_rows_per_class:g})",
            )
        )
    nc1_null = base.get("nc1", math.inf)
    etf_null = base.get("etf_error", math.inf)
    nc1_limit = min(t.neural_nc1, t.neural_nc1_null_ratio * nc1_null)
    etf_limit = min(t.neural_etf_error, t.neural_etf_null_ratio * etf_null)
    ratio_rule = "below min(abs, ratio x null)"
    checks = [
        ("nc1", m["nc1"], nc1_limit, nc1_null, ratio_rule),
        ("etf_error", m["etf_error"], etf_limit, etf_null, ratio_rule),
        ("equinorm", m["equinorm"], t.neural_equinorm, base.get("equinorm"), "below"),
    ]
    oks = [math.isfinite(v) and v < limit for _, v, limit, _, _ in checks]
    if "ncc_agreement" in m:
        agree = m["ncc_agreement"]
        checks.append(("ncc_agreement", agree, t.neural_ncc_agreement, None, "at least"))
        oks.append(agree >= t.neural_ncc_agreement)
    evidence = tuple(
        Evidence(name, value, limit, _HOW.format(how), ok, null, NEURAL)
        for (name, value, limit, null, how), ok in zip(checks, oks, strict=True)
    )
    fired = all(oks)
    return RuleResult(fired=fired, summary=_summary(ctx) if fired else "", evidence=evidence)


def _summary(ctx: VerdictContext) -> str:
    m, base = ctx.metrics, ctx.baseline
    return (
        "Terminal-phase geometry (Papyan et al. 2020): rows sit tightly on their class means "
        f"(NC1 {m['nc1']:.3g}; random-label null {base.get('nc1', math.nan):.3g}) "
        "and the means form a near simplex equiangular tight frame (ETF error "
        f"{m['etf_error']:.3g}; null {base.get('etf_error', math.nan):.3g}). At "
        "the end of supervised training this is expected; for a frozen encoder it means "
        "these classes are trivially separable. Any low rank that comes with it (down to "
        "K-1 dimensions) belongs to this geometry; it is not dimensional collapse."
    )


__all__ = ["neural_collapse"]
