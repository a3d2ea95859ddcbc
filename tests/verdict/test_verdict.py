"""Unit tests of the verdict rules, thresholds, null model and the class-separation kernel."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math

import numpy as np
import pytest
import torch

from collapsekit import analyze
from collapsekit.functional.class_separation import (
    bonferroni_z,
    connected_groups,
    effective_dimension,
    pairwise_separation_from_moments,
)
from collapsekit.functional.neural_collapse import neural_collapse
from collapsekit.inference.null_model import isotropic_null, per_class_rank_null
from collapsekit.render.findings_html import render_findings
from collapsekit.report.report import Report
from collapsekit.report.verdict import (
    HEALTHY,
    MERGED,
    NEURAL,
    PARTIAL,
    THRESHOLDS,
    Thresholds,
    Verdict,
    decide,
    merged_pairs,
)
from collapsekit.stats.class_stats import ClassStats
from references import blobs, simplex_etf


# ----------------------------------------------------------------------------- thresholds
def test_thresholds_are_frozen_and_replace_validates():
    with pytest.raises(dataclasses.FrozenInstanceError):
        THRESHOLDS.neural_nc1 = 0.5  # type: ignore[misc]
    t = THRESHOLDS.replace(neural_nc1=0.05)
    assert t.neural_nc1 == 0.05 and THRESHOLDS.neural_nc1 == 0.1
    with pytest.raises(TypeError, match="unknown name"):
        THRESHOLDS.replace(bogus=1.0)
    with pytest.raises(ValueError, match="merged_alpha"):
        Thresholds(merged_alpha=1.5)
    with pytest.raises(ValueError, match="complete_spread_ratio"):
        Thresholds(complete_spread_ratio=-1.0)


def test_thresholds_from_strings_parses_and_names_errors():
    t = Thresholds.from_strings(["neural_nc1=0.05", "merged-alpha = 1e-3"])
    assert (t.neural_nc1, t.merged_alpha) == (0.05, 1e-3)
    assert Thresholds.from_strings("dimensional_rank_ratio=0.2").dimensional_rank_ratio == 0.2
    with pytest.raises(ValueError, match=r"--threshold: expected name=value"):
        Thresholds.from_strings(["neural_nc1"])
    with pytest.raises(ValueError, match=r"--threshold: unknown name 'nc1'"):
        Thresholds.from_strings(["nc1=0.1"])
    with pytest.raises(ValueError, match=r"--threshold neural_nc1: expected a number"):
        Thresholds.from_strings(["neural_nc1=low"])
    with pytest.raises(ValueError, match=r"--threshold: .*merged_alpha"):
        Thresholds.from_strings(["merged_alpha=2"])


def test_thresholds_echoed_in_report_and_change_the_verdict(tmp_path):
    X, y = blobs(200, 4, 16, seed=1, sep=0.6)
    strict = Thresholds(class_silhouette_margin=0.99)  # any silhouette short of 1 "collapses"
    report = analyze(X, y, bootstrap=0, probe=False, thresholds=strict)
    assert report.verdict.thresholds["class_silhouette_margin"] == 0.99
    assert report.verdict.label == "class collapse"
    back = Report.from_json(report.to_json())
    assert back.verdict.thresholds == strict.to_dict()
    assert Verdict.from_dict(report.verdict.to_dict()) == report.verdict


# ----------------------------------------------------------------------------- kernel
def _moments(x: np.ndarray, y: np.ndarray, k: int):
    means = np.stack([x[y == c].mean(0) for c in range(k)])
    counts = np.array([(y == c).sum() for c in range(k)])
    dev = np.array([((x[y == c] - means[c]) ** 2).sum() for c in range(k)])
    within = sum((x[y == c] - means[c]).T @ (x[y == c] - means[c]) for c in range(k))
    return means, counts, dev, within


def test_pairwise_separation_matches_a_numpy_reference():
    X, y = blobs(500, 6, 12, seed=2, sep=0.15)
    X[y == 4] = X[y == 4] - X[y == 4].mean(0) + X[y == 1].mean(0)
    means, counts, dev, within = _moments(X, y, 6)
    w = within / len(y)
    d_eff = np.trace(w) ** 2 / np.sum(w * w)
    res = pairwise_separation_from_moments(
        torch.tensor(means), torch.tensor(counts), torch.tensor(dev), float(d_eff), alpha=0.05
    )
    assert res.effective_dim == pytest.approx(effective_dimension(torch.tensor(within)))
    scipy_stats = pytest.importorskip("scipy.stats")
    z = scipy_stats.norm.isf(0.05 / 15)
    assert res.z == pytest.approx(z, rel=1e-6)
    assert res.threshold == pytest.approx(1 + z * math.sqrt(2 / d_eff), rel=1e-9)
    expected = []
    for a, b in itertools.combinations(range(6), 2):
        v = dev / (counts - 1)
        t = ((means[a] - means[b]) ** 2).sum() / (v[a] / counts[a] + v[b] / counts[b])
        if t < res.threshold:
            expected.append((a, b, t))
    got = sorted(zip(res.pairs.tolist(), res.statistic.tolist(), strict=True))
    assert [tuple(p) for p, _ in got] == [(a, b) for a, b, _ in expected]
    assert [t for _, t in got] == pytest.approx([t for _, _, t in expected], rel=1e-9)
    assert (1, 4) in [tuple(p) for p in res.pairs.tolist()]


def test_pairwise_separation_is_one_on_average_under_random_labels():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3000, 40)) @ np.diag(np.linspace(0.2, 3, 40))
    y = rng.permutation(np.arange(3000) % 10)
    means, counts, dev, within = _moments(x, y, 10)
    res = pairwise_separation_from_moments(
        torch.tensor(means),
        torch.tensor(counts),
        torch.tensor(dev),
        effective_dimension(torch.tensor(within)),
        alpha=0.99,  # keep every pair to look at the statistic itself
    )
    all_t = res.statistic.numpy()
    assert len(all_t) <= 45
    # T's null mean is 1 and its sd sqrt(2/d_eff): the pairs below 1 + z sd are most of them
    assert res.min_statistic < 1.0 < res.threshold
    assert res.num_pairs == 45


def test_pairwise_separation_degenerate_cases():
    means = torch.tensor([[0.0, 1.0], [0.0, 1.0], [5.0, 1.0]], dtype=torch.float64)
    res = pairwise_separation_from_moments(
        means, torch.tensor([3, 3, 3]), torch.zeros(3), effective_dim=2.0
    )
    assert res.pairs.tolist() == [[0, 1]]  # identical points merge, a distinct point does not
    one_row = pairwise_separation_from_moments(
        means, torch.tensor([1, 1, 3]), torch.zeros(3), effective_dim=2.0
    )
    assert one_row.num_pairs == 0 and one_row.pairs.shape == (0, 2)
    with pytest.raises(ValueError, match="effective_dim"):
        pairwise_separation_from_moments(means, torch.tensor([3, 3, 3]), torch.zeros(3), 0.0)
    with pytest.raises(ValueError, match="alpha"):
        bonferroni_z(1.5, 3)


def test_pairwise_separation_tiles_give_the_same_pairs():
    X, y = blobs(900, 30, 8, seed=5, sep=0.2)
    means, counts, dev, _ = _moments(X, y, 30)
    args = (torch.tensor(means), torch.tensor(counts), torch.tensor(dev), 6.0)
    big = pairwise_separation_from_moments(*args)
    small = pairwise_separation_from_moments(*args, tile_bytes=1)
    assert big.pairs.tolist() == small.pairs.tolist()
    assert big.min_statistic == pytest.approx(small.min_statistic)


def test_connected_groups():
    assert connected_groups([(2, 5), (5, 0), (3, 4)], 7) == [[0, 2, 5], [3, 4]]
    assert connected_groups(torch.zeros(0, 2, dtype=torch.long), 3) == []


# ----------------------------------------------------------------------------- null model
@pytest.mark.parametrize(("n", "d", "k"), [(300, 64, 10), (120, 256, 60)])
def test_null_nc_values_match_a_row_simulation(n, d, k):
    null, _ = isotropic_null(n, d, torch.full((k,), n // k), seed=0)
    sims = {key: [] for key in ("nc1", "etf_error", "cdnv")}
    for s in range(4):
        g = torch.Generator().manual_seed(100 + s)
        x = torch.randn(n, d, generator=g, dtype=torch.float64)
        nc = neural_collapse(x, torch.arange(n) % k)
        for key in sims:
            sims[key].append(nc[key])
    for key, values in sims.items():
        assert null[key] == pytest.approx(np.mean(values), rel=0.2), key


def test_null_is_seeded_and_checks_counts():
    a, sa = isotropic_null(200, 16, torch.tensor([100, 60, 40]), seed=1)
    b, sb = isotropic_null(200, 16, torch.tensor([100, 60, 40]), seed=1)
    assert a == b and sa == sb
    assert a["linear_probe_accuracy"] == 0.5
    assert per_class_rank_null(a, 60) > 0
    with pytest.raises(ValueError, match="class_counts"):
        isotropic_null(200, 16, torch.tensor([10, 10]), seed=1)


# ----------------------------------------------------------------------------- rules
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
    assert v.label == PARTIAL and [f["classes"] for f in v.findings] == [["2", "4"]]


def test_verdict_is_rotation_invariant():
    q, _ = np.linalg.qr(np.random.default_rng(6).standard_normal((24, 24)))
    for build, label in ((_neural_case, NEURAL), (_partial_case, PARTIAL)):
        X, y = build()
        a = analyze(X, y, bootstrap=0, probe=False).verdict
        b = analyze(X @ q, y, bootstrap=0, probe=False).verdict
        assert a.label == b.label == label
        assert a.findings == [] or [f["classes"] for f in a.findings] == [
            f["classes"] for f in b.findings
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
    assert [f["kind"] for f in v.findings] == [MERGED]
    assert v.findings[0]["classes"] == ["cat", "eel"]
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


def test_null_is_cached_and_hands_out_copies():
    from collapsekit.inference import null_model

    null_model._CACHE.clear()
    counts = torch.tensor([50, 40, 30])
    a, sa = isotropic_null(120, 8, counts, seed=3)
    a["effective_rank"] = -1.0  # the caller's copy: the cache must not see this
    sa.append(99.0)
    b, sb = isotropic_null(120, 8, counts, seed=3)
    assert b["effective_rank"] > 0 and 99.0 not in sb
    assert len(null_model._CACHE) == 1
    c, _ = isotropic_null(120, 8, counts, seed=4)  # another key, another simulation
    assert c["silhouette"] != b["silhouette"]
    assert len(null_model._CACHE) == 2


def test_null_per_class_sizes_at_least_ten_percent_apart():
    from collapsekit.inference.null_model import _representative_sizes

    assert _representative_sizes(torch.tensor([970, 1000, 1010, 1030]), 8) == [1000]
    picked = _representative_sizes(torch.arange(2, 5000), 8)
    assert len(picked) == 8 and picked[0] == 2 and picked[-1] == 4999
    assert all(b / a >= 1.1 for a, b in itertools.pairwise(picked))
    assert _representative_sizes(torch.tensor([10, 12, 30]), 8) == [10, 12, 30]
    assert _representative_sizes(torch.tensor([1, 1]), 8) == []


@pytest.mark.parametrize(("n", "d"), [(2000, 768), (500, 128), (60, 1024), (14, 1536), (769, 768)])
def test_null_spectrum_is_the_typical_isotropic_spectrum(n, d):
    # the Marchenko-Pastur quantile spectrum: its effective rank within 0.15% of the mean of
    # simulated draws (n = 769, d = 768: ratio 1, the law's edge case)
    from collapsekit.functional.effective_rank import entropy_rank
    from collapsekit.functional.marchenko_pastur import isotropic_singular_values
    from collapsekit.functional.spectrum import singular_values

    s = isotropic_singular_values(n, d)
    assert s.shape == (d,) and bool((s[:-1] >= s[1:]).all())
    assert int((s > 0).sum()) == min(n - 1, d)
    assert float(s.square().sum()) == pytest.approx((n - 1) * d, rel=1e-3)  # E tr(Z^T Z)
    draws = [
        entropy_rank(
            singular_values(
                torch.randn(n, d, generator=torch.Generator().manual_seed(i), dtype=torch.float64)
            )
        )
        for i in range(3)
    ]
    assert entropy_rank(s) == pytest.approx(np.mean(draws), rel=1.5e-3)
    null, spectrum = isotropic_null(n, d, None, seed=0)
    assert null["effective_rank"] == entropy_rank(s)
    assert spectrum == pytest.approx((s / s.sum()).tolist())
