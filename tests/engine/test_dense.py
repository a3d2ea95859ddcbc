"""Analyzer(num_classes=K): dense labels, no host round-trip per batch, a deferred check."""

from typing import Any

import pytest
import torch

from collapsekit import Analyzer
from collapsekit.engine import dense


def _blobs(n: int = 2400, k: int = 40, d: int = 12, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, k - 5, (n,), generator=g)  # the last 5 classes never occur
    x = 2.0 + torch.randn(k, d, generator=g)[y] * 3 + torch.randn(n, d, generator=g)
    return x, y


def _refused(name: str) -> Any:
    def read(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        if _DeviceData.armed:
            raise AssertionError(f"a host read of batch data during update(): {name}")
        return getattr(torch.Tensor, name)(self, *args, **kwargs)

    return read


class _DeviceData(torch.Tensor):
    """Rows and labels whose every read back to the host (on a GPU each is a sync) fails
    while ``armed``: torch propagates the subclass to every tensor computed from them."""

    armed = False
    _reads = ("item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__", "__index__")
    locals().update({name: _refused(name) for name in _reads})


def test_dense_labels_give_the_default_pass_values():
    x, y = _blobs()
    dense, default = Analyzer(num_classes=40), Analyzer()
    for xb, yb in zip(x.split(700), y.split(700), strict=True):
        dense.update(xb, yb)
        default.update(xb, yb)
    a, b = dense.exact_metrics(), default.exact_metrics()
    assert set(a) == set(b)
    for key, value in b.items():
        assert a[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_the_masked_route_equals_the_cpu_route(
    monkeypatch: pytest.MonkeyPatch, precision: str
) -> None:
    """On the CPU a batch of valid rows takes the default pass's route; an accelerator masks
    instead: both give the same statistics."""
    x, y = _blobs()
    values = []
    for free in ({"cpu"}, set()):
        monkeypatch.setattr(dense, "FREE_READ_BACK", free)
        a = Analyzer(num_classes=40, precision=precision)  # type: ignore[arg-type]
        for xb, yb in zip(x.split(700), y.split(700), strict=True):
            a.update(xb, yb)
        values.append(a.exact_metrics())
    tol = 1e-9 if precision == "float64" else 1e-5
    for key, value in values[0].items():
        assert values[1][key] == pytest.approx(value, rel=tol, abs=1e-12), key


def test_update_reads_nothing_back_to_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dense, "FREE_READ_BACK", set())  # the accelerator's path, on the CPU
    x, y = _blobs()
    a = Analyzer(num_classes=40, sample_rows=500, precision="float32")
    _DeviceData.armed = True
    try:
        with pytest.raises(AssertionError, match="host read"):  # the probe works
            bool(x.as_subclass(_DeviceData).sum() > 0)
        for xb, yb in zip(x.split(600), y.split(600), strict=True):
            a.update(xb.as_subclass(_DeviceData), yb.as_subclass(_DeviceData))
    finally:
        _DeviceData.armed = False
    reference = Analyzer(num_classes=40, sample_rows=500, precision="float32")
    for xb, yb in zip(x.split(600), y.split(600), strict=True):
        reference.update(xb, yb)
    assert a.exact_metrics()["nc1"] == pytest.approx(reference.exact_metrics()["nc1"], rel=1e-12)


def test_bad_rows_are_left_out_and_refused_at_compute():
    x, y = _blobs(600)
    x[5, 3] = float("nan")
    y[7] = 40  # out of range
    y[8] = -1
    a = Analyzer(num_classes=40)
    a.update(x, y)
    with pytest.raises(ValueError, match=r"1 row\(s\) with NaN/Inf and 2 label\(s\) out of range"):
        a.compute(probe=False)
    with pytest.raises(ValueError, match="deferred check"):
        a.exact_metrics()
    good = torch.ones(600, dtype=torch.bool)
    good[[5, 7, 8]] = False
    clean = Analyzer(num_classes=40)
    clean.update(x[good], y[good])
    assert a.class_stats is not None and clean.class_stats is not None
    assert torch.equal(a.class_stats.counts, clean.class_stats.counts)
    torch.testing.assert_close(a.class_stats.class_means(), clean.class_stats.class_means())
    assert a.units is not None and a.units.n == 597


def test_float32_mode_leaves_out_rows_beyond_its_float32_range():
    """precision='float32' forms squares in float32: a row whose norm passes 2^48 could
    overflow them, so the dense pass counts it as bad and says why; the default precision
    takes the same row."""
    x, y = _blobs(600)
    x[9] *= 1e15
    fast, default = Analyzer(num_classes=40, precision="float32"), Analyzer(num_classes=40)
    fast.update(x, y)
    default.update(x, y)
    with pytest.raises(ValueError, match=r"1 row\(s\) with NaN/Inf or a norm above 2\.8e\+14"):
        fast.exact_metrics()
    assert default.exact_metrics()["nc1"] > 0


def test_dense_labels_are_checked_for_shape_and_kind():
    a = Analyzer(num_classes=3)
    with pytest.raises(TypeError, match="integer class ids"):
        a.update(torch.randn(4, 2), torch.zeros(4))
    with pytest.raises(ValueError, match="expected a 1-D tensor of 4 labels"):
        a.update(torch.randn(4, 2), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="class_names: expected 3 names"):
        Analyzer(num_classes=3, class_names=["a", "b"])


def test_the_deferred_check_survives_merge_and_state_round_trip():
    x, y = _blobs(600)
    y[3] = 99
    a, b = Analyzer(num_classes=40), Analyzer(num_classes=40)
    a.update(x[:300], y[:300])
    b.update(x[300:], y[300:])
    restored = Analyzer()
    restored.load_state_dict(a.state_dict())
    assert restored.num_classes == 40
    with pytest.raises(ValueError, match=r"1 label\(s\) out of range"):
        restored.exact_metrics()
    merged = b.merge(a)
    with pytest.raises(ValueError, match=r"1 label\(s\) out of range"):
        merged.exact_metrics()
    clean = Analyzer(num_classes=40)
    clean.update(x[300:], y[300:])
    clean.merge(Analyzer(num_classes=40))
    assert clean.exact_metrics()["nc1"] > 0
