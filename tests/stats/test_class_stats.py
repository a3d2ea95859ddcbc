import io
import math

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from hypothesis import given, settings
from hypothesis import strategies as st

from collapsekit import ClassStats
from references import blobs
from spawned import join_group


def _stream(X, y, k, splits=5, **kw):
    stats = ClassStats(k, X.shape[1], **kw)
    for xb, yb in zip(np.array_split(X, splits), np.array_split(y, splits), strict=True):
        stats.update(torch.tensor(xb, dtype=torch.float32), torch.tensor(yb))
    return stats


def _assert_same_stats(a, b, rtol=1e-9):
    np.testing.assert_array_equal(a.counts.numpy(), b.counts.numpy())
    np.testing.assert_allclose(a.class_means().numpy(), b.class_means().numpy(), rtol=rtol)
    scale = float(b.within_scatter().abs().max())
    np.testing.assert_allclose(
        a.within_scatter().numpy(), b.within_scatter().numpy(), rtol=rtol, atol=rtol * scale
    )
    np.testing.assert_allclose(
        a.class_sq_deviation().numpy(), b.class_sq_deviation().numpy(), rtol=rtol
    )


def test_merge_equals_one_pass():
    X, y = blobs(1200, 6, 9, seed=1, offset=1e3)
    one = _stream(X, y, 6, splits=1)
    a = _stream(X[:500], y[:500], 6)
    b = _stream(X[500:], y[500:], 6)
    b_before = b.state_dict()
    a.merge(b)
    _assert_same_stats(a, one, rtol=1e-6)
    for key in ("counts", "shift", "resid_sum", "scatter"):  # other is left unchanged
        assert torch.equal(b.state_dict()[key], b_before[key])


def test_merge_with_disjoint_classes_and_empty_state():
    X, y = blobs(600, 4, 5, seed=2)
    one = _stream(X, y, 4, splits=1)
    lo, hi = y < 2, y >= 2
    a, b = _stream(X[lo], y[lo], 4), _stream(X[hi], y[hi], 4)
    a.merge(b)
    _assert_same_stats(a, one, rtol=1e-6)
    empty = ClassStats(4, 5)
    empty.merge(one)
    _assert_same_stats(empty, one, rtol=1e-12)


def test_state_dict_round_trip_is_exact_and_resumes():
    X, y = blobs(800, 5, 7, seed=3)
    first = _stream(X[:400], y[:400], 5)
    buf = io.BytesIO()
    torch.save(first.state_dict(), buf)
    buf.seek(0)
    resumed = ClassStats(5, 7)
    resumed.load_state_dict(torch.load(buf))
    for key, value in first.state_dict().items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(resumed.state_dict()[key], value)
    for s in (first, resumed):
        s.update(torch.tensor(X[400:], dtype=torch.float32), torch.tensor(y[400:]))
    assert first.neural_collapse() == resumed.neural_collapse()


def test_load_state_dict_rejects_mismatch():
    s = ClassStats(3, 4)
    with pytest.raises(ValueError, match="num_classes=3"):
        s.load_state_dict(ClassStats(5, 4).state_dict())
    with pytest.raises(ValueError, match="missing keys"):
        s.load_state_dict({"counts": torch.zeros(3)})


@pytest.mark.parametrize(
    "features,labels,match",
    [
        (torch.ones(4, 3), torch.tensor([0, 1, 2, 9]), "num_classes=5"),
        (torch.ones(4, 3), torch.tensor([0, -1, 2, 1]), ">= 0"),
        (torch.ones(4, 3), torch.tensor([0, 1, 2]), "one label per feature row"),
        (torch.ones(4, 2), torch.tensor([0, 1, 2, 3]), "expected 3 columns"),
        (torch.ones(4), torch.tensor([0, 1, 2, 3]), "2-D"),
        (torch.ones(4, 3), torch.tensor([0.5, 1, 2, 3]), "non-integer"),
        (torch.ones(4, 3), torch.ones(4, 2), "1-D"),
    ],
)
def test_bad_input_raises_and_loses_nothing(features, labels, match):
    s = ClassStats(5, 3)
    s.update(torch.randn(10, 3), torch.arange(10) % 5)
    before = s.state_dict()
    with pytest.raises(ValueError, match=match):
        s.update(features, labels)
    after = s.state_dict()
    for key in ("counts", "shift", "resid_sum", "resid_sq", "scatter"):
        assert torch.equal(before[key], after[key])


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nonfinite_rows_are_named(bad):
    s = ClassStats(3, 2)
    x = torch.randn(6, 2)
    x[4, 1] = bad
    with pytest.raises(ValueError, match=r"features: .*NaN or Inf in 1 row\(s\) \(indices 4\)"):
        s.update(x, torch.tensor([0, 1, 2, 0, 1, 2]))
    assert s.num_samples == 0


def test_numpy_inputs_and_wrong_types():
    s = ClassStats(2, 2)
    s.update(np.eye(2), np.array([0, 1]))
    assert s.num_samples == 2
    with pytest.raises(TypeError, match="features"):
        s.update("not an array", [0])
    with pytest.raises(ValueError, match="num_classes"):
        ClassStats(0, 3)
    with pytest.raises(ValueError, match="global_mean"):
        ClassStats(2, 3, global_mean="median")


def test_single_class_metrics_raise_clear_error():
    s = ClassStats(4, 3)
    s.update(torch.randn(5, 3), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="at least 2 classes"):
        s.neural_collapse()


def test_state_stays_on_input_device_and_dtype():
    s = ClassStats(3, 4)
    s.update(torch.randn(9, 4, dtype=torch.bfloat16), torch.arange(9) % 3)
    assert s.scatter.dtype == torch.float64
    assert s.device == torch.device("cpu")
    s.to("meta") if False else None  # device moves are exercised on GPU runs
    assert s.class_means().dtype == torch.float64


def test_ncc_counter_streamed_equals_in_memory():
    from collapsekit import neural_collapse

    X, y = blobs(900, 5, 6, seed=8, sep=1.0)
    W = np.random.default_rng(0).standard_normal((5, 6))
    stats = _stream(X, y, 5)
    counter = stats.ncc_counter(W)
    for xb in np.array_split(X, 4):
        counter.update(xb)
    streamed = stats.neural_collapse(weights=W, ncc_agreement=counter.compute())
    in_memory = neural_collapse(X.astype(np.float32), y, weights=W)
    assert streamed["ncc_agreement"] == in_memory["ncc_agreement"]
    assert streamed["self_duality"] == pytest.approx(in_memory["self_duality"], rel=1e-9)


def _dist_worker(rank, world, port, X, y, out):
    join_group(rank, port, world, threads=None)
    torch.set_num_threads(1)
    try:
        idx = np.arange(rank, len(y), world)
        stats = ClassStats(6, X.shape[1])
        stats.update(torch.tensor(X[idx], dtype=torch.float32), torch.tensor(y[idx]))
        stats.all_reduce()
        counter = stats.ncc_counter(np.eye(6, X.shape[1]))
        counter.update(X[idx])
        counter.all_reduce()
        out[rank] = (stats.neural_collapse(ncc_agreement=counter.compute()), stats.state_dict())
    finally:
        dist.destroy_process_group()


def _free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_all_reduce_two_gloo_processes_equals_one_process():
    X, y = blobs(1000, 6, 8, seed=5, offset=1e3)
    y[y == 5] = 4  # class 5 empty everywhere; rank parity makes other classes uneven
    manager = mp.Manager()
    out = manager.dict()
    mp.spawn(_dist_worker, args=(2, _free_port(), X, y, out), nprocs=2, join=True)
    single = _stream(X, y, 6, splits=1)
    counter = single.ncc_counter(np.eye(6, 8))
    counter.update(X)
    ref = single.neural_collapse(ncc_agreement=counter.compute())
    for rank in range(2):
        metrics, state = out[rank]
        for key, value in ref.items():
            assert metrics[key] == pytest.approx(value, rel=1e-6), key
        assert torch.equal(state["counts"], single.counts)
    assert out[0][1]["scatter"].equal(out[1][1]["scatter"])


def test_all_reduce_without_process_group_is_noop():
    s = _stream(*blobs(100, 3, 4), 3)
    before = s.state_dict()
    s.all_reduce()
    assert torch.equal(s.state_dict()["scatter"], before["scatter"])


@settings(max_examples=20, deadline=None)
@given(
    parts=st.integers(2, 5),
    seed=st.integers(0, 10_000),
    checkpoint_at=st.integers(0, 4),
)
def test_merge_and_checkpoint_in_any_order_equal_one_pass(parts, seed, checkpoint_at):
    X, y = blobs(300, 4, 5, seed=seed, offset=100.0)
    one = _stream(X, y, 4, splits=1)
    pieces = [
        _stream(xb, yb, 4, splits=2)
        for xb, yb in zip(np.array_split(X, parts), np.array_split(y, parts), strict=True)
    ]
    merged = ClassStats(4, 5)
    for i, piece in enumerate(pieces[::-1]):  # order does not matter
        merged.merge(piece)
        if i == checkpoint_at:  # a checkpoint/resume in the middle changes nothing
            resumed = ClassStats(4, 5)
            resumed.load_state_dict(merged.state_dict())
            merged = resumed
    _assert_same_stats(merged, one, rtol=1e-6)


def test_features_with_grad_are_detached():
    x = torch.randn(12, 3, requires_grad=True)
    s = ClassStats(3, 3)
    s.update(x * 2, torch.arange(12) % 3)
    assert not s.scatter.requires_grad
    assert not s.class_means().requires_grad


# ---------------------------------------------------------------- spectra of float32 input
def _low_rank(n, d, rank, offset, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, rank, generator=g, dtype=torch.float64)
    b = torch.randn(rank, d, generator=g, dtype=torch.float64)
    return (a @ b + offset).to(torch.float32)


def _entropy_rank(s):
    p = s[s > 0] / s.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


@pytest.mark.parametrize(
    ("rank", "dim", "offset", "rel"),
    [(3, 768, 0.0, 1e-4), (10, 128, 0.0, 1e-4), (5, 768, 10.0, 1e-4), (None, 256, 1e4, 1e-6)],
)
def test_total_covariance_of_float32_rows_has_the_float64_svd_spectrum(rank, dim, offset, rel):
    # float32 products left a round-off floor at ~1e-7 of the top eigenvalue in every
    # direction: rank 3 read as effective rank 3.23. Reference: numpy's float64 SVD of the
    # stored float32 values.
    from collapsekit.functional.spectrum import singular_values_from_covariance

    n = 2000
    if rank is None:
        g = torch.Generator().manual_seed(3)
        x = (offset + torch.randn(n, dim, generator=g, dtype=torch.float64)).to(torch.float32)
    else:
        x = _low_rank(n, dim, rank, offset, seed=rank)
    y = torch.arange(n) % 4
    stats = ClassStats(4, dim)
    for xb, yb in zip(x.split(300), y.split(300), strict=True):
        stats.update(xb, yb)
    got = singular_values_from_covariance(stats.total_cov(), n).numpy()
    x64 = x.double().numpy()
    ref = np.linalg.svd(x64 - x64.mean(0), compute_uv=False)
    assert _entropy_rank(got) == pytest.approx(_entropy_rank(ref), rel=rel)


# State loads are validated and atomic; a failed meta-device update is harmless.


def test_failed_first_update_on_meta_device_leaves_stats_usable() -> None:
    stats = ClassStats(3, 4)
    with pytest.raises(ValueError, match="meta"):
        stats.update(torch.empty(6, 4, device="meta"), torch.arange(6) % 3)
    assert stats.device.type == "cpu"
    stats.update(torch.randn(6, 4), torch.arange(6) % 3)
    assert stats.num_samples == 6


@pytest.mark.parametrize("rtol", [-1e-3, math.nan])
def test_negative_rtol_is_refused(rtol: float) -> None:
    with pytest.raises(ValueError, match="rtol"):
        ClassStats(3, 4, rtol=rtol)


def _filled() -> ClassStats:
    stats = ClassStats(3, 4)
    g = torch.Generator().manual_seed(0)
    stats.update(torch.randn(30, 4, generator=g), torch.arange(30) % 3)
    return stats


def test_nan_ood_mean_is_refused() -> None:
    with pytest.raises(ValueError, match="ood_mean: expected finite"):
        _filled().neural_collapse(ood_mean=torch.full((4,), math.nan))


def test_bogus_global_mean_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="global_mean"):
        ClassStats(3, 4, global_mean="bogus")  # type: ignore[arg-type]


def test_negative_rtol_is_refused_by_the_functional_kernel() -> None:
    from collapsekit.functional import neural_collapse

    y = torch.arange(12) % 3
    with pytest.raises(ValueError, match="rtol"):
        neural_collapse(torch.randn(12, 4) + 3 * torch.eye(4)[y], y, rtol=-1.0)


def test_float64_beyond_float32_range_is_accepted():
    """float64 rows at 1e150 (means beyond float32's range, squares within float64's) give the
    scale-free metrics of the same rows at 1; past float64's range the message does not ask
    for float64."""
    X, y = blobs(300, 3, 8, seed=4)
    small = torch.as_tensor(X)
    a, b = ClassStats(3, 8), ClassStats(3, 8)
    a.update(small, torch.as_tensor(y))
    b.update(small * 1e150, torch.as_tensor(y))
    assert b.neural_collapse()["nc1"] == pytest.approx(a.neural_collapse()["nc1"], rel=1e-9)
    with pytest.raises(ValueError, match="squares fit in float64") as err:
        ClassStats(3, 8).update(small * 1e160, torch.as_tensor(y))
    assert "pass float64" not in str(err.value)


def test_precision_names_the_options():
    with pytest.raises(ValueError, match=r"precision: expected 'float64'.*received 'half'"):
        ClassStats(2, 3, precision="half")  # type: ignore[arg-type]
