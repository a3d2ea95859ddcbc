"""Representation-collapse indicators against float64 references, scikit-learn and known answers."""

import math

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import silhouette_samples as sk_silhouette_samples
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

from collapsekit import functional as F
from references import (
    blobs,
    ref_centroid_similarity,
    ref_cka_gram,
    ref_erank,
    ref_loo,
    ref_rankme,
    ref_uniformity,
)


# ---------------------------------------------------------------- effective rank / rankme
@pytest.mark.parametrize("shape", [(200, 16), (10, 40)])
def test_effective_rank_matches_svd_reference(shape):
    X = np.random.default_rng(0).standard_normal(shape) @ np.diag(np.linspace(0.1, 3, shape[1]))
    assert F.effective_rank(X) == pytest.approx(ref_erank(X), rel=1e-9)
    assert F.effective_rank(X, center=False) == pytest.approx(ref_erank(X, False), rel=1e-9)
    assert F.rankme(X) == pytest.approx(ref_rankme(X), rel=1e-9)


def test_effective_rank_known_answers():
    assert F.effective_rank(np.eye(6), center=False) == pytest.approx(6.0)
    rank1 = np.outer(np.arange(1, 51), np.random.default_rng(1).standard_normal(32)) + 1e4
    assert F.effective_rank(rank1) == pytest.approx(1.0, abs=1e-9)
    assert F.effective_rank_score(rank1) == pytest.approx(1 - 1 / 32, abs=1e-9)
    assert F.effective_rank_score(np.ones((10, 4))) == 1.0
    assert F.effective_rank(np.ones((10, 4))) == 0.0


def test_effective_rank_invariances():
    X = np.random.default_rng(2).standard_normal((100, 8))
    q, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((8, 8)))
    base = F.effective_rank(X)
    assert F.effective_rank(X @ q) == pytest.approx(base, rel=1e-9)
    assert F.effective_rank(5 * X + 100) == pytest.approx(base, rel=1e-9)


def test_per_class_effective_rank_skips_singletons():
    X, y = blobs(300, 3, 6, seed=1)
    X = np.vstack([X, np.zeros((1, 6))])
    y = np.append(y, 7)
    ranks = F.per_class_effective_rank(X, y)
    assert set(ranks) == {0, 1, 2}
    for c in ranks:
        assert ranks[c] == pytest.approx(ref_erank(X[y == c]), rel=1e-9)


# ---------------------------------------------------------------- centroids
def test_centroid_similarity_reference_and_known_answers():
    X, y = blobs(400, 5, 7, seed=4, offset=1.0)
    assert F.centroid_similarity(X, y) == pytest.approx(ref_centroid_similarity(X, y), rel=1e-9)
    ortho = np.repeat(np.eye(4), 3, axis=0)
    assert F.centroid_similarity(ortho, np.repeat(np.arange(4), 3)) == pytest.approx(0.0, abs=1e-12)
    same = np.ones((12, 4))
    assert F.centroid_similarity(same, np.arange(12) % 3) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_loo_stability_closed_form_equals_brute_force(seed):
    X, y = blobs(40, 4, 5, seed=seed, offset=2.0)
    y[0] = 9  # a singleton class: leaving it out drops the class
    loo = F.leave_one_out_similarities(X, y).numpy()
    brute = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        brute.append(ref_centroid_similarity(X[keep], y[keep]))
    np.testing.assert_allclose(loo, brute, rtol=1e-9, atol=1e-12)
    assert F.loo_centroid_stability(X, y) == pytest.approx(ref_loo(X, y), rel=1e-7)


def test_loo_stability_tiny_cohort_of_14():
    X, y = blobs(14, 2, 32, seed=5)
    assert F.loo_centroid_stability(X, y) == pytest.approx(ref_loo(X, y), rel=1e-7)


# ---------------------------------------------------------------- silhouette
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("offset", [0.0, 50.0])
def test_silhouette_matches_sklearn(metric, offset):
    X, y = blobs(500, 6, 10, seed=6, offset=offset, imbalance=True)
    X = np.vstack([X, np.full((1, 10), 3.0)])  # singleton class scores 0
    y = np.append(y, 11)
    got = F.silhouette_samples(X, y, metric=metric, memory_bytes=20_000).numpy()
    np.testing.assert_allclose(got, sk_silhouette_samples(X, y, metric=metric), atol=1e-9)
    assert F.silhouette(X, y, metric=metric) == pytest.approx(
        silhouette_score(X, y, metric=metric), abs=1e-10
    )


def test_silhouette_identical_rows_and_bad_input():
    X = np.ones((10, 3))
    assert F.silhouette(X, np.arange(10) % 2) == 0.0
    with pytest.raises(ValueError, match="metric"):
        F.silhouette(np.random.rand(10, 3), np.arange(10) % 2, metric="manhattan")
    with pytest.raises(ValueError, match="at least 2 distinct classes"):
        F.silhouette(np.random.rand(10, 3), np.zeros(10, dtype=int))


# ---------------------------------------------------------------- CKA
def test_cka_on_the_reference_notebook_data():
    np.random.seed(1337)  # the data of Kornblith et al.'s demo notebook
    X = np.random.randn(100, 10)
    Y = np.random.randn(100, 10) + X
    for debiased in (False, True):
        ref = ref_cka_gram(X, Y, debiased)
        assert F.linear_cka(X, Y, debiased=debiased) == pytest.approx(ref, rel=1e-10)
        assert F.linear_cka(X.astype(np.float32), Y.astype(np.float32), debiased) == pytest.approx(
            ref, rel=1e-5
        )


def test_cka_known_answers_and_invariances():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((300, 12))
    q, _ = np.linalg.qr(rng.standard_normal((12, 12)))
    assert F.linear_cka(X, 4 * X @ q + 7) == pytest.approx(1.0, rel=1e-10)
    Y = rng.standard_normal((300, 20))
    assert F.linear_cka(X, Y) == pytest.approx(ref_cka_gram(X - X.mean(0), Y - Y.mean(0)), rel=1e-9)
    # unbiased CKA of independent data is close to 0; biased CKA is inflated at small N
    assert abs(F.linear_cka(X, Y, debiased=True)) < F.linear_cka(X, Y)


def test_cka_refuses_unpaired_rows():
    with pytest.raises(ValueError, match=r"same number of rows.*unpaired"):
        F.linear_cka(np.random.rand(10, 3), np.random.rand(12, 3))


# ---------------------------------------------------------------- probe, uniformity, std
def test_linear_probe_matches_sklearn_within_noise():
    X, y = blobs(600, 4, 10, seed=8, sep=0.8)
    got = F.linear_probe_accuracy(X, y, folds=5)
    fold = (
        __import__("collapsekit.functional.linear_probe", fromlist=["x"])
        .stratified_folds(torch.tensor(y), 5, 0)
        .numpy()
    )
    accs = []
    for f in range(5):
        tr, te = fold != f, fold == f
        sc = StandardScaler().fit(X[tr])
        clf = LogisticRegression(C=1.0, max_iter=2000).fit(sc.transform(X[tr]), y[tr])
        accs.append(clf.score(sc.transform(X[te]), y[te]))
    assert got == pytest.approx(np.mean(accs), abs=0.01)
    assert 0.4 < got < 1.0


def test_probe_folds_fitted_together_equal_one_by_one(monkeypatch):
    from collapsekit.functional import linear_probe as lp

    X, y = blobs(500, 5, 12, seed=3, sep=0.6)
    together = F.linear_probe_accuracy(X, y, folds=5)
    monkeypatch.setattr(lp, "FOLD_GROUP_BYTES", 1)  # memory for one fold at a time
    one_by_one = F.linear_probe_accuracy(X, y, folds=5)
    # same separable objective, same optimum; L-BFGS paths differ within its tolerance
    assert together == pytest.approx(one_by_one, abs=0.01)
    fold = lp.stratified_folds(torch.tensor(y), 5, 0)
    for cls in range(5):  # every class spread evenly over the folds
        sizes = torch.bincount(fold[torch.tensor(y) == cls], minlength=5)
        assert int(sizes.max() - sizes.min()) <= 1


def test_linear_probe_chance_on_random_labels_and_bad_folds():
    rng = np.random.default_rng(9)
    X = rng.standard_normal((400, 5))
    y = rng.integers(0, 4, 400)
    assert F.linear_probe_accuracy(X, y) < 0.4
    with pytest.raises(ValueError, match="folds"):
        F.linear_probe_accuracy(X[:6], np.array([0, 0, 0, 1, 1, 1]), folds=5)


def test_uniformity_reference_and_tiling():
    X = np.random.default_rng(10).standard_normal((150, 6))
    ref = ref_uniformity(X)
    assert F.uniformity(X) == pytest.approx(ref, rel=1e-9)
    assert F.uniformity(X, memory_bytes=5000) == pytest.approx(ref, rel=1e-9)
    assert F.uniformity(X.astype(np.float32), memory_bytes=5000) == pytest.approx(ref, rel=1e-6)
    assert F.uniformity(X, t=0.5) == pytest.approx(ref_uniformity(X, 0.5), rel=1e-9)
    assert F.uniformity(np.ones((20, 4))) == 0.0


def test_std_of_l2_normalized_isotropic_and_collapsed():
    d = 256
    X = np.random.default_rng(11).standard_normal((20000, d))
    assert F.std_of_l2_normalized(X) == pytest.approx(1 / math.sqrt(d), rel=0.01)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    assert F.std_of_l2_normalized(X) == pytest.approx(U.std(0, ddof=1).mean(), rel=1e-9)
    assert F.std_of_l2_normalized(np.tile([[1.0, 2.0, 3.0]], (10, 1))) == 0.0


@pytest.mark.parametrize(
    "fn",
    [F.effective_rank, F.rankme, F.uniformity, F.std_of_l2_normalized],
)
def test_nonfinite_features_rejected(fn):
    X = np.random.rand(10, 3)
    X[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"features: .*indices 3"):
        fn(X)
