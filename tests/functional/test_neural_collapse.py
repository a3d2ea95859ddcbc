import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from collapsekit import ClassStats, neural_collapse
from collapsekit.functional import (
    centroid_similarity,
    linear_cka,
    rankme,
    uniformity,
)
from collapsekit.functional.centroid_similarity import leave_one_out_similarities
from collapsekit.functional.class_pair_geometry import class_pair_sums
from collapsekit.functional.neural_collapse import GEOMETRY_KEYS, NC_KEYS
from references import blobs, nc_reference, simplex_etf

ALL = [k for k in NC_KEYS]


def assert_close(got, ref, rtol=1e-6, atol=1e-12, keys=None):
    keys = keys or ref.keys()
    for key in keys:
        assert key in got, key
        g, r = got[key], ref[key]
        if math.isnan(r):
            assert math.isnan(g), key
            continue
        assert g == pytest.approx(r, rel=rtol, abs=atol), f"{key}: {g} vs {r}"


def make_case(n=600, k=5, d=12, seed=0, **kw):
    X, y = blobs(n, k, d, seed=seed, **kw)
    rng = np.random.default_rng(seed + 1)
    W = rng.standard_normal((k, d))
    b = rng.standard_normal(k)
    ood = rng.standard_normal((50, d)) + 2.0
    return X, y, W, b, ood


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("k,d", [(5, 12), (20, 8), (3, 3)])
def test_matches_float64_reference(dtype, k, d):
    X, y, W, b, ood = make_case(k=k, d=d)
    x = torch.tensor(X, dtype=dtype)
    got = neural_collapse(x, torch.tensor(y), weights=W, bias=b, ood_features=ood)
    ref = nc_reference(x.double().numpy(), y, W, b, ood)
    assert set(got) == set(NC_KEYS)
    assert_close(got, ref)


def test_sample_global_mean_option():
    X, y, W, _b, _ood = make_case(imbalance=True)
    got = neural_collapse(X, y, weights=W, global_mean="sample")
    ref = nc_reference(X, y, W, global_mean="sample")
    assert_close(got, ref)
    assert got["nc1"] != pytest.approx(neural_collapse(X, y)["nc1"], rel=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_large_common_offset(dtype):
    # 1e4 offset with 1e-2 noise: float32 textbook formulas lose every digit here
    X, y = blobs(4000, 6, 16, seed=3, sep=1e-2, noise=1e-2, offset=1e4)
    x = torch.tensor(X, dtype=dtype)
    stats = ClassStats(6, 16)
    for xb, yb in zip(x.split(333), torch.tensor(y).split(333), strict=True):
        stats.update(xb, yb)
    ref = nc_reference(x.double().numpy(), y)
    got = stats.neural_collapse()
    assert_close(got, ref, rtol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_accumulate_exactly(dtype):
    X, y = blobs(3000, 4, 8, seed=5, sep=2.0, offset=3.0)
    x = torch.tensor(X).to(dtype)
    got = neural_collapse(x, y)
    ref = nc_reference(x.double().numpy(), y)
    assert_close(got, ref, rtol=1e-6)


def test_simplex_etf_known_answers():
    k, d = 6, 10
    M = simplex_etf(k, d)
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(k), 20)
    X = 5.0 + M[y] + 1e-7 * rng.standard_normal((len(y), d))  # offset does not matter
    W = 2.5 * M
    got = neural_collapse(X, y, weights=W, bias=-W @ np.full(d, 5.0))
    assert got["nc1"] < 1e-10
    assert got["cdnv"] < 1e-10
    for key in ("etf_error", "equinorm", "equiangularity", "max_angle", "self_duality"):
        assert got[key] == pytest.approx(0.0, abs=1e-6), key
    assert got["ncc_agreement"] == 1.0
    # uniform spread on the sphere: -log ||u_i - u_j|| = -0.5 log(2K/(K-1)), variance 0
    assert got["hyperspherical_log_mean"] == pytest.approx(-0.5 * math.log(2 * k / (k - 1)))
    assert got["hyperspherical_log_var"] == pytest.approx(0.0, abs=1e-12)


def test_invariances_rotation_scale_permutation():
    X, y, W, b, ood = make_case(k=6, d=9, seed=7)
    base = neural_collapse(X, y, weights=W, bias=b, ood_features=ood)
    q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((9, 9)))
    rotated = neural_collapse(X @ q, y, weights=W @ q, bias=b, ood_features=ood @ q)
    assert_close(rotated, base, rtol=1e-6, atol=1e-9)
    scaled = neural_collapse(7.5 * X, y, weights=W, bias=7.5 * b, ood_features=7.5 * ood)
    assert_close(scaled, base, rtol=1e-6, atol=1e-9)
    perm = np.random.default_rng(2).permutation(6)
    permuted = neural_collapse(
        X, perm[y], weights=W[np.argsort(perm)], bias=b[np.argsort(perm)], ood_features=ood
    )
    assert_close(permuted, base, rtol=1e-6, atol=1e-9)
    shuffled = np.random.default_rng(3).permutation(len(y))
    assert_close(neural_collapse(X[shuffled], y[shuffled]), base, keys=["nc1", "cdnv", "etf_error"])


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(0, 400), max_size=6), seed=st.integers(0, 1000))
def test_any_batch_split_equals_one_shot(cuts, seed):
    X, y = blobs(400, 5, 7, seed=seed, offset=50.0)
    x, t = torch.tensor(X, dtype=torch.float32), torch.tensor(y)
    bounds = [0, *sorted(cuts), 400]
    stats = ClassStats(5, 7)
    for lo, hi in itertools.pairwise(bounds):
        stats.update(x[lo:hi], t[lo:hi])
    one = ClassStats(5, 7)
    one.update(x, t)
    assert stats.num_samples == 400
    assert_close(stats.neural_collapse(), one.neural_collapse(), rtol=1e-6, atol=1e-12)


def test_imbalanced_within_plus_sample_between_is_total():
    X, y = blobs(2000, 7, 6, seed=11, imbalance=True, offset=100.0)
    stats = ClassStats(7, 6)
    for xb, yb in zip(np.array_split(X, 9), np.array_split(y, 9), strict=True):
        stats.update(torch.tensor(xb, dtype=torch.float32), torch.tensor(yb))
    x64 = torch.tensor(X, dtype=torch.float32).double().numpy()
    total = np.cov(x64, rowvar=False, bias=True)
    got = stats.within_cov() + stats.between_cov("sample")
    np.testing.assert_allclose(got.numpy(), total, rtol=1e-7, atol=1e-8 * np.abs(total).max())
    np.testing.assert_allclose(
        stats.total_cov().numpy(), total, rtol=1e-7, atol=1e-8 * np.abs(total).max()
    )


def test_empty_and_singleton_classes():
    X, y = blobs(300, 4, 5, seed=2)
    y = np.where(y == 3, 5, y)  # classes 3 and 6 empty, 5 used
    X = np.vstack([X, np.ones((1, 5)) * 4.0])
    y = np.append(y, 7)  # class 7: a single row
    got = neural_collapse(X, y, num_classes=9)
    ref = nc_reference(X, y)
    assert_close(got, ref)
    assert all(math.isfinite(v) for v in got.values())


def test_two_classes_equiangularity_undefined_but_rest_defined():
    X, y = blobs(100, 2, 4, seed=1)
    got = neural_collapse(X, y)
    assert math.isnan(got["equiangularity"])
    assert_close(got, nc_reference(X, y))


def test_single_class_is_rejected():
    with pytest.raises(ValueError, match="at least 2"):
        neural_collapse(np.ones((10, 3)), np.zeros(10, dtype=int))


def test_identical_class_means_give_infinite_cdnv():
    X = np.random.default_rng(0).standard_normal((40, 3))
    X[20:] = X[:20]
    y = np.repeat([0, 1], 20)
    got = neural_collapse(X, y)
    assert got["cdnv"] == math.inf


def test_rtol_option_changes_pseudo_inverse():
    X, y = blobs(500, 4, 6, seed=4)
    loose = neural_collapse(X, y, rtol=0.5)
    strict = neural_collapse(X, y)
    ref = nc_reference(X, y, rtol=0.5)
    assert loose["nc1"] == pytest.approx(ref["nc1"], rel=1e-9)
    assert loose["nc1"] <= strict["nc1"]


@pytest.mark.parametrize("tile", [1, 2, 3, 5, 7, 13, 64])
def test_tiled_pairwise_equals_untiled(tile):
    X, y = blobs(900, 13, 6, seed=9)
    stats = ClassStats(13, 6)
    stats.update(X, y)
    m = stats.class_means() - stats.global_mean_vector()
    var = stats.class_variances()
    gfro = float(torch.linalg.matrix_norm(m.T @ m))
    whole = class_pair_sums(m, var, gfro, 13)
    tiled = class_pair_sums(m, var, gfro, tile)
    for field in whole.__dataclass_fields__:
        assert getattr(tiled, field) == pytest.approx(getattr(whole, field), rel=1e-10, abs=1e-12)


def test_more_classes_than_dimensions_uses_dxd_eigendecomposition():
    X, y = blobs(3000, 40, 6, seed=12)
    got = neural_collapse(X, y)
    assert_close(got, nc_reference(X, y), rtol=1e-6)


def test_quantized_residuals_at_offset_stay_exact():
    # 1e4 offset with noise 0.5: residuals carry ~11 significant bits, where BLAS float32
    # accumulation is biased (~2e-6 on the diagonal); correlated dims test the off-diagonal
    g = torch.Generator().manual_seed(0)
    n, d, k = 30000, 48, 12
    y = torch.randint(0, k, (n,), generator=g)
    mix = torch.randn(d, d, generator=g) / d**0.5 + torch.eye(d)
    x = torch.randn(k, d, generator=g)[y] + 0.5 * torch.randn(n, d, generator=g) @ mix.T + 1e4
    x = x.float()
    exact = ClassStats(k, d)
    exact.update(x.double(), y)
    fast = ClassStats(k, d)
    for xb, yb in zip(x.split(8192), y.split(8192), strict=True):
        fast.update(xb, yb)
    assert_close(fast.neural_collapse(), exact.neural_collapse(), rtol=1e-7)
    ref = nc_reference(x.double().numpy(), y.numpy())
    assert_close(fast.neural_collapse(), ref, rtol=1e-6)


def test_classifier_with_more_classes_than_the_sample():
    X, y = blobs(300, 4, 6, seed=13)
    W = np.random.default_rng(1).standard_normal((7, 6))  # a 7-class head, classes 4-6 unseen
    got = neural_collapse(X, y, weights=W)
    ref = nc_reference(X, y, W)
    assert_close(got, ref)


# Degenerate inputs give documented values, never a silent NaN or a wrong number.

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


def test_coincident_class_means_give_inf_as_documented():
    """All class means equal: NC1 is inf (spread within classes, none between them), and
    docs/metrics.md says so."""
    from collapsekit.render.metric_docs import doc_section

    g = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 3
    x = torch.randn(60, 4, generator=g, dtype=torch.float64)
    x -= torch.stack([x[y == c].mean(0) for c in range(3)])[y]  # every class mean at 0
    assert math.isinf(neural_collapse(x, y)["nc1"])
    section = doc_section("nc1") or ""
    assert "All class means exactly equal: `inf`" in section
