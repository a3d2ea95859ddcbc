"""The expected verdict of each real-runs case, decided from the float64 checks (:mod:`checks`)
and never from what collapsekit prints.

Each function asserts the numbers its expectation rests on: if a re-trained fixture no longer
shows them, ``expected.py`` stops instead of writing an expectation the data does not support.

The ``expected`` dict of a manifest entry:

* ``label``: the label we expect; ``acceptable_labels``: labels that are honest too;
  ``forbidden_labels``: labels the data contradicts;
* ``dimensional``: ``"severe"`` (the label ``dimensional collapse``), ``"partial"`` (that label
  or a ``partial dimensional collapse`` finding), ``"none"`` (neither), ``"n/a"``;
* ``required_findings``: ``{"kind", "classes"}`` that must be present (same set of classes);
* ``forbidden_findings``: ``{"kind", "classes"}`` (a finding of that kind naming all these
  classes; ``classes`` null: any finding of that kind) or ``{"kind", "within"}`` (a finding
  of that kind naming two or more of these classes).
"""

from __future__ import annotations

from typing import Any

LABELS = (
    "healthy",
    "complete collapse",
    "dimensional collapse",
    "class collapse",
    "partial class collapse",
    "neural collapse",
)
DIGITS = [str(c) for c in range(10)]


def _expected(label: str, also: tuple[str, ...] = (), forbid: tuple[str, ...] = (), **kw: Any):
    forbidden = [x for x in forbid] if forbid else [x for x in LABELS if x not in (label, *also)]
    return {
        "label": label,
        "acceptable_labels": [label, *also],
        "forbidden_labels": forbidden,
        "dimensional": kw.get("dimensional", "none"),
        "required_findings": kw.get("required", []),
        "forbidden_findings": kw.get("forbidden_findings", []),
    }


def minority(n: dict[str, float]) -> tuple[dict[str, Any], str]:
    """Imbalanced MLP: minority collapse of the classifier, low rank the classes explain."""
    assert n["minor_classifier_cos"] > 0.8 and n["major_classifier_cos"] < 0, n
    assert n["class_span_share"] > 0.95 and n["probe_major"] > 0.95, n
    assert n["nc1"] > 1 and n["etf_error"] > n["null_etf_error_mean"], n
    why = (
        f"minor classifier rows mean cos {n['minor_classifier_cos']:.3f} (major "
        f"{n['major_classifier_cos']:.3f}); {n['dead_1pct']:.0f}/{n['dim']:.0f} directions "
        f"below 1% but {100 * n['class_span_share']:.1f}% of the variance lies in the "
        f"{n['class_span_dim']:.0f}-dim span of the class means (residual: "
        f"{n['residual_live_1pct']:.0f} live directions): low rank explained by the classes; "
        f"major classes probe {n['probe_major']:.3f}; NC1 {n['nc1']:.3g}, ETF error "
        f"{n['etf_error']:.3f} (null {n['null_etf_error_mean']:.3f}): no neural collapse"
    )
    return _expected(
        "healthy",
        required=[{"kind": "minority collapse", "classes": DIGITS[5:]}],
        forbidden_findings=[
            {"kind": "merged classes", "within": DIGITS[:5]},
            {"kind": "partial dimensional collapse", "classes": None},
        ],
    ), why


def balanced(n: dict[str, float]) -> tuple[dict[str, Any], str]:
    """Balanced MLP control: classes separated, low rank the classes explain, no minority."""
    assert n["class_span_share"] > 0.95 and n["probe"] > 0.95, n
    assert n["nc1"] > 0.5, n
    why = (
        f"probe {n['probe']:.3f}; {n['dead_1pct']:.0f}/{n['dim']:.0f} directions below 1% but "
        f"{100 * n['class_span_share']:.1f}% of the variance in the class-mean span; NC1 "
        f"{n['nc1']:.3g}, equinorm {n['equinorm']:.3f}, ETF error {n['etf_error']:.3f} (null "
        f"{n['null_etf_error_mean']:.3f}), NCC agreement {n['ncc_agreement']:.3f}: not terminal"
    )
    return _expected(
        "healthy",
        forbidden_findings=[
            {"kind": "minority collapse", "classes": None},
            {"kind": "merged classes", "classes": None},
            {"kind": "partial dimensional collapse", "classes": None},
        ],
    ), why


def complete(n: dict[str, float]) -> tuple[dict[str, Any], str]:
    """Every row points the same way."""
    ratio = n["std_l2_normalized"] / n["null_std_l2_normalized"]
    assert ratio < 0.05 and n["min_cos_to_mean_direction"] > 0.99, n
    why = (
        f"std of L2-normalised rows {n['std_l2_normalized']:.2g} = {ratio:.3f} x isotropic; "
        f"every row within cos {n['min_cos_to_mean_direction']:.4f} of the mean direction; "
        f"top direction {100 * n['top_variance_share']:.2f}% of the variance"
    )
    return _expected("complete collapse", dimensional="n/a"), why


def _dimensional_why(n: dict[str, float]) -> str:
    return (
        f"{n['dead_1pct']:.0f}/{n['dim']:.0f} singular values below 1% of the largest "
        f"({n['dead_1e4']:.0f} below 1e-4; isotropic null {n['null_dead_1pct']:.0f}); effective "
        f"rank {n['effective_rank']:.1f} (null {n['null_effective_rank']:.1f}); std of "
        f"L2-normalised rows {n['std_l2_normalized'] / n['null_std_l2_normalized']:.2f} x isotropic"
    )


def dimensional(n: dict[str, float]) -> tuple[dict[str, Any], str]:
    """Most directions dead, rows still spread in direction: severe dimensional collapse."""
    assert n["dead_1pct"] >= 0.5 * n["dim"] and n["null_dead_1pct"] == 0, n
    assert n["std_l2_normalized"] > 0.2 * n["null_std_l2_normalized"], n
    return _expected("dimensional collapse", dimensional="severe"), _dimensional_why(n)


def partial_dimensional(n: dict[str, float]) -> tuple[dict[str, Any], str]:
    """A sizeable share of dead directions (Jing et al. call it dimensional collapse), but
    fewer than half: the label or a graded finding."""
    assert 0.2 * n["dim"] <= n["dead_1pct"] < 0.5 * n["dim"] and n["null_dead_1pct"] == 0, n
    return _expected(
        "dimensional collapse", also=("healthy",), dimensional="partial"
    ), _dimensional_why(n)
