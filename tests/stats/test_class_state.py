"""Checkpoint validation of ClassStats (``stats/class_state.py``): every corrupt state is
refused with a message naming what is wrong, and ``load_state_dict`` replaces nothing then."""

import math
from typing import Any

import pytest
import torch

from collapsekit import ClassStats
from collapsekit.stats.class_state import validated_class_state


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


def test_validated_tensors_take_the_targets_device_and_dtypes() -> None:
    source = _filled()
    state = source.state_dict()
    state["scatter"] = state["scatter"].float()  # an older float32 checkpoint's scatter
    out = validated_class_state(ClassStats(3, 4), state)
    assert out["scatter"].dtype == torch.float64
    assert out["counts"].dtype == source.counts.dtype
    assert out["scatter"] is not state["scatter"]  # copies: the caller's state is not shared


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("nan_shift", r"state\['shift'\]: expected finite values"),
        ("negative_count", r"state\['counts'\]: expected non-negative integer row counts"),
        ("non_psd_scatter", r"state\['scatter'\]: expected a positive semi-definite scatter"),
        ("asymmetric_scatter", r"state\['scatter'\]: expected a symmetric scatter"),
        ("unknown_version", r"state\['version'\]: expected 1 .* received 99"),
        ("wrong_shape", r"state\['scatter'\]: expected shape \(4, 4\), received \(3, 3\)"),
        ("wrong_dims", r"expected num_classes=3, dim=4, received num_classes=3, dim=5"),
    ],
)
def test_each_refusal_names_the_entry_and_what_was_expected(case: str, match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        validated_class_state(ClassStats(3, 4), _corrupt(case))


def test_a_non_mapping_state_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"state: expected a ClassStats\.state_dict"):
        validated_class_state(ClassStats(3, 4), [1, 2])  # type: ignore[arg-type]
