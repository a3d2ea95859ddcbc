import importlib
import sys

import numpy as np
import pytest
import torch
from sklearn.metrics import silhouette_score

from collapsekit.integrations.monai import EmbeddingCollapseMetric, compute_embedding_collapse
from references import blobs


def monai_reference(emb, labels, target=None):
    """MONAI 1.6.1's definitions, re-derived with numpy/scikit-learn (float64)."""
    emb = np.asarray(emb, np.float64)
    out = {}
    cls = np.unique(labels)
    cents = [emb[labels == c].mean(0) for c in cls]
    cents = [c / np.linalg.norm(c) for c in cents]
    cos = [a @ b for i, a in enumerate(cents) for b in cents[i + 1 :]]
    out["centroid_similarity"] = np.clip((np.mean(cos) + 1) / 2, 0, 1)

    def score(e):
        s = np.linalg.svd(e - e.mean(0), compute_uv=False)
        p = s / s.sum()
        p = p[p > 0]
        return np.clip(1 - np.exp(-(p * np.log(p)).sum()) / min(e.shape[0] - 1, e.shape[1]), 0, 1)

    out["effective_rank_score"] = score(emb)
    per = {f"per_class_rank_{c}": score(emb[labels == c]) for c in cls}
    out.update(per)
    out["separation"] = np.clip((1 - silhouette_score(emb, labels, metric="cosine")) / 2, 0, 1)
    if target is not None:
        x = emb - emb.mean(0)
        y = np.asarray(target, np.float64)
        y = y - y.mean(0)
        out["domain_shift"] = np.linalg.norm(x.T @ y) ** 2 / (
            np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
        )
    prim = [out[k] for k in ("centroid_similarity", "effective_rank_score", "separation")]
    if target is not None:
        prim.append(out["domain_shift"])
    out["aggregate"] = max(prim)  # MONAI 1.6.1: global indicators only
    return out


def test_values_equal_monai_definitions():
    X, y = blobs(300, 3, 20, seed=1, offset=0.5)
    T = X @ np.random.default_rng(0).standard_normal((20, 20)) + 0.1
    got = compute_embedding_collapse(torch.tensor(X), torch.tensor(y), torch.tensor(T))
    ref = monai_reference(X, y, T)
    for key, value in ref.items():
        assert float(got[key]) == pytest.approx(value, rel=1e-5, abs=1e-6), key


def test_reduction_mean_none_and_include():
    X, y = blobs(100, 2, 6, seed=2)
    metric = EmbeddingCollapseMetric(reduction="mean", include_indicators=["effective_rank"])
    out = metric(X, y)
    assert set(out) == {"effective_rank_score", "aggregate"}
    assert float(out["aggregate"]) == pytest.approx(float(out["effective_rank_score"]))
    assert "aggregate" not in EmbeddingCollapseMetric(reduction="none")(X, y)
    with pytest.raises(ValueError, match="reduction"):
        EmbeddingCollapseMetric(reduction="median")
    with pytest.raises(ValueError, match="include_indicators"):
        EmbeddingCollapseMetric(include_indicators=["nc1"])


def test_worst_class_enters_aggregate_only_when_asked():
    rng = np.random.default_rng(3)
    X = np.vstack([rng.standard_normal((50, 16)), np.outer(rng.standard_normal(50), np.ones(16))])
    y = np.repeat([0, 1], 50)
    out = EmbeddingCollapseMetric(per_class_in_aggregate=True)(X, y)
    assert float(out["per_class_rank_1"]) > 0.9
    assert float(out["aggregate"]) == pytest.approx(float(out["per_class_rank_1"]))
    default = EmbeddingCollapseMetric()(X, y)
    assert float(default["aggregate"]) < 0.9
    keys = ("centroid_similarity", "effective_rank_score", "separation")
    assert float(default["aggregate"]) == pytest.approx(max(float(default[k]) for k in keys))


def test_unpaired_domains_warn_by_default_refused_on_request_and_debiased_option():
    X, y = blobs(80, 2, 5, seed=4)
    with pytest.warns(UserWarning, match="not paired"):
        out = compute_embedding_collapse(X, y, target_embeddings=X[:50])
    assert 0.0 <= float(out["domain_shift"]) <= 1.0
    with pytest.raises(ValueError, match="target_embeddings: expected 80 rows paired"):
        compute_embedding_collapse(X, y, target_embeddings=X[:50], unpaired_domains="raise")
    with pytest.raises(ValueError, match="unpaired_domains"):
        EmbeddingCollapseMetric(unpaired_domains="drop")
    rng = np.random.default_rng(5)
    A, B = rng.standard_normal((30, 40)), rng.standard_normal((30, 40))
    biased = float(compute_embedding_collapse(A, target_embeddings=B)["domain_shift"])
    unbiased = float(
        compute_embedding_collapse(A, target_embeddings=B, debiased_cka=True)["domain_shift"]
    )
    assert unbiased < 0.1 < biased  # independent data: the biased estimator is inflated


def test_label_free_and_singleton_class():
    X = np.random.default_rng(6).standard_normal((20, 4))
    out = compute_embedding_collapse(X)
    assert out["centroid_similarity"] is None and out["separation"] is None
    y = np.array([0] * 19 + [1])
    assert compute_embedding_collapse(X, y)["per_class_rank_1"] is None


def test_against_installed_monai_when_available():
    monai_metrics = pytest.importorskip("monai.metrics.embedding_collapse")
    X, y = blobs(200, 3, 12, seed=7)
    ours = compute_embedding_collapse(torch.tensor(X, dtype=torch.float32), torch.tensor(y))
    theirs = monai_metrics.compute_embedding_collapse(
        torch.tensor(X, dtype=torch.float32), torch.tensor(y)
    )
    for key, value in theirs.items():
        if value is not None:
            assert float(ours[key]) == pytest.approx(float(value), abs=1e-5), key


def test_importable_and_usable_without_monai(monkeypatch):
    import collapsekit.integrations.monai as adapter

    for name in ("monai", "monai.metrics", "monai.metrics.metric"):
        monkeypatch.setitem(sys.modules, name, None)  # any import of MONAI now fails
    try:
        plain = importlib.reload(adapter)
        assert plain.HAS_MONAI is False
        assert plain.EmbeddingCollapseMetric.__mro__[1:] == (object,)
        X, y = blobs(40, 2, 4, seed=8)
        out = plain.EmbeddingCollapseMetric(reduction="mean")(X, y)
        assert set(out) >= {"aggregate", "centroid_similarity", "separation"}
    finally:
        monkeypatch.undo()
        importlib.reload(adapter)


def test_nan_and_fractional_labels_raise_naming_the_argument():
    X, y = blobs(30, 2, 4, seed=9)
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="embeddings: expected finite"):
        compute_embedding_collapse(X, y)
    with pytest.raises(ValueError, match="labels: expected integer"):
        compute_embedding_collapse(np.ones((4, 2)) + np.eye(4, 2), np.array([0.0, 0.5, 1.0, 1.0]))
    with pytest.raises(TypeError, match="include_indicators"):
        compute_embedding_collapse(np.eye(4, 3), include_indicators="separation")


def test_scores_are_monai_definitions_over_the_registry_values():
    # the same rows through analyze(metrics=...): the adapter's raw quantities are the
    # registry's, MONAI's definitions applied on top
    from collapsekit import analyze
    from collapsekit.integrations.monai import (
        monai_centroid_similarity,
        monai_rank_score,
        monai_separation,
    )

    X, y = blobs(120, 3, 10, seed=11, offset=0.3, imbalance=True)
    y = y * 7 - 5  # sparse, negative label values: the keys keep them
    T = X @ np.random.default_rng(1).standard_normal((10, 6))
    metrics = ["centroid_similarity", "silhouette", "effective_rank_score"]
    metrics += ["per_class_effective_rank_min", "linear_cka_debiased"]
    rep = analyze(X, y, reference=T, metrics=metrics, bootstrap=0, probe=False)
    got = compute_embedding_collapse(X, y, T, reduction="none", debiased_cka=True)
    m = rep.metrics
    expected = {
        "centroid_similarity": monai_centroid_similarity(m["centroid_similarity"]),
        "separation": monai_separation(m["silhouette"]),
        "effective_rank_score": m["effective_rank_score"],
        "domain_shift": m["linear_cka_debiased"],
    }
    for c in np.unique(y):
        rank = m[f"per_class_effective_rank_{c}"]
        expected[f"per_class_rank_{c}"] = monai_rank_score(rank, int((y == c).sum()), 10)
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert float(got[key]) == pytest.approx(min(1.0, max(0.0, value)), abs=1e-6), key


def test_monai_definitions_on_their_boundaries():
    from collapsekit.integrations.monai import (
        monai_centroid_similarity,
        monai_rank_score,
        monai_separation,
    )

    assert monai_centroid_similarity(-1.0) == 0.0 and monai_centroid_similarity(0.2) == 0.6
    assert monai_separation(0.0) == 0.5 and monai_separation(0.6) == pytest.approx(0.2)
    assert monai_rank_score(3.0, 5, 8) == pytest.approx(0.25)  # min(n - 1, D) = 4
    assert monai_rank_score(3.0, 50, 6) == pytest.approx(0.5)  # min(n - 1, D) = 6
    assert monai_rank_score(0.0, 1, 6) is None  # single-row class


def test_unpaired_domain_shift_is_registry_cka_of_monais_subset():
    from collapsekit import analyze

    X, _ = blobs(60, 2, 5, seed=12)
    T = np.random.default_rng(2).standard_normal((40, 7))
    keep = torch.randperm(60, generator=torch.Generator().manual_seed(42))[:40].numpy()
    cka = analyze(X[keep], reference=T, metrics=["linear_cka"], bootstrap=0, probe=False)
    with pytest.warns(UserWarning, match="not paired"):
        got = compute_embedding_collapse(
            X, target_embeddings=T, include_indicators=["domain_shift"]
        )
    assert float(got["domain_shift"]) == pytest.approx(cka.metrics["linear_cka"], abs=1e-6)
