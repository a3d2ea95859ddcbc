"""decide(): the rules on real analyses and on hand-made statistics."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from collapsekit import analyze
from collapsekit.render.findings_html import render_findings
from collapsekit.stats.class_stats import ClassStats
from collapsekit.verdict import (
    HEALTHY,
    MERGED,
    NEURAL,
    PARTIAL,
    decide,
    merged_pairs,
)
from references import blobs, simplex_etf


def test_no_labels_states_tests_not_run_and_claims_no_separation():
    report = analyze(np.random.default_rng(0).standard_normal((200, 16)), bootstrap=0)
    v = report.verdict
    assert v.label == HEALTHY
    assert {"class separation (no labels)", "neural collapse (no labels)"} <= set(v.tests_not_run)
    claims = v.summary.split("Not tested:")[0]
    assert "separation" not in claims and "class" not in claims


def test_probe_summary_states_the_rule_as_it_is():
    X = np.random.default_rng(1).standard_normal((300, 16))
    v = analyze(X, np.arange(300) % 3, bootstrap=0, probe_folds=3).verdict
    assert "no better than chance" not in v.summary
    assert "plus 0.1 of the gap to 1" in v.summary


def test_noise_with_two_rows_per_class_is_not_neural_collapse():
    # (one row per class, 60 x 4096, is in the battery)
    x = np.random.default_rng(2).standard_normal((120, 1024))
    two = analyze(x, np.arange(120) % 60, bootstrap=0, probe=False)
    assert two.verdict.label != NEURAL
    assert two.metrics["nc1"] < 0.1  # the absolute rule alone would have fired
    assert two.baseline["nc1"] == pytest.approx(two.metrics["nc1"], rel=0.3)


@functools.cache
def _neural_case():
    k, d = 6, 24
    M = simplex_etf(k, d)
    y = np.repeat(np.arange(k), 30)
    X = 2 * M[y] + 0.01 * np.random.default_rng(4).standard_normal((len(y), d)) + 0.5
    return X, y


@functools.cache
def _partial_case():
    X, y = blobs(360, 6, 24, seed=5, sep=1.0)
    X[y == 4] = X[y == 4] - X[y == 4].mean(0) + X[y == 2].mean(0)
    return X, y


@pytest.mark.parametrize(
    ("scale", "dtype"),
    [(1e-25, np.float64), (1e18, np.float64), (1e-30, np.float32), (1e30, np.float32)],
)  # fmt: skip
def test_verdict_is_scale_invariant(scale, dtype):
    X, y = _neural_case()
    assert analyze((X * scale).astype(dtype), y, bootstrap=0, probe=False).verdict.label == NEURAL
    X, y = _partial_case()
    v = analyze((X * scale).astype(dtype), y, bootstrap=0, probe=False).verdict
    assert v.label == PARTIAL and [f.classes for f in v.findings] == [("2", "4")]


def test_verdict_is_rotation_invariant():
    q, _ = np.linalg.qr(np.random.default_rng(6).standard_normal((24, 24)))
    for build, label in ((_neural_case, NEURAL), (_partial_case, PARTIAL)):
        X, y = build()
        a = analyze(X, y, bootstrap=0, probe=False).verdict
        b = analyze(X @ q, y, bootstrap=0, probe=False).verdict
        assert a.label == b.label == label
        assert a.findings == [] or [f.classes for f in a.findings] == [
            f.classes for f in b.findings
        ]


def test_decide_uses_stats_names_and_presentation_helpers():
    X, y = _partial_case()
    x = torch.tensor(X)
    stats = ClassStats(6, 24)
    stats.update(x, torch.tensor(y))
    names = ["ant", "bee", "cat", "dog", "eel", "fox"]
    metrics = {"std_of_l2_normalized": 0.2, "effective_rank": 20.0, "silhouette": 0.3}
    base = {"std_of_l2_normalized": 0.2, "effective_rank": 22.0, "silhouette": 0.0}
    v = decide(metrics, base, stats=stats, class_names=names)
    assert v.label == PARTIAL
    assert [f.kind for f in v.findings] == [MERGED]
    assert v.findings[0].classes == ("cat", "eel")
    assert merged_pairs(v) == [(2, 4)]
    line = v.findings_lines()[0]
    assert line.startswith("merged classes: cat, eel") and "null mean 1" in line
    html = render_findings(v)
    assert "cat, eel" in html and "null mean of T" in html
    with pytest.raises(ValueError, match="class_names"):
        decide(metrics, base, stats=stats, class_names=["a"])
    with pytest.raises(TypeError, match="thresholds"):
        decide(metrics, base, {"neural_nc1": 0.1})  # type: ignore[arg-type]


def test_healthy_data_has_no_false_findings():
    for seed in range(3):
        X, y = blobs(400, 8, 32, seed=seed, sep=0.6)
        v = analyze(X, y, bootstrap=0, probe=False).verdict
        assert v.label == HEALTHY and v.findings == [], (seed, v.findings_lines())


def test_weights_not_aligned_to_the_classes_skip_minority_collapse():
    X, y = _partial_case()
    stats = ClassStats(6, 24)
    stats.update(torch.tensor(X), torch.tensor(y))
    metrics = {"std_of_l2_normalized": 0.2, "effective_rank": 20.0}
    v = decide(metrics, {"effective_rank": 22.0}, stats=stats, weights=np.ones((9, 24)))
    assert any("weights have 9 rows for 6 class ids" in t for t in v.tests_not_run)
