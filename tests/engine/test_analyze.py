import json
import math

import numpy as np
import pytest
import torch

from collapsekit import Report, analyze, neural_collapse
from collapsekit.verdict import CLASS, COMPLETE, DIMENSIONAL, HEALTHY, NEURAL
from references import blobs, simplex_etf


def test_healthy_embeddings():
    # many classes, informative but not collapsed: a probe separates them, rank stays high
    X, y = blobs(1500, 30, 64, seed=0, sep=0.35)
    report = analyze(X, y, bootstrap=0)
    assert report.verdict.label == HEALTHY, report.verdict
    assert report.metrics["linear_probe_accuracy"] > 0.5


def test_class_collapse_random_labels():
    X = np.random.default_rng(1).standard_normal((400, 32))
    y = np.arange(400) % 4
    assert analyze(X, y, bootstrap=0).verdict.label == CLASS


def test_complete_collapse():
    rng = np.random.default_rng(2)
    X = np.ones((300, 32)) + 1e-4 * rng.standard_normal((300, 32))
    report = analyze(X, np.arange(300) % 3, bootstrap=0)
    assert report.verdict.label == COMPLETE


def test_dimensional_collapse_without_labels():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((500, 2)) @ rng.standard_normal((2, 128)) + 0.01 * rng.standard_normal(
        (500, 128)
    )
    report = analyze(X, bootstrap=0)
    assert report.verdict.label == DIMENSIONAL
    assert "nc1" not in report.metrics


def test_neural_collapse_geometry():
    k, d = 8, 32
    M = simplex_etf(k, d)
    y = np.repeat(np.arange(k), 40)
    X = 3 * M[y] + 0.01 * np.random.default_rng(4).standard_normal((len(y), d))
    report = analyze(X, y, weights=M, bootstrap=0)
    assert report.verdict.label == NEURAL
    assert report.metrics["ncc_agreement"] == 1.0


def test_metrics_are_flat_floats_and_match_functions():
    X, y = blobs(200, 4, 10, seed=5)
    W = np.random.default_rng(0).standard_normal((4, 10))
    ref = X @ np.random.default_rng(1).standard_normal((10, 6))
    report = analyze(X, y, weights=W, reference=ref, ood_features=X[:20] + 5, bootstrap=0)
    assert all(isinstance(v, float) for v in report.metrics.values())
    nc = neural_collapse(X, y, weights=W, ood_features=X[:20] + 5)
    for key, value in nc.items():
        assert report.metrics[key] == pytest.approx(value, rel=1e-12, nan_ok=True), key
    for key in (
        "linear_cka",
        "linear_cka_debiased",
        "rankme",
        "silhouette",
        "uniformity",
        "loo_centroid_stability",
        "per_class_effective_rank_0",
    ):
        assert key in report.metrics


def test_bootstrap_intervals_tiny_cohort_seeded():
    X, y = blobs(14, 2, 48, seed=6, sep=1.0)  # 14 slides, two classes
    a = analyze(X, y, seed=3)
    b = analyze(X, y, seed=3)
    assert a.inputs["bootstrap_resamples"] == 200
    assert a.intervals == b.intervals
    for key in ("effective_rank", "centroid_similarity", "silhouette", "nc1"):
        lo, hi = a.intervals[key]
        assert lo <= hi
    lo, hi = a.intervals["centroid_similarity"]
    assert lo - 1e-9 <= a.metrics["centroid_similarity"] <= hi + 1e-9


def test_every_stage_reports_progress_with_a_total():
    X, y = blobs(90, 3, 8, seed=4, sep=1.0)
    seen: dict[str, list[tuple[int, int | None]]] = {}
    analyze(X, y, bootstrap=60, progress=lambda s, d, t: seen.setdefault(s, []).append((d, t)))
    assert {"pass 1", "baseline", "bootstrap"} <= set(seen)
    assert seen["bootstrap"] == [(0, 60), (25, 60), (50, 60), (60, 60)]
    for stage, calls in seen.items():
        done = [d for d, _ in calls]
        assert done == sorted(done), stage
        assert all(t is not None and 0 <= d <= t for d, t in calls), stage
        assert calls[-1][0] == calls[-1][1], stage  # each stage ends complete


def test_json_round_trip_and_schema(tmp_path):
    X, y = blobs(120, 3, 8, seed=7)
    report = analyze(X, y, bootstrap=20)
    path = tmp_path / "r.json"
    text = report.to_json(path)
    data = json.loads(text)
    assert data["schema"] == "collapsekit-report/1"
    assert data["verdict"]["label"] == report.verdict.label
    back = Report.from_json(path)
    assert back.metrics.keys() == report.metrics.keys()
    for k, v in report.metrics.items():
        assert (math.isnan(v) and math.isnan(back.metrics[k])) or back.metrics[k] == v


def test_single_class_noted_not_crashing():
    X = np.random.default_rng(8).standard_normal((50, 5))
    report = analyze(X, np.zeros(50, dtype=int), bootstrap=0)
    assert "nc1" not in report.metrics
    assert any("single class" in note for note in report.inputs["notes"])


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="labels: expected one label per feature row"):
        analyze(np.ones((10, 3)), np.zeros(9, dtype=int))
    X = np.random.rand(10, 3)
    X[2] = np.inf
    with pytest.raises(ValueError, match=r"features: .*indices 2"):
        analyze(X)
    with pytest.raises(ValueError, match="reference: expected one row per feature row"):
        analyze(np.random.rand(10, 3), reference=np.random.rand(8, 3))


def test_half_precision_input_stays_exact_enough():
    X, y = blobs(300, 3, 16, seed=9)
    full = analyze(torch.tensor(X).bfloat16().double(), y, bootstrap=0)
    half = analyze(torch.tensor(X).bfloat16(), y, bootstrap=0)
    for key in ("nc1", "effective_rank", "centroid_similarity", "silhouette"):
        assert half.metrics[key] == pytest.approx(full.metrics[key], rel=1e-5), key


def test_default_intervals_leave_the_values_unchanged_and_contain_them():
    g = torch.Generator().manual_seed(3)
    y = torch.arange(200) % 4
    x = 0.5 * torch.randn(4, 48, generator=g)[y] + torch.randn(200, 48, generator=g)
    ref = x[:, :16] + 0.5 * torch.randn(200, 16, generator=g)
    plain = analyze(x, y, reference=ref, bootstrap=0)
    report = analyze(x, y, reference=ref)
    assert report.metrics == plain.metrics
    assert report.inputs["bootstrap_resamples"] == 200
    for key in ("nc1", "effective_rank", "silhouette", "linear_cka", "cdnv"):
        lo, hi = report.intervals[key]
        assert lo < report.metrics[key] < hi, key
