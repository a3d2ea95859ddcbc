"""The pairwise class-separation kernel against a numpy reference, its null and edge cases."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from collapsekit.functional.class_separation import (
    bonferroni_z,
    connected_groups,
    effective_dimension,
    pairwise_separation_from_moments,
)
from references import blobs


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
