"""Axis maths shared by the SVG charts (:mod:`collapsekit.render.svg`) and the matplotlib
figures (:mod:`collapsekit.plot`): tick labels, 1-2-5 linear ticks, log ticks and bounds.

* linear axes get "nice" ticks: steps of 1, 2 or 5 times a power of ten; index and epoch
  axes (``integer=True``) get integer ticks only;
* log axes get ticks at 1, 2 and 5 times powers of ten (fewer per decade, or every few
  decades, when the range is wide).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any


def is_number(v: Any) -> bool:
    """True for a real number (int, float, numpy scalar), False for bool, str, None and the rest:
    values read from a report or history file are checked with this before they are formatted.

    Example:
        >>> [is_number(v) for v in (1, 2.5, float("nan"), True, "3", None)]
        [True, True, True, False, False, False]
    """
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def as_float(v: Any) -> float:
    """``float(v)`` for a real number (see :func:`is_number`), NaN for anything else.

    Example:
        >>> as_float(3), as_float("<b>")
        (3.0, nan)
    """
    return float(v) if is_number(v) else math.nan


def format_tick(v: float) -> str:
    """Short tick label: ``0``, ``0.02``, ``500``, ``2e-05`` (no float noise such as 0.30000004).

    Example:
        >>> [format_tick(v) for v in (0.0, 0.3000000004, 20.0, 1e-4, 2e-5, 1.5e5)]
        ['0', '0.3', '20', '0.0001', '2e-05', '1.5e+05']
    """
    if v == 0 or not math.isfinite(v):
        return "0" if v == 0 else str(v)
    a = abs(v)
    if 1e-4 <= a < 1e5:
        text = f"{v:.6g}"
        return text
    mant, exp = f"{v:.1e}".split("e")
    mant = mant.rstrip("0").rstrip(".")
    return f"{mant}e{exp}"


def nice_step(span: float, count: int = 5) -> float:
    """The smallest 1-2-5 step (1, 2 or 5 times a power of ten) giving at most ``count``
    intervals over ``span``.

    Example:
        >>> nice_step(63.0), nice_step(1.0), nice_step(0.37)
        (20.0, 0.2, 0.1)
    """
    if not span > 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(count, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 5.0, 10.0):
        if m * mag >= raw * (1 - 1e-9):
            return m * mag
    return 10.0 * mag  # pragma: no cover - the loop always returns


def linear_ticks(lo: float, hi: float, count: int = 5, integer: bool = False) -> list[float]:
    """Nice ticks inside ``[lo, hi]`` (1-2-5 steps); ``integer``: integers only.

    Example:
        >>> linear_ticks(1, 64, integer=True)
        [20.0, 40.0, 60.0]
        >>> linear_ticks(0, 3, integer=True)
        [0.0, 1.0, 2.0, 3.0]
        >>> linear_ticks(0.0, 1.0)
        [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    """
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        return [float(lo)]
    step = nice_step(hi - lo, count)
    if integer:
        step = max(1.0, round(step))
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    ticks = [round(i * step, 12) for i in range(first, last + 1)]
    return [float(t) for t in ticks]


def nice_bounds(lo: float, hi: float, count: int = 5) -> tuple[float, float]:
    """``[lo, hi]`` widened to the enclosing 1-2-5 ticks (for value axes)."""
    if hi == lo:
        return lo - 0.5, hi + 0.5
    step = nice_step(hi - lo, count)
    return math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step


def log_ticks(lo: float, hi: float, max_ticks: int = 8) -> list[float]:
    """Ticks at 1, 2, 5 x 10^k inside ``[lo, hi]`` (``lo > 0``); only powers of ten (every
    ``s``-th decade) when 1-2-5 would give more than ``max_ticks``.

    Example:
        >>> log_ticks(0.003, 0.09)
        [0.005, 0.01, 0.02, 0.05]
        >>> log_ticks(1e-12, 1.0)
        [1e-12, 1e-10, 1e-08, 1e-06, 0.0001, 0.01, 1.0]
    """
    if not (lo > 0 and hi > 0):
        raise ValueError(f"log_ticks: expected positive bounds, received {lo!r}, {hi!r}")
    if hi < lo:
        lo, hi = hi, lo
    d0, d1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))

    def inside(values: list[float]) -> list[float]:
        return [float(f"{t:.6g}") for t in values if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9)]

    ticks = inside([m * 10.0**e for e in range(d0, d1 + 1) for m in (1.0, 2.0, 5.0)])
    if len(ticks) < 2:  # narrower than 1-2-5 spacing: nice linear ticks on the log axis
        return [t for t in linear_ticks(lo, hi, 3) if t > 0] or [lo, hi]
    if len(ticks) <= max_ticks:
        return ticks
    decades = list(range(d0, d1 + 1))
    stride = 1
    while len(inside([10.0**e for e in decades if e % stride == 0])) > max_ticks:
        stride += 1
    return inside([10.0**e for e in decades if e % stride == 0])


def log_bounds(lo: float, hi: float) -> tuple[float, float]:
    """``[lo, hi]`` (positive) widened to the enclosing values of the form 1, 2, 5 x 10^k.

    Example:
        >>> log_bounds(0.003, 0.09)
        (0.002, 0.1)
    """

    def below(v: float) -> float:
        e = math.floor(math.log10(v))
        return max(m * 10.0**e for m in (1, 2, 5) if m * 10.0**e <= v * (1 + 1e-9))

    def above(v: float) -> float:
        e = math.floor(math.log10(v))
        return min(m * 10.0**e for m in (1, 2, 5, 10) if m * 10.0**e >= v * (1 - 1e-9))

    a, b = float(f"{below(lo):.6g}"), float(f"{above(hi):.6g}")
    if a == b:
        a, b = a / 2, b * 2
    return a, b


def wants_log(values: Sequence[float], decades: float = 1.0) -> bool:
    """True when every finite value is positive and they span more than ``decades`` decades."""
    vals = [as_float(v) for v in values if math.isfinite(as_float(v))]
    if not vals or min(vals) <= 0:
        return False
    return math.log10(max(vals) / min(vals)) > decades


#: at most this many category names on an axis (per-class bars, heatmap rows and columns)
MAX_CATEGORY_LABELS = 25


def label_step(count: int, max_labels: int = MAX_CATEGORY_LABELS) -> int:
    """Label every ``step``-th of ``count`` categories so at most ``max_labels`` names are
    written: ``ceil(count / max_labels)`` (1 up to ``max_labels`` categories). Both renderers
    (SVG and matplotlib) thin their class names with it, so 50 classes show 25 names, not a
    smear of overlapping text.

    Example:
        >>> label_step(10), label_step(25), label_step(26), label_step(50), label_step(64)
        (1, 1, 2, 2, 3)
    """
    return max(1, math.ceil(count / max(1, max_labels)))
