"""The cases of the real-runs battery: which arrays each one analyses, and what it measures.

A case is a manifest entry: ``file`` (the ``.npz``), ``features`` (its key), ``labels``,
``weights`` (classifier rows and bias stored beside the features), ``rows`` (MiniLM: the pool
rows the case draws), ``class_names``, ``group`` and ``description``.
"""

from __future__ import annotations

import itertools
from typing import Any

import checks
import numpy as np
from minilm import DRAWS, NS

MINOR = [5, 6, 7, 8, 9]
MINILM_GROUPS = {
    "synonyms": "minilm near-synonyms",
    "paired": "minilm near-synonyms paired",
    "split": "minilm split topic",
}
MINILM_RUNS = {
    "synonyms": "6 topics x {n} sentences, cars vs automobiles drawn independently",
    "paired": "6 topics x {n} sentences, cars vs automobiles on the same {n} templates "
    "(noun swapped)",
    "split": "5 topics x {n} sentences and cooking's other {n} sentences as a 6th label",
}


def _entry(name: str, group: str, description: str, **kw: Any) -> dict[str, Any]:
    base = {"file": f"{name}.npz", "features": "features", "labels": "labels", "weights": False}
    return {"name": name, "group": group, "description": description, **base, **kw}


def specs() -> list[dict[str, Any]]:
    """Every case, in the order of ``docs/real_runs.md``."""
    return [*_supervised(), *_selfsup(), *_cnn(), *_minilm()]


def _supervised() -> list[dict[str, Any]]:
    mlp = (
        "MNIST-1D MLP 40-256-256-128 with BatchNorm (features: last ReLU layer), SGD, "
        "weight decay 5e-3"
    )
    out = [
        _entry(
            f"minority_r400_s{s}",
            "minority collapse",
            f"{mlp}, 300 epochs; 5 classes x 400 rows, 5 classes x 1 row (ratio 400); seed {s}",
            weights=True,
        )
        for s in (0, 1)
    ]
    out.append(
        _entry(
            "balanced_control",
            "minority collapse",
            f"{mlp}, 300 epochs; 10 x 200 rows",
            weights=True,
        )
    )
    return out


def _selfsup() -> list[dict[str, Any]]:
    out = []
    for bn, layer in itertools.product(("nobn", "bn"), ("features", "projection")):
        head = (
            "BatchNorm in projector and predictor" if bn == "bn" else "no normalisation in the head"
        )
        out.append(
            _entry(
                f"simsiam_nostopgrad_{bn}" + ("_projection" if layer == "projection" else ""),
                "simsiam without stop-gradient",
                f"SimSiam on MNIST-1D without stop-gradient, {head}, 30 epochs; "
                f"{'encoder output (128)' if layer == 'features' else 'projector output (128)'} "
                "of 1,000 held-out rows; judged without labels",
                file=f"simsiam_nostopgrad_{bn}.npz",
                features=layer,
                labels=None,
            )
        )
    out.append(
        _entry(
            "linear_infonce",
            "self-supervised dimensional collapse",
            "z = W x (32 x 32), InfoNCE, views x + N(0, 0.09 I), data variances 1 .. 1e-3 "
            "(geometric); 2,000 clean rows; no labels",
            labels=None,
        )
    )
    out.append(
        _entry(
            "simclr_backbone",
            "self-supervised dimensional collapse",
            "SimCLR on MNIST-1D, MLP backbone (128), projector 128-128-64, NT-Xent tau 0.5, "
            "60 epochs; backbone features of 1,000 held-out rows; judged without labels",
            labels=None,
        )
    )
    return out


def _cnn() -> list[dict[str, Any]]:
    out = []
    cnn = "MNIST-1D CNN (3 conv + dense 128), 200 rows per class, SGD, weight decay 5e-3"
    for stage, what in (
        ("early", "epoch 3 of 150, train rows"),
        ("final", "epoch 150, train rows"),
        ("heldout", "epoch 150, 1,000 held-out rows"),
    ):
        out.append(_entry(f"cnn_{stage}", "terminal phase (CNN)", f"{cnn}; {what}", weights=True))
    return out


def _minilm() -> list[dict[str, Any]]:
    out = []
    for kind, n, d in itertools.product(("synonyms", "paired", "split"), NS, range(DRAWS)):
        name = f"minilm_{kind}_n{n}_d{d}"
        out.append(
            _entry(
                name,
                MINILM_GROUPS[kind],
                f"frozen MiniLM, {MINILM_RUNS[kind].format(n=n)}; draw {d}",
                file="minilm_topics.npz",
                features="pool",
                rows=f"{name}__rows",
                labels=f"{name}__labels",
                class_names="split_names" if kind == "split" else "synonyms_names",
            )
        )
    return out


def measure(case: dict[str, Any], entry: dict[str, Any]) -> dict[str, float]:
    """The float64 checks of one case (:mod:`checks`), rounded for the manifest."""
    x, y = case["features"], case["labels"]
    nums = {**checks.spectrum(x), **checks.null_spectrum(*x.shape)}
    if y is not None:
        nums.update(checks.class_geometry(x, y))
        nums.update(checks.class_span(x, y))
        nums.update(checks.null_etf_error(len(np.unique(y)), x.shape[1]))
        nums["probe"] = checks.probe(x, y)
        nums["chance"] = float(np.bincount(y).max() / len(y))
    if case["weights"] is not None:
        nums.update(checks.classifier(x, y, case["weights"], case["bias"]))
    if entry["group"] == "minority collapse" and entry["name"] != "balanced_control":
        w = case["weights"]
        nums["minor_classifier_cos"] = checks.mean_pairwise_cos(w, MINOR)
        nums["major_classifier_cos"] = checks.mean_pairwise_cos(w, [0, 1, 2, 3, 4])
        major = y < 5
        nums["probe_major"] = checks.probe(x[major], y[major])
        nums.update({f"major_{k}": v for k, v in checks.class_geometry(x[major], y[major]).items()})
        minor = np.asarray(x[~major], np.float64)
        gaps = np.linalg.norm(minor[:, None] - minor[None], axis=-1)
        nums["minor_rows_max_distance"] = float(gaps.max())
        nums["minor_rows_max_norm"] = float(np.linalg.norm(minor, axis=1).max())
        nums["major_within_rms"] = float(
            np.sqrt(((x[major] - x[major].mean(0)) ** 2).sum(1).mean())
        )
    if entry["group"].startswith("minilm"):
        nums.update(_pair_numbers(x, y, case["class_names"]))
    return {k: float(f"{v:.4g}") for k, v in nums.items()}


def _pair_numbers(x: np.ndarray, y: np.ndarray, names: list[str]) -> dict[str, float]:
    """The watched pair (cars/automobiles, or cooking and its 2nd label) against the others."""
    pair = ("cars", "automobiles") if "automobiles" in names else ("cooking", "cooking (2nd label)")
    a, b = (names.index(p) for p in pair)
    xa, xb = np.asarray(x[y == a], np.float64), np.asarray(x[y == b], np.float64)
    shift = xa.mean(0) - xb.mean(0)
    unit = shift / np.linalg.norm(shift)
    var_total = xa.var(0).sum() + xb.var(0).sum()
    var_along = (xa @ unit).var() + (xb @ unit).var()
    others = [
        checks.pair_probe(x, y, i, j)
        for i, j in itertools.combinations(range(len(names)), 2)
        if {i, j} != {a, b}
    ]
    return {
        "pair_probe": checks.pair_probe(x, y, a, b),
        "other_pairs_min_probe": min(others),
        "shift2_over_total_var": float(shift @ shift / var_total),
        "shift2_over_var_along_shift": float(shift @ shift / var_along),
    }
