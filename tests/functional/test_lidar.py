"""LiDAR against a float64 reference from the paper, stable-pretraining's algorithm,
invariance to invertible linear maps, and the streamed accumulator."""

import numpy as np
import pytest
import torch
from scipy.linalg import eigh, sqrtm

from collapsekit import functional as F
from collapsekit.functional import lidar
from collapsekit.functional.lidar import lidar_from_covariances
from collapsekit.stats import LiDARStats


def reference_lidar(groups, delta=1e-4, eps=1e-7, unbiased=True):
    """Paper formula, naive loops; ``groups`` is a list of (q_x, D) arrays (q may vary)."""
    groups = [np.asarray(g, dtype=np.float64) for g in groups]
    n, d = len(groups), groups[0].shape[1]
    mus = np.stack([g.mean(0) for g in groups])
    mu = mus.mean(0)
    sb = sum(np.outer(m - mu, m - mu) for m in mus) / (n - 1 if unbiased else n)
    sw = np.zeros((d, d))
    for g, m in zip(groups, mus, strict=True):
        for v in g:
            sw += np.outer(v - m, v - m)
    total = sum(len(g) for g in groups)
    sw = sw / (total - n if unbiased else total) + delta * np.eye(d)
    inv_sqrt = np.linalg.inv(np.real(sqrtm(sw)))
    lam = np.clip(eigh(inv_sqrt @ sb @ inv_sqrt, eigvals_only=True), 0, None)
    p = lam / lam.sum() + eps
    return float(np.exp(-(p * np.log(p)).sum()))


def stable_pretraining_lidar(views, delta=1e-4, epsilon=1e-8):
    """stable-pretraining's LiDAR callback algorithm, re-implemented: unbiased estimators,
    eps added to every eigenvalue before normalising (p = (l + e) / sum(l + e))."""
    v = np.asarray(views, dtype=np.float64)
    n, q, d = v.shape
    means = v.mean(1)
    c = means - means.mean(0)
    sb = c.T @ c / (n - 1)
    r = (v - means[:, None]).reshape(-1, d)
    sw = r.T @ r / (n * (q - 1)) + delta * np.eye(d)
    w, u = np.linalg.eigh(sw)
    isq = (u / np.sqrt(np.maximum(w, epsilon))) @ u.T
    lam = np.clip(np.linalg.eigvalsh(isq @ sb @ isq), 0, None) + epsilon
    p = lam / lam.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def make_views(n, q, d, seed, noise=0.3, offset=0.0):
    rng = np.random.default_rng(seed)
    src = rng.standard_normal((n, 1, d)) * rng.uniform(0.2, 3.0, d)
    return src + noise * rng.standard_normal((n, q, d)) + offset


@pytest.mark.parametrize("seed", range(3))
def test_equals_float64_reference(seed):
    v = make_views(40, 5, 12, seed)
    for unbiased in (True, False):
        got = F.lidar(torch.tensor(v), unbiased=unbiased)
        assert got == pytest.approx(reference_lidar(list(v), unbiased=unbiased), rel=1e-9)
    got32 = F.lidar(torch.tensor(v, dtype=torch.float32))
    assert got32 == pytest.approx(reference_lidar(list(v.astype(np.float32))), rel=1e-6)


def test_equals_stable_pretraining_algorithm_up_to_eps_placement():
    v = make_views(30, 4, 10, 7)
    # with eps = 0 the two conventions coincide
    assert F.lidar(torch.tensor(v), eps=0.0) == pytest.approx(
        stable_pretraining_lidar(v, epsilon=0.0), rel=1e-9
    )
    # their default eps = 1e-8 added before normalising: a difference of order D * eps
    ours = F.lidar(torch.tensor(v), eps=1e-8)
    assert ours == pytest.approx(stable_pretraining_lidar(v), rel=1e-5)


def test_invariant_to_invertible_linear_maps():
    rng = np.random.default_rng(3)
    v = make_views(50, 6, 8, 3, noise=1.0)
    a = rng.standard_normal((8, 8)) + 3 * np.eye(8)  # invertible, moderately conditioned
    base = F.lidar(torch.tensor(v), delta=0.0)
    assert F.lidar(torch.tensor(v @ a.T), delta=0.0) == pytest.approx(base, rel=1e-8)
    # with the paper's delta the invariance holds up to delta / (within-source variance)
    assert F.lidar(torch.tensor(v @ a.T)) == pytest.approx(F.lidar(torch.tensor(v)), rel=1e-3)
    # ... and fails on purpose when the map shrinks the embedding to the scale of delta
    tiny = F.lidar(torch.tensor(1e-4 * v))
    assert abs(tiny - F.lidar(torch.tensor(v))) > 1e-2


def test_known_answers_and_degenerate_cases():
    d = 4
    src = np.concatenate([np.eye(d), -np.eye(d)])[:, None, :]
    offsets = np.concatenate([np.eye(d), -np.eye(d)])[None] * 1e-3  # isotropic within-source
    v = src + offsets  # q = 8 views
    assert F.lidar(torch.tensor(v), delta=0.0, eps=0.0) == pytest.approx(d, rel=1e-9)
    assert F.lidar(torch.ones(6, 3, d)) == 1.0  # complete collapse
    with pytest.raises(ValueError, match="delta: the within-sample covariance"):
        F.lidar(torch.tensor(src).expand(8, 3, d), delta=0.0)
    with pytest.raises(ValueError, match="at least 2 views"):
        F.lidar(torch.randn(5, 1, d))
    with pytest.raises(ValueError, match="at least 2 source samples"):
        F.lidar(torch.randn(1, 3, d))
    with pytest.raises(ValueError, match=r"views: expected shape \(n, q, D\)"):
        F.lidar(torch.randn(10, d))
    bad = torch.randn(5, 3, d)
    bad[2, 1, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or Inf in 1 row"):
        F.lidar(bad)


def test_streamed_equals_one_shot_merge_checkpoint_and_offset():
    v = make_views(90, 4, 7, 11, offset=1e4)
    one_shot = F.lidar(torch.tensor(v))
    s = LiDARStats(7)
    for chunk in np.array_split(v, 5):
        s.update(torch.tensor(chunk))
    assert s.compute() == pytest.approx(one_shot, rel=1e-9)
    a, b = LiDARStats(7), LiDARStats(7)
    a.update(torch.tensor(v[:20]))
    b.update(torch.tensor(v[20:] - 0.0))
    assert a.merge(b).compute() == pytest.approx(one_shot, rel=1e-9)
    c = LiDARStats(7)
    c.load_state_dict(s.state_dict())
    assert c.compute() == s.compute()
    # float32 views with a 1e4 offset: exact to float64 computation on the same float32 values
    v32 = torch.tensor(v, dtype=torch.float32)
    s32 = LiDARStats(7)
    for chunk in v32.split(30):
        s32.update(chunk)
    assert s32.compute() == pytest.approx(reference_lidar(list(v32.double().numpy())), rel=1e-6)


def test_streamed_batches_with_different_view_counts():
    rng = np.random.default_rng(2)
    a, b = make_views(20, 3, 5, 1), make_views(25, 6, 5, 2)
    s = LiDARStats(5)
    s.update(torch.tensor(a))
    s.update(torch.tensor(b))
    groups = list(a) + list(b)
    assert s.compute() == pytest.approx(reference_lidar(groups), rel=1e-9)
    assert s.num_sources == 45 and s.num_views == 20 * 3 + 25 * 6
    before = s.state_dict()
    with pytest.raises(ValueError, match="expected 5 features"):
        s.update(torch.tensor(rng.standard_normal((4, 3, 6))))
    after = s.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if torch.is_tensor(before[k]))
    with pytest.raises(TypeError, match="other: expected a LiDARStats"):
        s.merge(object())
    s.reset()
    assert s.num_sources == 0


def test_eps_zero_with_a_zero_eigenvalue():
    eye = torch.eye(3, dtype=torch.float64)
    sigma_b = torch.diag(torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64))
    assert abs(lidar_from_covariances(sigma_b, eye, delta=0.0, eps=0.0) - 2.0) < 1e-12
    # sources spread along two axes only, views jittered in all three: rank-2 between scatter
    g = torch.Generator().manual_seed(0)
    centres = torch.zeros(50, 1, 3, dtype=torch.float64)
    centres[:, 0, :2] = torch.randn(50, 2, generator=g, dtype=torch.float64)
    views = centres + 0.1 * torch.randn(50, 4, 3, generator=g, dtype=torch.float64)
    value = lidar(views, eps=0.0)
    assert value == value and 1.0 <= value <= 3.0
