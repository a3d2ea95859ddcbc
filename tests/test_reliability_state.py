"""Issue 11: ClassStats state loads are validated and atomic; a failed meta update is harmless."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from collapsekit import ClassStats


def _filled() -> ClassStats:
    g = torch.Generator().manual_seed(5)
    stats = ClassStats(3, 4)
    y = torch.arange(30) % 3
    stats.update(torch.randn(30, 4, generator=g) + 2 * torch.eye(4)[y], y)
    return stats


def _snapshot(stats: ClassStats) -> dict[str, Any]:
    return stats.state_dict()


def _corrupt(name: str) -> dict[str, Any]:
    state = _filled().state_dict()
    if name == "nan_shift":
        state["shift"][0, 0] = math.nan
    elif name == "inf_resid":
        state["resid_sum"][1, 2] = math.inf
    elif name == "negative_count":
        state["counts"][0] = -1
    elif name == "fractional_count":
        state["counts"] = state["counts"].double()
        state["counts"][1] = 2.5
    elif name == "non_psd_scatter":
        state["scatter"] = -torch.eye(4, dtype=torch.float64)
    elif name == "asymmetric_scatter":
        state["scatter"][0, 1] += 1.0
    elif name == "negative_square_sum":
        state["resid_sq"][0] = -1.0
    elif name == "unknown_version":
        state["version"] = 99
    elif name == "missing_version":
        del state["version"]
    elif name == "bogus_global_mean":
        state["global_mean"] = "bogus"
    elif name == "wrong_shape":
        state["scatter"] = torch.zeros(3, 3, dtype=torch.float64)
    elif name == "complex_dtype":
        state["shift"] = state["shift"].to(torch.complex64)
    elif name == "bool_dtype":
        state["counts"] = state["counts"] > 0
    elif name == "wrong_dims":
        state["dim"] = 5
    return state


CASES = [
    "nan_shift",
    "inf_resid",
    "negative_count",
    "fractional_count",
    "non_psd_scatter",
    "asymmetric_scatter",
    "negative_square_sum",
    "unknown_version",
    "missing_version",
    "bogus_global_mean",
    "wrong_shape",
    "complex_dtype",
    "bool_dtype",
    "wrong_dims",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_state_is_refused_and_nothing_is_replaced(case: str) -> None:
    target = ClassStats(3, 4)
    g = torch.Generator().manual_seed(9)
    y = torch.arange(12) % 3
    target.update(torch.randn(12, 4, generator=g), y)
    before = _snapshot(target)
    with pytest.raises((ValueError, TypeError), match=r"state|global_mean"):
        target.load_state_dict(_corrupt(case))
    after = _snapshot(target)
    for key, value in before.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, after[key]), key
        else:
            assert value == after[key], key
    # still usable
    target.update(torch.randn(6, 4, generator=g), torch.arange(6) % 3)
    assert target.num_samples == 18


def test_valid_state_round_trips_exactly() -> None:
    source = _filled()
    target = ClassStats(3, 4, global_mean="sample")
    target.load_state_dict(source.state_dict())
    assert target.global_mean == "class"
    assert target.neural_collapse() == source.neural_collapse()


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
