"""NECO against the authors' pipeline (scikit-learn StandardScaler + PCA), the paper's literal
formula and the streamed basis."""

import numpy as np
import pytest
import torch

from collapsekit import ClassStats
from collapsekit import functional as F
from collapsekit.functional.neco import neco_basis, neco_basis_from_moments, neco_from_basis


def id_ood(seed=0, d=20, k=5):
    rng = np.random.default_rng(seed)
    means = 4 * rng.standard_normal((k, d))
    y = rng.integers(0, k, 400)
    id_x = means[y] + 0.5 * rng.standard_normal((400, d)) + rng.uniform(0, 3, d)
    ood = 2 * rng.standard_normal((50, d))
    return id_x, y, ood


def test_default_equals_authors_sklearn_pipeline():
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    id_x, _, ood = id_ood()
    id_x[:, 3] = 1.5  # a dead unit: StandardScaler leaves zero-variance columns unscaled
    test = np.concatenate([id_x[:30], ood])
    ss = StandardScaler().fit(id_x)
    pca = PCA(n_components=id_x.shape[1]).fit(ss.transform(id_x))
    z = ss.transform(test)
    ref = np.linalg.norm(pca.transform(z)[:, :4], axis=1) / np.linalg.norm(z, axis=1)
    got = F.neco_score(torch.tensor(test), torch.tensor(id_x), 4).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-9)


def test_literal_formula_and_range():
    id_x, _, ood = id_ood(1)
    test = np.concatenate([id_x[:30], ood])
    _, _, vt = np.linalg.svd(id_x - id_x.mean(0), full_matrices=False)
    p = vt[:4].T @ vt[:4]
    ref = np.linalg.norm(test @ p, axis=1) / np.linalg.norm(test, axis=1)
    got = F.neco_score(torch.tensor(test), torch.tensor(id_x), 4, center=False, standardize=False)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-9)
    s = F.neco_score(torch.tensor(test), torch.tensor(id_x), 4)
    assert bool(((s >= 0) & (s <= 1 + 1e-12)).all())
    # collapsed ID classes (K=5 -> 4 directions) score higher than OOD rows
    assert float(s[:30].mean()) > float(s[30:].mean()) + 0.3


def test_basis_from_class_stats_moments_equals_in_memory():
    id_x, y, ood = id_ood(2)
    stats = ClassStats(5, 20, global_mean="sample")
    for xb, yb in zip(np.array_split(id_x, 4), np.array_split(y, 4), strict=True):
        stats.update(torch.tensor(xb), torch.tensor(yb))
    cov = stats.total_cov()
    mean = stats.global_mean_vector()
    basis = neco_basis_from_moments(cov, mean, cov.diagonal(), stats.num_samples, 4)
    streamed = neco_from_basis(torch.tensor(ood), basis)
    direct = F.neco_score(torch.tensor(ood), torch.tensor(id_x), 4)
    np.testing.assert_allclose(streamed.numpy(), direct.numpy(), rtol=1e-7)
    # batch by batch = all at once
    b = neco_basis(torch.tensor(id_x), 4)
    parts = torch.cat([neco_from_basis(torch.tensor(c), b) for c in np.array_split(ood, 3)])
    np.testing.assert_allclose(parts.numpy(), direct.numpy(), rtol=1e-12)


def test_bad_input_and_degenerate():
    id_x, _, _ = id_ood(3)
    with pytest.raises(ValueError, match="dim: expected at most"):
        F.neco_score(torch.randn(3, 20), torch.tensor(id_x), 21)
    with pytest.raises(ValueError, match="dim: expected a positive integer"):
        F.neco_score(torch.randn(3, 20), torch.tensor(id_x), 0)
    with pytest.raises(ValueError, match="features: expected 20 columns"):
        F.neco_score(torch.randn(3, 19), torch.tensor(id_x), 2)
    b = neco_basis(torch.tensor(id_x), 2)
    assert float(neco_from_basis(b.mean[None].clone(), b)[0]) == 0.0  # z = 0 scores 0
