"""Large K: more classes than rows per batch, many classes first seen mid-stream."""

import math

import numpy as np
import pytest
import torch

from collapsekit import ClassStats
from collapsekit.functional.class_pair_geometry import class_pair_sums
from references import nc_reference


def _data(n, k, d, seed, offset=0.0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, k, (n,), generator=g)
    x = 3 * torch.randn(k, d, generator=g)[y] + torch.randn(n, d, generator=g) + offset
    return x.float(), y


@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_many_new_classes_per_batch_equal_a_float64_pass(offset):
    x, y = _data(1500, 300, 12, seed=1, offset=offset)
    streamed = ClassStats(300, 12)
    for xb, yb in zip(x.split(200), y.split(200), strict=True):  # K > batch rows
        streamed.update(xb, yb)
    exact = ClassStats(300, 12)
    exact.update(x.double(), y)
    assert torch.equal(streamed.counts, exact.counts)
    # float32 per-batch partial sums: means good to ~1e-7 of the data's scale
    np.testing.assert_allclose(streamed.class_means(), exact.class_means(), rtol=1e-6, atol=1e-6)
    w, w_ref = streamed.within_scatter(), exact.within_scatter()
    np.testing.assert_allclose(w, w_ref, rtol=1e-7, atol=1e-7 * float(w_ref.abs().max()))
    np.testing.assert_allclose(streamed.class_sq_deviation(), exact.class_sq_deviation(), rtol=1e-6)
    got, ref = streamed.neural_collapse(), nc_reference(x.double().numpy(), y.numpy())
    for key, value in ref.items():
        if key in got:
            assert got[key] == pytest.approx(value, rel=1e-6), key


def test_bad_row_of_a_new_class_leaves_the_state_untouched():
    x, y = _data(400, 300, 5, seed=2)
    stats = ClassStats(300, 5)
    stats.update(x[:200], y[:200])
    before = stats.state_dict()
    bad = x[200:].clone()
    fresh = int(torch.nonzero(stats.counts[y[200:]] == 0)[0])  # a row of an unseen class
    bad[fresh, 2] = math.nan
    with pytest.raises(ValueError, match=f"features: .*{fresh}"):
        stats.update(bad, y[200:])
    for key, value in before.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(stats.state_dict()[key], value), key
    stats.update(x[200:], y[200:])  # and the state still accepts the good rows
    assert stats.num_samples == 400


def _dense_pair_sums(m, var, gfro):
    k = m.shape[0]
    g = m @ m.T
    sq = np.diag(g)
    iu = np.triu_indices(k, 1)
    dist2 = sq[:, None] + sq[None, :] - 2 * g
    norms = np.sqrt(sq)
    cos = g / np.outer(norms, norms)
    etf = (np.eye(k) - 1.0 / k) / math.sqrt(k - 1)
    logd = -0.5 * np.log(2 - 2 * cos[iu]) + 0.5 * math.log(2.0 * k / (k - 1))
    return {
        "cdnv_sum": ((var[:, None] + var[None, :])[iu] / (2 * dist2[iu])).sum(),
        "cos_dev_sum": (cos[iu] + 1 / (k - 1)).sum(),
        "cos_dev_sq_sum": ((cos[iu] + 1 / (k - 1)) ** 2).sum(),
        "cos_abs_dev_sum": np.abs(cos[iu] + 1 / (k - 1)).sum(),
        "log_dev_sum": logd.sum(),
        "log_dev_sq_sum": (logd**2).sum(),
        "etf_sq_sum": ((g / gfro - etf) ** 2).sum(),
    }


@pytest.mark.parametrize("tile", [1, 7, 33, 64])
def test_pair_sums_match_a_dense_reference_for_any_tile(tile):
    rng = np.random.default_rng(3)
    m = rng.standard_normal((60, 20))
    m -= m.mean(0)
    var = rng.random(60)
    gfro = float(np.linalg.norm(m.T @ m))
    got = class_pair_sums(torch.tensor(m), torch.tensor(var), gfro, tile)
    assert got.pairs == 60 * 59 // 2
    for key, value in _dense_pair_sums(m, var, gfro).items():
        assert getattr(got, key) == pytest.approx(value, rel=1e-10, abs=1e-12), key


def test_coincident_class_means_give_infinite_cdnv():
    m = torch.tensor([[1.0, 0.0], [1.0, 0.0], [-2.0, 0.0]], dtype=torch.float64)
    got = class_pair_sums(m, torch.ones(3, dtype=torch.float64), 1.0, 2)
    assert got.cdnv_sum == math.inf


@pytest.mark.parametrize("dim", [255, 256, 300, 1030])
def test_blocked_gram_equals_a_float64_product(dim):
    from collapsekit.stats._gram import add_gram_, gram_blocks

    g = torch.Generator().manual_seed(dim)
    rows = torch.randn(70, dim, generator=g, dtype=torch.float64)
    edges = gram_blocks(dim, rows.device)
    assert edges[0] == 0 and edges[-1] == dim and edges == sorted(edges)
    assert len(edges) - 1 == (1 if dim < 256 else 2 if dim < 1024 else 4)
    start = torch.randn(dim, dim, generator=g, dtype=torch.float64)
    diag = torch.rand(dim, generator=g, dtype=torch.float64)
    got = add_gram_(start.clone(), rows, diagonal=diag)
    want = start.numpy() + rows.numpy().T @ rows.numpy()
    np.fill_diagonal(want, np.diag(start.numpy()) + diag.numpy())
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-13, atol=1e-11)


@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_wide_rows_and_new_classes_equal_a_float64_pass(offset):
    # D >= 256: the blocked Gram; K > rows per batch: most classes new in each batch
    x, y = _data(1200, 500, 300, seed=5, offset=offset)
    streamed = ClassStats(500, 300)
    for xb, yb in zip(x.split(150), y.split(150), strict=True):
        streamed.update(xb, yb)
    got, ref = streamed.neural_collapse(), nc_reference(x.double().numpy(), y.numpy())
    for key, value in ref.items():
        if key in got:
            assert got[key] == pytest.approx(value, rel=1e-6), key


def test_rows_whose_squares_overflow_leave_the_state_untouched():
    stats = ClassStats(3, 4)
    stats.update(torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2]))
    before = stats.state_dict()
    huge = torch.full((2, 4), 3e160, dtype=torch.float64)
    with pytest.raises(ValueError, match="squares fit in float64"):
        stats.update(huge, torch.tensor([0, 1]))
    for key, value in before.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(stats.state_dict()[key], value), key


def test_float32_rows_near_the_top_of_their_range_are_accumulated_in_float64():
    # float32 residuals are formed in float64, whose squares of float32 values cannot overflow
    x = torch.tensor([[3e19, 1e19], [2e19, -1e19], [1.0, 2.0], [3.0, 4.0]])
    y = torch.tensor([0, 0, 1, 1])
    stats = ClassStats(2, 2)
    stats.update(x, y)
    x64 = x.double()
    means = torch.stack([x64[:2].mean(0), x64[2:].mean(0)])
    assert torch.allclose(stats.class_means(), means, rtol=1e-12)
    within = sum((r - means[c]).outer(r - means[c]) for r, c in zip(x64, y.tolist(), strict=True))
    assert torch.allclose(stats.within_scatter(), within, rtol=1e-12)


def test_pair_sums_near_a_simplex_etf_keep_the_tiny_spreads():
    # ETF + 1e-6 perturbation: the cosine and log-energy spreads are ~1e-6 around their ETF
    # values; summed around those values they stay accurate (reference in numpy longdouble)
    k = 12
    rng = np.random.default_rng(7)
    etf = np.eye(k) - 1.0 / k
    m = etf + 1e-6 * rng.standard_normal((k, k))
    m -= m.mean(0)
    got = class_pair_sums(torch.tensor(m), torch.ones(k, dtype=torch.float64),
                          float(np.linalg.norm(m.T @ m)), 5)  # fmt: skip
    ml = m.astype(np.longdouble)
    u = ml / np.sqrt((ml * ml).sum(1))[:, None]
    iu = np.triu_indices(k, 1)
    cos = (u @ u.T)[iu]
    dist = np.sqrt(((u[:, None, :] - u[None, :, :]) ** 2).sum(-1))[iu]
    logd = -np.log(dist)
    c0, v0 = -1.0 / (k - 1), -0.5 * np.log(np.longdouble(2 * k) / (k - 1))
    assert got.cos_dev_sq_sum == pytest.approx(float(((cos - c0) ** 2).sum()), rel=1e-6)
    assert got.log_dev_sq_sum == pytest.approx(float(((logd - v0) ** 2).sum()), rel=1e-6)
    # a sum of 66 deviations that nearly cancel (1.8e-11): log1p keeps each term to about
    # 1e-17 (taking log(2 - 2 cos) first and subtracting its ETF value left 1e-15)
    assert got.log_dev_sum == pytest.approx(float((logd - v0).sum()), rel=0, abs=5e-16)


def test_pair_sums_of_two_classes_pointing_the_same_way_use_the_documented_clamp():
    # centred means 1 and 2 point the same way: -log||u_c - u_c'|| = -log(0), clamped at
    # -0.5 log(tiny) (docs/metrics.md, hyperspherical_log_mean)
    m = torch.tensor([[1.0, 0.0], [2.0, 0.0], [-1.5, 0.5], [-1.5, -0.5]], dtype=torch.float64)
    got = class_pair_sums(
        m, torch.ones(4, dtype=torch.float64), float(torch.linalg.norm(m.T @ m)), 2
    )
    u = (m / m.norm(dim=1, keepdim=True)).numpy()
    terms = [
        -0.5 * math.log(max(float(((u[i] - u[j]) ** 2).sum()), np.finfo(float).tiny))
        for i in range(4)
        for j in range(i + 1, 4)
    ]
    assert got.log_etf_value + got.log_dev_sum / 6 == pytest.approx(np.mean(terms), rel=1e-12)
    assert terms[0] == pytest.approx(-0.5 * math.log(np.finfo(float).tiny))
