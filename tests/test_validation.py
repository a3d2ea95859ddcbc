"""The parameter validators give one clear message naming the argument."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from collapsekit._validation import (
    check_choice,
    check_features,
    check_finite_float,
    check_int_at_least,
    check_nonnegative_float,
    check_nonnegative_int,
    check_open_unit_interval,
    check_positive_float,
    check_positive_int,
    usable_device,
)


@pytest.mark.parametrize("bad", [1.5, 0.0, 1.0, -0.1, math.nan, "0.9", True])
def test_open_unit_interval(bad) -> None:
    with pytest.raises(ValueError, match=r"^interval_level: expected a number strictly between"):
        check_open_unit_interval(bad, "interval_level")
    assert check_open_unit_interval(0.95, "interval_level") == 0.95


@pytest.mark.parametrize("bad", [-1, 1.0, True, None])
def test_nonnegative_int(bad) -> None:
    with pytest.raises(ValueError, match=r"^bootstrap: expected an integer >= 0"):
        check_nonnegative_int(bad, "bootstrap")
    assert check_nonnegative_int(np.int64(0), "bootstrap") == 0


@pytest.mark.parametrize("bad", [1, 0, -3, 2.0, False])
def test_int_at_least(bad) -> None:
    with pytest.raises(ValueError, match=r"^probe_folds: expected an integer >= 2"):
        check_int_at_least(bad, "probe_folds", 2)
    assert check_int_at_least(5, "probe_folds", 2) == 5


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_positive_int(bad) -> None:
    with pytest.raises(ValueError, match=r"^uniformity_rows: expected a positive integer"):
        check_positive_int(bad, "uniformity_rows")


@pytest.mark.parametrize("bad", [-1e-9, math.nan, math.inf, "1", None])
def test_nonnegative_float(bad) -> None:
    with pytest.raises(ValueError, match=r"^rtol: expected a finite number >= 0"):
        check_nonnegative_float(bad, "rtol")
    assert check_nonnegative_float(0, "rtol") == 0.0


@pytest.mark.parametrize("bad", [0.0, -2.0, math.inf])
def test_positive_float(bad) -> None:
    with pytest.raises(ValueError, match=r"^t: expected a finite number > 0"):
        check_positive_float(bad, "t")


def test_finite_float_and_choice() -> None:
    with pytest.raises(ValueError, match=r"^x: expected a finite number"):
        check_finite_float(math.nan, "x")
    with pytest.raises(ValueError, match=r"^metric: expected 'cosine' or 'euclidean'"):
        check_choice("manhattan", "metric", ("cosine", "euclidean"))


def test_a_matrix_of_the_wrong_width_names_it_and_hints_at_a_transpose() -> None:
    with pytest.raises(ValueError, match=r"weights: expected 8 columns .* pass weights\.T"):
        check_features(np.zeros((8, 3)), "weights", 8)
    with pytest.raises(ValueError, match="expected 8 columns") as info:
        check_features(np.zeros((3, 5)), "weights", 8)
    assert "transposed" not in str(info.value)
    with pytest.raises(ValueError, match="expected 8 columns") as info:
        check_features(np.zeros((8, 3)), "features", 8)  # 8 rows of the wrong width
    assert "transposed" not in str(info.value)


@pytest.mark.parametrize(
    ("device", "match"),
    [
        ("gpu", r"device: expected a device name such as 'cpu' or 'cuda:0', received 'gpu'"),
        ("meta", r"device: expected a device that holds values, received 'meta'"),
    ],
)
def test_unusable_devices_are_named(device: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        usable_device(device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this build has CUDA")
def test_cuda_on_a_cpu_build_says_so_before_any_row_is_read() -> None:
    from collapsekit import Analyzer

    with pytest.raises(ValueError, match=r"device: expected a device this torch build can use"):
        Analyzer(device="cuda")
    assert usable_device("cpu") == torch.device("cpu")
