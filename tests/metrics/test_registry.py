"""The registry's contract, for every metric: a float64 reference from the paper's formula,
a docs entry, the same value through every entry point that reports it, and batch-split and
merge invariance (the shape of torchmetrics' MetricTester and scikit-learn's test_common)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler
from torch import nn

import collapsekit as ck
from collapsekit.functional.linear_probe import stratified_folds
from collapsekit.integrations.collapse_monitor import CollapseMonitor
from collapsekit.integrations.torchmetrics_metric import NC_METRIC_KEYS, NeuralCollapseMetric
from collapsekit.metrics import REGISTRY, keys, resolve, spec
from collapsekit.render.metric_docs import doc_section
from collapsekit.stats.class_stats import ClassStats
from collapsekit.verdict.labels import CLASS, COMPLETE, DIMENSIONAL, HEALTHY, NEURAL, PARTIAL
from references import (
    nc_reference,
    ref_centroid_similarity,
    ref_cka_gram,
    ref_erank,
    ref_loo,
    ref_rankme,
    ref_uniformity,
)

N, D, K = 240, 24, 4


def dataset(dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    y = torch.tensor([0] * 30 + [1] * 50 + [2] * 70 + [3] * 90)
    scales = torch.linspace(0.2, 2.0, D, dtype=torch.float64)
    x = (
        torch.randn(N, D, generator=g, dtype=torch.float64) * scales
        + 2.5 * torch.eye(D)[y].double()
    )
    x = x + 3.0  # an offset: moments must be shifted
    return {
        "x": x.to(dtype),
        "y": y,
        "w": torch.randn(K, D, generator=g, dtype=torch.float64),
        "ref": (x @ torch.randn(D, 6, generator=g, dtype=torch.float64)).to(dtype),
        "ood": torch.randn(40, D, generator=g, dtype=torch.float64) * 2,
    }


# ------------------------------------------------------------------ float64 references
def _np(data):
    return (
        data["x"].double().numpy(),
        data["y"].numpy(),
        data["w"].numpy(),
        data["ref"].double().numpy(),
        data["ood"].numpy(),
    )


def _singular_values(X, center):
    X = X - X.mean(0) if center else X
    return np.linalg.svd(X, compute_uv=False)


def _dead(X):
    s = _singular_values(X, center=True)[: min(len(X) - 1, X.shape[1])]
    return float((s < 0.01 * s[0]).sum())


def _alpha(X):
    lam = np.sort(np.linalg.eigvalsh(np.cov(X.T, bias=True)))[::-1]
    first, last = 11, min(100, int((lam > lam[0] * 1e-12).sum()))
    ranks = np.arange(first, last + 1, dtype=np.float64)
    slope, _ = np.polyfit(np.log(ranks), np.log(lam[first - 1 : last]), 1)
    return -slope


def _fuzziness(X, y):
    mu = X.mean(0)
    n = len(X)
    sw = sum((X[y == c] - X[y == c].mean(0)).T @ (X[y == c] - X[y == c].mean(0)) for c in set(y))
    sb = sum(
        (y == c).sum() * np.outer(X[y == c].mean(0) - mu, X[y == c].mean(0) - mu) for c in set(y)
    )
    return float(np.trace(sw / n @ np.linalg.pinv(sb / n, rcond=1e-10)))


def _std_unit(X):
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    return float(U.std(0, ddof=1).mean())


def _probe(X, y):
    folds = stratified_folds(torch.tensor(y), 5, 0).numpy()
    accs = []
    for f in range(5):
        tr, te = folds != f, folds == f
        sc = StandardScaler().fit(X[tr])
        clf = LogisticRegression(C=1.0, max_iter=5000).fit(sc.transform(X[tr]), y[tr])
        accs.append(clf.score(sc.transform(X[te]), y[te]))
    return float(np.mean(accs))


def _neco(X, y, rows):
    ss = StandardScaler().fit(X)
    pca = PCA(n_components=X.shape[1]).fit(ss.transform(X))
    z = ss.transform(rows)
    k = len(np.unique(y))
    return float(
        (np.linalg.norm(pca.transform(z)[:, : k - 1], axis=1) / np.linalg.norm(z, axis=1)).mean()
    )


def _per_class_min(X, y):
    return min(ref_erank(X[y == c]) for c in np.unique(y))


REFERENCES = {
    "effective_rank": lambda X, y, W, R, O: ref_erank(X),
    "effective_rank_score": lambda X, y, W, R, O: 1 - ref_erank(X) / min(len(X) - 1, X.shape[1]),
    "rankme": lambda X, y, W, R, O: ref_rankme(X),
    "dead_directions": lambda X, y, W, R, O: _dead(X),
    "alpha_req": lambda X, y, W, R, O: _alpha(X),
    "std_of_l2_normalized": lambda X, y, W, R, O: _std_unit(X),
    "uniformity": lambda X, y, W, R, O: ref_uniformity(X),
    "centroid_similarity": lambda X, y, W, R, O: ref_centroid_similarity(X, y),
    "chance_accuracy": lambda X, y, W, R, O: float(np.bincount(y).max() / len(y)),
    "loo_centroid_stability": lambda X, y, W, R, O: ref_loo(X, y),
    "silhouette": lambda X, y, W, R, O: float(silhouette_score(X, y, metric="cosine")),
    "linear_cka": lambda X, y, W, R, O: ref_cka_gram(X, R),
    "linear_cka_debiased": lambda X, y, W, R, O: ref_cka_gram(X, R, debiased=True),
    "linear_probe_accuracy": lambda X, y, W, R, O: _probe(X, y),
    "per_class_effective_rank_min": lambda X, y, W, R, O: _per_class_min(X, y),
    "separation_fuzziness": lambda X, y, W, R, O: _fuzziness(X, y),
    "neco_ood_mean": lambda X, y, W, R, O: _neco(X, y, O),
    "neco_id_mean": lambda X, y, W, R, O: _neco(X, y, X),
    **{
        key: (lambda X, y, W, R, O, key=key: nc_reference(X, y, W, None, O)[key])
        for key in keys("neural collapse", by="section")
        if key != "separation_fuzziness"
    },
}
#: metrics whose reference is a different fitting procedure (scikit-learn's lbfgs vs ours)
TOLERANCE = {"linear_probe_accuracy": 0.02}


@pytest.fixture(scope="module")
def data():
    return dataset()


@pytest.fixture(scope="module")
def one_shot(data):
    return ck.analyze(
        data["x"], data["y"], weights=data["w"], reference=data["ref"],
        ood_features=data["ood"], bootstrap=0,
    )  # fmt: skip


def test_every_metric_has_a_reference_and_a_docs_entry():
    assert set(REFERENCES) == set(keys())
    for s in REGISTRY:
        assert doc_section(s.doc) is not None, f"{s.key}: no '## {s.doc}' in docs/metrics.md"
        assert (s.summary and s.compute.__doc__ is None) or True


@pytest.mark.parametrize("key", keys())
def test_matches_its_float64_reference(key, data, one_shot):
    assert key in one_shot.metrics, f"{key} missing from a report that gives every input"
    expected = REFERENCES[key](*_np(data))
    tol = TOLERANCE.get(key)
    if tol is not None:
        assert one_shot.metrics[key] == pytest.approx(expected, abs=tol)
    else:
        assert one_shot.metrics[key] == pytest.approx(expected, rel=1e-6, abs=1e-12)


def _batches(data, size):
    return [
        (data["x"][i : i + size], data["y"][i : i + size], data["ref"][i : i + size])
        for i in range(0, N, size)
    ]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_batch_split_merge_and_one_shot_source_agree(dtype, data, one_shot):
    if dtype != torch.float64:  # float32 rows: accumulated exactly in float64, split-invariant
        data = dataset(dtype)
        one_shot = ck.analyze(
            data["x"], data["y"], weights=data["w"], reference=data["ref"],
            ood_features=data["ood"], bootstrap=0,
        )  # fmt: skip
    kw = {"weights": data["w"], "ood_features": data["ood"], "bootstrap": 0}
    streamed = ck.analyze(_batches(data, 37), **kw)
    generator = ck.analyze(iter(_batches(data, 53)), **kw)
    halves = []
    for part in (slice(0, 101), slice(101, N)):
        a = ck.Analyzer()
        a.update(data["x"][part], data["y"][part], data["ref"][part])
        halves.append(a)
    merged = halves[0].merge(halves[1]).compute(data["w"], ood_features=data["ood"], bootstrap=0)
    for name, report in (("streamed", streamed), ("generator", generator), ("merged", merged)):
        assert set(report.metrics) == set(one_shot.metrics), name
        for key, value in one_shot.metrics.items():
            assert report.metrics[key] == pytest.approx(value, rel=1e-9, abs=1e-12), (name, key)


def test_monitor_reports_the_same_values(data, one_shot):
    mon = CollapseMonitor(K, D, history=None)
    for xb, yb in zip(data["x"].split(64), data["y"].split(64), strict=True):
        mon.update(xb, yb)
    row = mon.end_epoch(0, weights=data["w"], ncc_features=[data["x"]])
    assert set(keys("monitor")) - {"ood_orthogonality"} <= set(row)
    for key in keys("monitor"):
        if key in row:
            assert row[key] == pytest.approx(one_shot.metrics[key], rel=1e-9), key


def test_torchmetrics_and_lightning_report_the_same_values(data, one_shot):
    metric = NeuralCollapseMetric(K, D, weights=data["w"])
    for xb, yb in zip(data["x"].split(80), data["y"].split(80), strict=True):
        metric.update(xb, yb)
    got = metric.compute()
    assert set(NC_METRIC_KEYS) <= set(got)
    for key in NC_METRIC_KEYS:
        assert got[key] == pytest.approx(one_shot.metrics[key], rel=1e-9), key
    lightning = pytest.importorskip("collapsekit.integrations.lightning_callback")
    stats = ClassStats(K, D)
    stats.update(data["x"], data["y"])
    callback = lightning.CollapseCallback("layer", K, D)
    ssl, _ = callback._ssl_values(stats)
    assert set(ssl) == set(lightning.SSL_KEYS)
    for key, value in ssl.items():
        assert value == pytest.approx(one_shot.metrics[key], rel=1e-9), key


def test_layer_profile_reports_the_same_values(data, one_shot):
    model = nn.Sequential(nn.Identity())
    loader = list(zip(data["x"].split(60), data["y"].split(60), strict=True))
    profile = ck.analyze_layers(model, loader, layers=["0"])
    row = profile.layers["0"]
    for key in keys("profile"):
        assert row[key] == pytest.approx(one_shot.metrics[key], rel=1e-9), key


def test_float32_input_agrees_with_float64_of_the_stored_values():
    data32 = dataset(torch.float32)
    report = ck.analyze(
        data32["x"], data32["y"], weights=data32["w"], reference=data32["ref"],
        ood_features=data32["ood"], bootstrap=0, probe=False,
    )  # fmt: skip
    for key, value in report.metrics.items():
        if key in REFERENCES and key != "linear_probe_accuracy":
            expected = REFERENCES[key](*_np(data32))
            assert value == pytest.approx(expected, rel=1e-5, abs=1e-9), key


def test_metrics_selects_what_is_computed(data):
    report = ck.analyze(data["x"], data["y"], metrics=["rankme", "silhouette"], bootstrap=0)
    assert {"rankme", "silhouette"} <= set(report.metrics)
    assert "nc1" not in report.metrics and "linear_probe_accuracy" not in report.metrics
    assert report.inputs["metrics"] == ["rankme", "silhouette"]
    with pytest.raises(ValueError, match=r"metrics: unknown metric 'nope'.*known metrics"):
        ck.analyze(data["x"], data["y"], metrics=["nope"])
    with pytest.raises(ValueError, match=r"metrics=\['nc1'\]"):
        ck.analyze(data["x"], data["y"], metrics="nc1")


def test_derived_lists_come_from_the_specs():
    from collapsekit.integrations.collapse_monitor import MONITOR_KEYS
    from collapsekit.profile.layer_profile import PROFILE_KEYS
    from collapsekit.render.figure_data import TRACK_PANELS
    from collapsekit.render.html import SUMMARY_KEYS
    from collapsekit.render.metric_docs import DOCUMENTED_KEYS

    assert MONITOR_KEYS == keys("monitor")
    assert SUMMARY_KEYS == keys("in_summary")
    assert PROFILE_KEYS == (*keys("profile"), "ncc_accuracy")
    assert {s.doc for s in REGISTRY} <= DOCUMENTED_KEYS
    drawn = {k for panel in TRACK_PANELS for k in panel.keys}
    assert {s.key for s in REGISTRY if s.panel is not None} <= drawn
    assert [s.key for s in resolve(["rankme", "nc1"])] == [
        s.key for s in REGISTRY if s.key in ("rankme", "nc1")
    ]
    assert spec("nc1").bad == "low" and spec("effective_rank").null


def test_known_answers_simplex_etf_and_rank_one():
    # a perfect simplex ETF with no within-class spread: NC1 = 0, ETF error = 0, D = 0
    k, d = 4, 6
    m = torch.eye(k, dtype=torch.float64) - 1.0 / k
    means = torch.cat([m, torch.zeros(k, d - k, dtype=torch.float64)], 1)
    y = torch.arange(40) % k
    report = ck.analyze(means[y] + 5.0, y, bootstrap=0, probe=False)
    for key in ("nc1", "etf_error", "separation_fuzziness", "equinorm", "max_angle"):
        assert report.metrics[key] == pytest.approx(0.0, abs=1e-9), key
    # rank-1 rows: effective rank 1 whatever the offset
    g = torch.Generator().manual_seed(0)
    rank1 = torch.randn(50, 1, generator=g, dtype=torch.float64) * torch.randn(
        1, 8, generator=g, dtype=torch.float64
    )
    assert ck.analyze(rank1 + 1e4, bootstrap=0).metrics["effective_rank"] == pytest.approx(
        1.0, abs=1e-9
    )
    # identical rows in two classes: no between-class spread, NC1 and D are infinite
    same = ck.analyze(torch.ones(20, 3), torch.arange(20) % 2, bootstrap=0, probe=False)
    assert math.isinf(same.metrics["nc1"]) and math.isinf(same.metrics["separation_fuzziness"])


def test_cli_reports_the_same_values(data, one_shot, tmp_path):
    import json

    from typer.testing import CliRunner

    from collapsekit.cli.main import app

    for name, value in (("x", data["x"]), ("y", data["y"]), ("w", data["w"]), ("r", data["ref"])):
        np.save(tmp_path / f"{name}.npy", value.numpy())
    out = tmp_path / "report.json"
    args = ["analyze", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy")]
    args += ["--weights", str(tmp_path / "w.npy"), "--reference", str(tmp_path / "r.npy")]
    args += ["--bootstrap", "0", "--batch-size", "64", "--json", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())["metrics"]
    needs_ood = {s.key for s in REGISTRY if "ood" in s.needs}  # the CLI takes no OoD rows yet
    for key, value in one_shot.metrics.items():
        if key in needs_ood:
            continue
        assert metrics[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_exact_routes_agree_when_the_sample_does_not_hold_every_row():
    # sample_rows < N: per-class ranks from the streamed per-class scatters, silhouette,
    # leave-one-out and NC4 from a second pass; still exact, float32 rows included
    data32 = dataset(torch.float32)
    held = ck.analyze(data32["x"], data32["y"], weights=data32["w"], bootstrap=0, probe=False)
    streamed = ck.analyze(
        data32["x"], data32["y"], weights=data32["w"], bootstrap=0, probe=False,
        sample_rows=64, batch_size=50,
    )  # fmt: skip
    assert streamed.provenance["per_class_effective_rank_min"].endswith("(one pass)")
    assert streamed.provenance["silhouette"].endswith("(second pass)")
    for key in ("per_class_effective_rank_min", "silhouette", "loo_centroid_stability", "nc1"):
        assert streamed.metrics[key] == pytest.approx(held.metrics[key], rel=1e-9), key


@pytest.mark.parametrize("key", keys())
def test_each_metric_alone_gives_its_value_and_a_verdict(key, data, one_shot):
    # the verdict judges what was computed and says what it could not test
    report = ck.analyze(
        data["x"], data["y"], weights=data["w"], reference=data["ref"],
        ood_features=data["ood"], bootstrap=0, metrics=[key],
    )  # fmt: skip
    assert report.metrics[key] == pytest.approx(one_shot.metrics[key], rel=1e-9)
    assert report.verdict.label in (HEALTHY, COMPLETE, DIMENSIONAL, CLASS, PARTIAL, NEURAL)


def test_a_metric_the_inputs_cannot_give_is_named_in_the_notes(data):
    report = ck.analyze(data["x"], metrics=["nc1", "rankme"], bootstrap=0)
    assert "nc1" not in report.metrics and "rankme" in report.metrics
    assert "nc1 not computed: it needs classes" in report.inputs["notes"]
    with pytest.raises(ValueError, match="metrics: expected at least one metric name"):
        ck.analyze(data["x"], data["y"], metrics=[])
