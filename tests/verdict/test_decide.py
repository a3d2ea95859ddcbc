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


def _near_synonyms(case: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Four classes of 20 rows in 384 dims, within-class eigenvalues 1/j; classes 0 and 1
    differ along one low-variance direction only (``near``) or are one population (``split``)."""
    rng = np.random.default_rng(seed)
    d = 384
    sd = 1.0 / np.sqrt(np.arange(1, d + 1))
    q = np.linalg.qr(rng.standard_normal((d, d)))[0]
    centres = rng.standard_normal((4, d)) * 0.15
    centres[1] = centres[0] + (10.0 * sd[200] * q[:, 200] if case == "near" else 0.0)
    y = np.repeat(np.arange(4), 20)
    return centres[y] + (rng.standard_normal((80, d)) * sd) @ q.T, y


def _merged(v) -> list[tuple[str, ...]]:
    return [f.classes for f in v.findings if f.kind == MERGED]


def test_merged_candidates_a_pairwise_probe_separates_are_not_merged():
    x, y = _near_synonyms("near", 20_000)
    rep = analyze(x, y, bootstrap=0, probe_folds=3)
    stats = ClassStats(4, x.shape[1])
    stats.update(torch.as_tensor(x), torch.as_tensor(y))
    # the one-pass screen alone (no row sample) merges the pair: the shift is small next to
    # the total within-class variance
    alone = decide(rep.metrics, rep.baseline, stats=stats)
    assert _merged(alone) == [("0", "1")]
    # the probe on the sampled rows sees the direction and separates it; the evidence says so
    assert _merged(rep.verdict) == [] and rep.verdict.label == HEALTHY
    separated = [e for e in rep.verdict.evidence if e.metric == "pair_probe_accuracy 0 vs 1"]
    assert len(separated) == 1 and separated[0].value > 0.8 and "not merged" in separated[0].rule


def test_a_class_split_in_two_stays_merged_with_both_numbers_in_the_evidence():
    x, y = _near_synonyms("split", 20_001)
    v = analyze(x, y, bootstrap=0, probe_folds=3).verdict
    assert _merged(v) == [("0", "1")] and v.label == PARTIAL
    ((a, b, t, acc, p),) = v.findings[0].evidence["probe_pairs"]
    assert (a, b) == ("0", "1") and t < v.findings[0].evidence["threshold"]
    assert acc < 0.8 and p > v.findings[0].evidence["probe_level"]
