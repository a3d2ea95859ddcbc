"""Label ``neural collapse`` (Papyan, Han & Donoho 2020, "Prevalence of neural collapse during the
terminal phase of deep learning training", PNAS).

Each NC property is judged on its own (:mod:`~collapsekit.verdict.rules.nc_properties`: a
z-score against the random-label null's simulated spread, at least ``neural_z``, and an
absolute limit) and reported in ``report.verdict.neural_collapse``. The label requires at least
``neural_min_rows_per_class`` rows in every class and

* NC1 reached (``nc1``),
* NC2 reached (``etf_error`` and ``equinorm``) with three or more classes (two centred means
  always form a simplex ETF),
* NC4 reached (``ncc_agreement``) when classifier weights were given.

With two classes and no classifier weights only NC1 can be tested, and NC1 alone (whose
``Sigma_B^+`` then sees one direction) does not establish the terminal-phase geometry: the
label is not given and ``tests_not_run`` says why.

NC3 (self-duality, with classifier weights) is reported but not required: a classifier trained
with a bias or label smoothing can keep NC1, NC2 and NC4 without it. The summary names every
property not reached, so a partial state reads as such. Needs labels, two or more classes and
NC1.
"""

from __future__ import annotations

import math
from typing import Any

from collapsekit.verdict.context import RuleResult, VerdictContext
from collapsekit.verdict.evidence import Evidence
from collapsekit.verdict.labels import NEURAL
from collapsekit.verdict.rules.nc_properties import (
    NOT_TESTED,
    REACHED,
    nc_properties,
    status_sentence,
)

#: the properties the label needs (NC4 joins when tested)
REQUIRED = ("nc1", "nc2")


def neural_collapse(ctx: VerdictContext) -> RuleResult:
    """Fires when NC1, NC2 (and, with classifier weights, NC4) are reached.

    Example:
        >>> import torch
        >>> ctx = VerdictContext({"nc1": 0.01, "etf_error": 0.05, "equinorm": 0.01},
        ...                      {"nc1": 1.0, "nc1_null_sd": 0.1, "etf_error": 0.5,
        ...                       "etf_error_null_sd": 0.05, "equinorm": 0.1,
        ...                       "equinorm_null_sd": 0.02}, has_labels=True,
        ...                      counts=torch.tensor([20, 20, 20]))
        >>> neural_collapse(ctx).fired
        True
    """
    if not (ctx.classes_testable and "nc1" in ctx.metrics):
        return RuleResult()
    missing = [k for k in ("etf_error", "equinorm") if k not in ctx.metrics]
    if missing:  # analyze(metrics=...) left some of them out
        return RuleResult(not_run=(f"neural collapse (not computed: {', '.join(missing)})",))
    counts = ctx.counts
    min_rows = int(counts[counts > 0].min()) if counts is not None else None
    if min_rows is not None and min_rows < ctx.thresholds.neural_min_rows_per_class:
        need = f"{ctx.thresholds.neural_min_rows_per_class:g}"
        return RuleResult(
            not_run=(f"neural collapse (a class has {min_rows} row(s); needs {need})",)
        )
    props = nc_properties(ctx)
    if props["nc1"]["status"] == NOT_TESTED:
        return RuleResult(not_run=(f"neural collapse ({props['nc1']['reason']})",))
    # NC2 is vacuous for two classes (not tested), NC4 needs classifier weights
    needed = [p for p in (*REQUIRED, "nc4") if p == "nc1" or props[p]["status"] != NOT_TESTED]
    if needed == ["nc1"]:
        return RuleResult(
            not_run=(
                "neural collapse (two classes without classifier weights: only NC1 can be "
                "tested, which alone does not establish it)",
            )
        )
    fired = all(props[p]["status"] == REACHED for p in needed)
    evidence = tuple(
        _evidence(ctx, prop, c) for prop, v in props.items() for c in v["checks"] if c["required"]
    )
    return RuleResult(fired=fired, summary=_summary(ctx, props) if fired else "", evidence=evidence)


def _evidence(ctx: VerdictContext, prop: str, c: dict[str, object]) -> Evidence:
    z = float(c["z"])  # type: ignore[arg-type]
    low = c["metric"] != "ncc_agreement"
    side = "below" if low else "at least"
    needed = "needed" if prop in REQUIRED or prop == "nc4" else "reported, not needed"
    head = f"{prop.upper()} ({needed} for neural collapse) reached if {side} the limit"
    if not math.isfinite(z):
        rule = f"{prop.upper()} reached if {side} the limit (no null spread)"
    elif c.get("z_needed", True):
        rule = (
            f"{head} and z >= {ctx.thresholds.neural_z:g} null sds beyond the null "
            f"(z {z:.3g}, null sd {float(c['null_sd']):.3g})"  # type: ignore[arg-type]
        )
    else:  # the limit alone decides (equinorm); its z is shown, not required
        rule = f"{head} (the limit alone decides; z {z:.3g} shown, not required)"
    return Evidence(
        str(c["metric"]),
        float(c["value"]),  # type: ignore[arg-type]
        float(c["limit"]),  # type: ignore[arg-type]
        rule,
        bool(c["reached"]),
        float(c["null_mean"]),  # type: ignore[arg-type]
        NEURAL,
    )


def _summary(ctx: VerdictContext, props: dict[str, dict[str, Any]]) -> str:
    m, base = ctx.metrics, ctx.baseline
    text = (
        "Terminal-phase geometry (Papyan et al. 2020): rows sit tightly on their class means "
        f"(NC1 {m['nc1']:.3g}; random-label null {base.get('nc1', math.nan):.3g}) "
        "and the means form a near simplex equiangular tight frame (ETF error "
        f"{m['etf_error']:.3g}; null {base.get('etf_error', math.nan):.3g}). At "
        "the end of supervised training this is expected; for a frozen encoder it means "
        "these classes are trivially separable. Any low rank that comes with it (down to "
        "K-1 dimensions) belongs to this geometry; it is not dimensional collapse."
    )
    return text + " Properties: " + status_sentence(props)


__all__ = ["REQUIRED", "neural_collapse"]
