"""The parameter validators give one clear message naming the argument."""

from __future__ import annotations

import math

import numpy as np
import pytest

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
