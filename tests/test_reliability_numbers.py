"""Issue 11: degenerate inputs give documented values, never a silent NaN or a wrong number."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from collapsekit import ClassStats
from collapsekit.functional import (
    centroid_similarity,
    linear_cka,
    neural_collapse,
    rankme,
    uniformity,
)
from collapsekit.functional.centroid_similarity import leave_one_out_similarities
from collapsekit.functional.neural_collapse import GEOMETRY_KEYS

GEN = torch.Generator().manual_seed(11)


def _separated(n: int = 60, k: int = 3, d: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.arange(n) % k
    x = torch.randn(n, d, generator=GEN, dtype=torch.float64) + 3 * torch.eye(d).double()[y]
    return x, y


def test_identical_rows_give_documented_values_not_nan_by_accident() -> None:
    y = torch.arange(40) % 4
    nc = neural_collapse(torch.full((40, 5), 3.0), y, weights=torch.randn(4, 5, generator=GEN))
    assert nc["nc1"] == math.inf and nc["nc1_quotient"] == math.inf and nc["cdnv"] == math.inf
    for key in (*GEOMETRY_KEYS, "self_duality"):
        assert math.isnan(nc[key]), key  # documented: no class-mean geometry


def test_identical_rows_at_an_offset_through_class_stats() -> None:
    stats = ClassStats(3, 4)
    y = torch.arange(30) % 3
    stats.update(torch.full((30, 4), 1e4) + torch.tensor([0.1, 0.2, 0.3, 0.4]), y)
    nc = stats.neural_collapse()
    assert nc["nc1"] == math.inf and nc["cdnv"] == math.inf


def test_one_class_at_the_global_mean_has_cosine_zero_not_nan() -> None:
    # three classes, the middle one exactly at mu_G: all metrics finite
    means = torch.tensor([[1.0, 0.0], [0.0, 0.0], [-1.0, 0.0]])
    x = means.repeat_interleave(4, 0) + 0.01 * torch.randn(12, 2, generator=GEN)
    y = torch.arange(3).repeat_interleave(4)
    nc = neural_collapse(x, y)
    assert all(math.isfinite(v) for v in nc.values())


@pytest.mark.parametrize("scale", [1e-160, 1e30])
def test_neural_collapse_is_scale_invariant(scale: float) -> None:
    x, y = _separated()
    ref = neural_collapse(x, y)
    got = neural_collapse(x * scale, y)
    for key, value in ref.items():
        # at 1e-160 the squared deviations are subnormal (about 4 significant digits)
        assert got[key] == pytest.approx(value, rel=1e-3 if scale < 1 else 1e-9), key


def test_two_identical_classes_with_interleaved_rows_have_infinite_cdnv() -> None:
    rows = torch.randn(100, 8, generator=GEN)
    x = torch.cat([rows, rows])
    y = torch.cat([torch.zeros(100), torch.ones(100)]).long()
    perm = torch.randperm(200, generator=GEN)
    assert neural_collapse(x[perm], y[perm])["cdnv"] == math.inf
    three = torch.cat([x, rows + 5.0])
    y3 = torch.cat([y, torch.full((100,), 2)])
    assert neural_collapse(three, y3)["cdnv"] == math.inf  # the mean over pairs holds one inf


def test_close_but_distinct_classes_keep_a_finite_cdnv() -> None:
    x, y = _separated()
    x[y == 1] = x[y == 0][: int((y == 1).sum())] + 1e-3
    assert math.isfinite(neural_collapse(x, y)["cdnv"])


def test_uniformity_refuses_zero_rows() -> None:
    with pytest.raises(ValueError, match="all-zero"):
        uniformity(torch.zeros(10, 4))
    x = torch.randn(10, 4, generator=GEN)
    x[3] = 0
    with pytest.raises(ValueError, match=r"1 all-zero row\(s\) \(indices 3\)"):
        uniformity(x)


@pytest.mark.parametrize("t", [-1.0, math.nan, math.inf])
def test_uniformity_rejects_bad_temperature(t: float) -> None:
    with pytest.raises(ValueError, match=r"^t: expected"):
        uniformity(torch.randn(5, 3, generator=GEN), t=t)


def test_rankme_rejects_negative_eps() -> None:
    with pytest.raises(ValueError, match=r"^eps: expected"):
        rankme(torch.randn(5, 3, generator=GEN), eps=-1e-7)


def test_zero_centroid_counts_as_cosine_zero() -> None:
    x = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 1, 2])
    # pairs: (e1, 0) -> 0, (e1, e2) -> 0, (0, e2) -> 0
    assert centroid_similarity(x, y) == pytest.approx(0.0, abs=1e-15)
    x2 = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    assert centroid_similarity(x2, y) == pytest.approx(1.0 / 3.0)


def test_leave_one_out_with_a_zero_centroid_matches_recomputation() -> None:
    x = torch.tensor([[1.0, 0.0], [2.0, 0.5], [0.0, 0.0], [0.0, 0.0], [0.3, 1.0], [0.0, 2.0]])
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    sims = leave_one_out_similarities(x, y)
    for i in range(6):
        keep = torch.arange(6) != i
        assert float(sims[i]) == pytest.approx(centroid_similarity(x[keep], y[keep]), abs=1e-12)


def test_linear_cka_of_huge_and_tiny_features() -> None:
    x = torch.randn(300, 6, generator=GEN)
    assert linear_cka(x * 1e18, x) == pytest.approx(1.0, rel=1e-6)
    assert linear_cka(x * 1e19, x, debiased=True) == pytest.approx(1.0, rel=1e-6)
    xd = x.double()
    assert linear_cka(xd * 1e-160, xd) == pytest.approx(1.0, rel=1e-12)


def test_cdnv_reference_at_tiny_scale_against_numpy() -> None:
    x, y = _separated()
    xn, yn = x.numpy(), y.numpy()
    means = np.stack([xn[yn == c].mean(0) for c in range(3)])
    var = np.array([((xn[yn == c] - means[c]) ** 2).sum(1).mean() for c in range(3)])
    pairs = [(a, b) for a in range(3) for b in range(a + 1, 3)]
    ref = np.mean([(var[a] + var[b]) / (2 * ((means[a] - means[b]) ** 2).sum()) for a, b in pairs])
    assert neural_collapse(x * 1e-160, y)["cdnv"] == pytest.approx(ref, rel=1e-3)
