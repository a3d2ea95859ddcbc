"""The expected verdict of each real-runs case, decided from the float64 checks (:mod:`checks`)
and never from what collapsekit prints.

Each function asserts the numbers its expectation rests on: if a re-trained fixture no longer
shows them, ``expected.py`` stops instead of writing an expectation the data does not support.

The ``expected`` dict of a manifest entry:

* ``label``: the label we expect; ``acceptable_labels``: it and any other label that is
  honest on this data; ``forbidden_labels``: every other label;
* ``dimensional``: ``"severe"`` (the label ``dimensional collapse``), ``"partial"`` (that label
  or a ``partial dimensional collapse`` finding), ``"none"`` (neither), ``"n/a"``;
* ``nc``: for NC1 (variability), NC2 (ETF: equinorm, equiangularity), NC3 (self-duality),
  NC4 (NCC agreement), ``"reached"``, ``"not reached"`` or ``"either"`` (the data does not
  decide); absent: not judged;
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


def _expected(label: str, also: tuple[str, ...] = (), **kw: Any) -> dict[str, Any]:
    return {
        "label": label,
        "acceptable_labels": [label, *also],
        "forbidden_labels": [x for x in LABELS if x not in (label, *also)],
        "dimensional": kw.get("dimensional", "none"),
        "nc": kw.get("nc", {}),
        "required_findings": kw.get("required", []),
        "forbidden_findings": kw.get("forbidden_findings", []),
    }


def _minor_rows(n: dict[str, float]) -> str:
    if n["minor_rows_max_norm"] == 0:
        return "the 5 minority rows are all the zero vector (every last-layer unit off)"
    return (
        f"the 5 minority rows lie within {n['minor_rows_max_distance']:.2g} of each other "
        f"(major classes' RMS spread {n['major_within_rms']:.3g})"
    )


def minority(n: dict[str, float]) -> tuple[dict[str, Any], str]:
    """Imbalanced MLP: minority collapse of the classifier, low rank the classes explain; the
    one-row minority classes share one feature vector, so merging them is honest too."""
    assert n["minor_classifier_cos"] > 0.8 and n["major_classifier_cos"] < 0, n
    assert n["class_span_share"] > 0.95 and n["probe_major"] > 0.95, n
    assert n["etf_error"] > n["null_etf_error_mean"] and n["equinorm"] > 0.2, n
    why = (
        f"minor classifier rows mean cos {n['minor_classifier_cos']:.4f} (major "
        f"{n['major_classifier_cos']:.3f}); {_minor_rows(n)}; {n['dead_1pct']:.0f}/"
        f"{n['dim']:.0f} directions below 1% (null {n['null_dead_1pct']:.0f}), effective rank "
        f"{n['effective_rank']:.1f} (null {n['null_effective_rank']:.1f}), but "
        f"{100 * n['class_span_share']:.2f}% of the variance lies in the {n['class_span_dim']:.0f}"
        f"-dim span of the class means: low rank explained by the classes; major classes probe "
        f"{n['probe_major']:.3f}; NC1 {n['nc1']:.3g}, NC3 {n['nc3']:.3f}, NCC agreement "
        f"{n['ncc_agreement']:.4f}, but equinorm {n['equinorm']:.3f} and ETF error "
        f"{n['etf_error']:.3f} (random means {n['null_etf_error_mean']:.3f}): NC2 absent, so not "
        "neural collapse; 'partial class collapse' only with a merged {5..9} finding"
    )
    return _expected(
        "healthy",
        also=("partial class collapse",),
        nc=nc_status(n),
        required=[{"kind": "minority collapse", "classes": DIGITS[5:]}],
        forbidden_findings=[
            {"kind": "merged classes", "within": DIGITS[:5]},
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


def _nc_numbers(n: dict[str, float]) -> str:
    return (
        f"NC1 {n['nc1']:.3g}; equinorm {n['equinorm']:.3f}; mean cos of class means "
        f"{n['mean_cos']:.4f} (ETF {n['etf_cos']:.4f}), std {n['equiangularity']:.3f} (random "
        f"means: {n['null_equiangularity_mean']:.3f} +- {n['null_equiangularity_std']:.3f}); "
        f"equinorm of random means {n['null_equinorm_mean']:.3f} +- {n['null_equinorm_std']:.3f}; "
        f"ETF error {n['etf_error']:.3f} (random means: {n['null_etf_error_mean']:.3f} +- "
        f"{n['null_etf_error_std']:.3f}); NC3 {n['nc3']:.3f}; NCC agreement "
        f"{n['ncc_agreement']:.3f}; {100 * n['class_span_share']:.1f}% of the variance in the "
        f"class-mean span; classifier accuracy {n['classifier_accuracy']:.3f}"
    )


def nc_status(n: dict[str, float]) -> dict[str, str]:
    """Each NC property judged from the data, with a wide "either" band between the clear cases:
    NC1 reached below 0.05, not above 0.5; NC2 reached with equinorm < 0.1 and the ETF error 3
    null standard deviations below random means, not when equinorm > 0.3 or z > -1; NC3
    reached below 0.1, not above 0.3; NC4 reached at NCC agreement >= 0.99, not below 0.95."""
    z = (n["etf_error"] - n["null_etf_error_mean"]) / n["null_etf_error_std"]

    def band(good: bool, bad: bool) -> str:
        return "reached" if good else "not reached" if bad else "either"

    out = {
        "nc1": band(n["nc1"] < 0.05, n["nc1"] > 0.5),
        "nc2": band(n["equinorm"] < 0.1 and z < -3, n["equinorm"] > 0.3 or z > -1),
    }
    if "nc3" in n:
        out["nc3"] = band(n["nc3"] < 0.1, n["nc3"] > 0.3)
        out["nc4"] = band(n["ncc_agreement"] >= 0.99, n["ncc_agreement"] < 0.95)
    return out


def _nc_label(status: dict[str, str]) -> tuple[str, tuple[str, ...]]:
    values = set(status.values())
    if values == {"reached"}:
        return "neural collapse", ()
    if "not reached" in values:
        return "healthy", ()
    return "neural collapse", ("healthy",)


def supervised_run(n: dict[str, float]) -> tuple[dict[str, Any], str]:
    """A balanced classifier's features (train or held-out, early or late): the label follows
    the NC properties (:func:`nc_status`); low rank the classes explain is no dimensional
    collapse; no class is merged."""
    assert n["probe"] > 0.7, n
    status = nc_status(n)
    label, also = _nc_label(status)
    z = (n["etf_error"] - n["null_etf_error_mean"]) / n["null_etf_error_std"]
    why = (
        _nc_numbers(n)
        + f"; ETF error z = {z:.1f}; probe {n['probe']:.3f}; {_dimensional_why(n)}; NC status "
        + ", ".join(f"{k} {v}" for k, v in status.items())
    )
    explained = n["class_span_share"] > 0.95
    return _expected(
        label,
        also,
        nc=status,
        dimensional="none" if explained or n["dead_1pct"] == 0 else "n/a",
        forbidden_findings=[
            {"kind": "minority collapse", "classes": None},
            {"kind": "merged classes", "classes": None},
            *([{"kind": "partial dimensional collapse", "classes": None}] if explained else []),
        ],
    ), why


def _pair_why(n: dict[str, float], pair: str) -> str:
    return (
        f"{pair}: pairwise probe {n['pair_probe']:.3f} (chance 0.5); every other pair >= "
        f"{n['other_pairs_min_probe']:.3f}; squared mean shift = "
        f"{n['shift2_over_total_var']:.3f} x "
        f"the total within-class variance but {n['shift2_over_var_along_shift']:.2f} x the "
        f"variance along the shift; 6-topic probe {n['probe']:.3f}"
    )


def synonyms(n: dict[str, float], names: list[str]) -> tuple[dict[str, Any], str]:
    """Near-synonym topics a probe separates: no merged classes."""
    assert n["pair_probe"] >= 0.9 and n["other_pairs_min_probe"] >= 0.9, n
    return _expected(
        "healthy",
        dimensional="n/a",
        forbidden_findings=[{"kind": "merged classes", "within": names}],
    ), _pair_why(n, "cars vs automobiles")


def split(n: dict[str, float], names: list[str]) -> tuple[dict[str, Any], str]:
    """One topic under two labels: exactly that pair merged."""
    assert n["pair_probe"] <= 0.65 and n["other_pairs_min_probe"] >= 0.9, n
    others = [x for x in names if x != "cooking (2nd label)"]
    return _expected(
        "partial class collapse",
        dimensional="n/a",
        required=[{"kind": "merged classes", "classes": ["cooking", "cooking (2nd label)"]}],
        forbidden_findings=[{"kind": "merged classes", "within": others}],
    ), _pair_why(n, "cooking vs its 2nd label")
