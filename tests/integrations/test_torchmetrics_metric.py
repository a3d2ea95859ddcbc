"""The torchmetrics metric is exact at an offset and its forward survives one class."""

from __future__ import annotations

import math

import pytest
import torch

pytest.importorskip("torchmetrics")

from collapsekit import ClassStats
from collapsekit.integrations.torchmetrics_metric import NeuralCollapseMetric


def _offset_data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(4)
    y = torch.arange(3000) % 4
    x = 1e4 + 1e-2 * torch.randn(3000, 6, generator=g, dtype=torch.float64)
    x += 1e-2 * torch.eye(6, dtype=torch.float64)[y]
    return x.float(), y


def test_offset_1e4_drift_below_1e8() -> None:
    x, y = _offset_data()
    m = NeuralCollapseMetric(4, 6)
    for xb, yb in zip(x.split(700), y.split(700), strict=True):
        m.update(xb, yb)
    ref = ClassStats(4, 6)
    ref.update(x.double(), y)  # float64 pass over the same stored values
    got, want = m.compute(), ref.neural_collapse()
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-8), key


def test_synced_states_stacked_per_process_merge_exactly() -> None:
    x, y = _offset_data()
    parts = [NeuralCollapseMetric(4, 6) for _ in range(3)]
    for i, part in enumerate(parts):
        part.update(x[i::3], y[i::3])
    synced = NeuralCollapseMetric(4, 6)
    for name in ("counts", "shift", "resid_sum", "resid_sq", "scatter"):
        setattr(synced, name, torch.stack([getattr(p, name) for p in parts]))  # as a DDP gather
    synced._update_count = 3
    whole = NeuralCollapseMetric(4, 6)
    whole.update(x, y)
    got, want = synced.compute(), whole.compute()
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-9), key


def test_forward_on_a_single_class_batch_works_and_accumulates() -> None:
    m = NeuralCollapseMetric(3, 4)
    g = torch.Generator().manual_seed(0)
    out = m(torch.randn(8, 4, generator=g), torch.zeros(8, dtype=torch.long))
    assert out["num_samples"] == 8.0 and math.isnan(out["nc1"])
    y = torch.tensor([1, 2] * 4)
    out = m(torch.randn(8, 4, generator=g) + 5 * torch.eye(4)[y], y)
    assert math.isfinite(out["nc1"])
    total = m.compute()
    assert total["num_samples"] == 16.0 and math.isfinite(total["nc1"])


def test_compute_with_one_class_raises() -> None:
    m = NeuralCollapseMetric(3, 4)
    m.update(torch.randn(5, 4), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="at least 2 classes"):
        m.compute()


def test_bad_batch_leaves_the_state_untouched() -> None:
    m = NeuralCollapseMetric(2, 3)
    m.update(torch.randn(4, 3), torch.tensor([0, 1, 0, 1]))
    before = m.counts.clone()
    bad = torch.randn(4, 3)
    bad[1, 1] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        m.update(bad, torch.tensor([0, 1, 0, 1]))
    assert torch.equal(m.counts, before)
