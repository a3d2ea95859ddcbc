"""Neural regression collapse against a float64 reference from the paper, nc-toolbox's algorithm,
the authors' gamma grid search, exact constructions and the streamed accumulator."""

import numpy as np
import pytest
import torch

import collapsekit
from collapsekit import functional as F
from collapsekit.stats import RegressionStats


def reference_nrc(h, y, w=None, center=True):
    """Paper definitions, per-row loops, projections through pinv."""
    h, y = np.asarray(h, np.float64), np.asarray(y, np.float64).reshape(len(h), -1)
    _m, n = y.shape
    hc = h - h.mean(0) if center else h
    _, _, vt = np.linalg.svd(hc, full_matrices=False)
    pcs = vt[:n].T  # D x n principal components
    proj_pca = pcs @ np.linalg.pinv(pcs)
    unit = [row / np.linalg.norm(row) for row in h]
    out = {"nrc1": np.mean([np.sum((u - proj_pca @ u) ** 2) for u in unit])}
    if w is None:
        return out
    proj_w = w.T @ np.linalg.pinv(w.T)
    out["nrc2"] = np.mean([np.sum((u - proj_w @ u) ** 2) for u in unit])
    return out


def nrc3_grid(w, y, num=20001):
    """The authors' NRC3: grid search of gamma over [0, lambda_min(Sigma)]."""
    sig = np.cov(np.asarray(y, np.float64).T, bias=True)
    lam, vec = np.linalg.eigh(sig)
    s = vec @ np.diag(np.sqrt(np.clip(lam, 0, None))) @ vec.T
    a = (w @ w.T / np.linalg.norm(w @ w.T)).ravel()
    g = np.linspace(0, lam[0], num)[:, None]
    b = s.ravel() - np.sqrt(g) * np.eye(len(s)).ravel()
    norms = np.linalg.norm(b, axis=1, keepdims=True)
    ok = norms[:, 0] > 0
    return float(np.min(np.sum((a - b[ok] / norms[ok]) ** 2, axis=1)))


def problem(m=200, d=12, n=3, noise=0.2, seed=0, offset=0.0):
    rng = np.random.default_rng(seed)
    y = rng.standard_normal((m, n)) @ np.diag(rng.uniform(0.5, 2.0, n)) + rng.standard_normal(n)
    a = rng.standard_normal((n, d))
    h = y @ a + noise * rng.standard_normal((m, d)) + offset
    w = a + 0.2 * rng.standard_normal((n, d))
    return h, y, w


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("center", [True, False])
def test_equals_float64_reference(seed, center):
    h, y, w = problem(seed=seed, offset=0.5 * seed)
    got = F.regression_collapse(torch.tensor(h), torch.tensor(y), torch.tensor(w), center=center)
    ref = reference_nrc(h, y, w, center=center)
    for key in ("nrc1", "nrc2"):
        assert got[key] == pytest.approx(ref[key], rel=1e-9, abs=1e-14), key
    grid = nrc3_grid(w, y)
    assert got["nrc3"] <= grid + 1e-12
    assert got["nrc3"] == pytest.approx(grid, rel=1e-6, abs=1e-10)
    sig_min = np.linalg.eigvalsh(np.cov(y.T, bias=True))[0]
    assert 0.0 <= got["nrc3_gamma"] <= sig_min * (1 + 1e-12)


def test_nc_toolbox_algorithm_is_center_false():
    """nc-toolbox's nrc1_collapse: uncentred SVD basis, raw rows normalised (re-implemented)."""
    h, y, _w = problem(seed=4, offset=2.0)
    n = y.shape[1]
    _, _, vt = np.linalg.svd(h, full_matrices=False)
    p = vt[:n]
    hn = h / np.linalg.norm(h, axis=1, keepdims=True)
    peer = float(np.square(np.linalg.norm(hn - hn @ p.T @ p, axis=1)).mean())
    got = F.regression_collapse(torch.tensor(h), torch.tensor(y), center=False)["nrc1"]
    assert got == pytest.approx(peer, rel=1e-9)
    assert F.regression_collapse(torch.tensor(h), torch.tensor(y))["nrc1"] != pytest.approx(peer)


def test_exact_constructions():
    rng = np.random.default_rng(8)
    y = rng.standard_normal((150, 3))
    a = rng.standard_normal((3, 10))
    h = y @ a  # features in the target subspace
    out = F.regression_collapse(torch.tensor(h), torch.tensor(y), torch.tensor(2.0 * a))
    assert out["nrc1"] == pytest.approx(0.0, abs=1e-12)
    assert out["nrc2"] == pytest.approx(0.0, abs=1e-12)
    # W W^T proportional to Sigma^{1/2} - gamma^{1/2} I for gamma inside [0, lambda_min]: NRC3 = 0
    sig = np.cov(y.T, bias=True)
    lam, vec = np.linalg.eigh(sig)
    gram = vec @ np.diag(np.sqrt(lam) - np.sqrt(0.3 * lam[0])) @ vec.T
    w = np.linalg.cholesky(gram) @ np.linalg.qr(rng.standard_normal((10, 3)))[0].T
    out = F.regression_collapse(torch.tensor(h), torch.tensor(y), torch.tensor(5.0 * w))
    assert out["nrc3"] == pytest.approx(0.0, abs=1e-12)
    assert out["nrc3_gamma"] == pytest.approx(0.3 * lam[0], rel=1e-7)
    # spread features are far from collapse
    spread = F.regression_collapse(torch.tensor(rng.standard_normal((150, 10))), torch.tensor(y))
    assert spread["nrc1"] > 0.5
    # univariate target: NRC3 is trivially 0, as the paper notes
    uni = F.regression_collapse(torch.tensor(h), torch.tensor(y[:, 0]), torch.tensor(a[:1]))
    assert uni["nrc3"] == 0.0 and set(uni) == {"nrc1", "nrc2", "nrc3", "nrc3_gamma"}


def test_invariant_to_feature_rotation_and_target_permutation():
    h, y, w = problem(seed=5)
    rot, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((12, 12)))
    base = F.regression_collapse(torch.tensor(h), torch.tensor(y), torch.tensor(w))
    turned = F.regression_collapse(torch.tensor(h @ rot), torch.tensor(y), torch.tensor(w @ rot))
    perm = [2, 0, 1]
    swapped = F.regression_collapse(
        torch.tensor(h), torch.tensor(y[:, perm]), torch.tensor(w[perm])
    )
    for key in base:
        assert turned[key] == pytest.approx(base[key], rel=1e-8, abs=1e-12), key
        assert swapped[key] == pytest.approx(base[key], rel=1e-8, abs=1e-12), key


def test_streamed_equals_one_shot_merge_checkpoint():
    h, y, w = problem(m=500, seed=6, offset=1e4)
    one = F.regression_collapse(torch.tensor(h), torch.tensor(y), torch.tensor(w))
    s = RegressionStats(12, 3)
    for hb, yb in zip(np.array_split(h, 7), np.array_split(y, 7), strict=True):
        s.update(torch.tensor(hb), torch.tensor(yb))
    got = s.compute(torch.tensor(w))
    for key in one:
        assert got[key] == pytest.approx(one[key], rel=1e-7, abs=1e-12), key
    a, b = RegressionStats(12, 3), RegressionStats(12, 3)
    a.update(torch.tensor(h[:100]), torch.tensor(y[:100]))
    b.update(torch.tensor(h[100:] + 0.0), torch.tensor(y[100:]))
    merged = a.merge(b).compute(torch.tensor(w), center=False)
    ref = F.regression_collapse(torch.tensor(h), torch.tensor(y), torch.tensor(w), center=False)
    for key in ref:
        assert merged[key] == pytest.approx(ref[key], rel=1e-7, abs=1e-12), key
    c = RegressionStats(12, 3)
    c.load_state_dict(s.state_dict())
    assert c.compute() == s.compute()


def test_bad_input_leaves_state_untouched():
    s = RegressionStats(4, 2)
    s.update(torch.randn(10, 4), torch.randn(10, 2))
    before = s.state_dict()
    with pytest.raises(ValueError, match="targets: expected 2 target column"):
        s.update(torch.randn(10, 4), torch.randn(10, 3))
    with pytest.raises(ValueError, match="targets: expected shape"):
        s.update(torch.randn(10, 4), torch.randn(9, 2))
    with pytest.raises(ValueError, match="targets: expected finite"):
        s.update(torch.randn(3, 4), torch.tensor([[0.0, float("inf")]] * 3))
    after = s.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if torch.is_tensor(before[k]))
    with pytest.raises(ValueError, match=r"weights: expected the last layer's weight matrix"):
        s.compute(torch.randn(3, 4))


def test_top_level_export_if_wired():
    fn = getattr(collapsekit, "regression_collapse", F.regression_collapse)
    assert fn is F.regression_collapse
