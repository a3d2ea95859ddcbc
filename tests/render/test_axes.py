"""Axis maths shared by the SVG charts and the matplotlib figures: 1-2-5 linear and log ticks,
log bounds and tick labels without float noise."""

import itertools
import math

import pytest

from collapsekit.render.axes import format_tick, linear_ticks, log_bounds, log_ticks


def _is_125(v: float) -> bool:
    e = math.floor(math.log10(v) + 1e-9)
    return any(abs(v / 10**e - c) < 1e-6 for c in (1, 2, 5))


@pytest.mark.parametrize(
    "lo,hi", [(1, 64), (0, 299), (1, 7), (3, 1000), (0, 1), (0.17, 0.33), (-2.5, 40.0)]
)
def test_linear_ticks_are_nice(lo, hi):
    ticks = linear_ticks(lo, hi, integer=float(lo).is_integer() and float(hi).is_integer())
    assert 2 <= len(ticks) <= 7
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1 and _is_125(steps.pop())
    assert all(lo <= t <= hi for t in ticks)


@pytest.mark.parametrize("lo,hi", [(1e-17, 0.09), (0.0028, 0.086), (0.05, 3.0), (0.3, 0.45)])
def test_log_ticks_are_1_2_5(lo, hi):
    a, b = log_bounds(lo, hi)
    assert a <= lo and b >= hi
    ticks = log_ticks(a, b)
    assert 2 <= len(ticks) <= 8 and all(_is_125(t) for t in ticks)


def test_format_tick_has_no_float_noise():
    assert [format_tick(v) for v in (0.1 + 0.2, 16.8, 1e-7, 200.0)] == [
        "0.3",
        "16.8",
        "1e-07",
        "200",
    ]
