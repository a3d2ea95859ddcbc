"""Hypothesis strategies for the fuzz suite: feature matrices of every dtype, layout and
degenerate kind, and labels with empty and singleton classes."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from hypothesis import settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None)

DTYPES = ("float16", "bfloat16", "float32", "float64")
KINDS = ("normal", "constant", "zero", "duplicated", "rank1", "huge", "tiny", "offset")
LAYOUTS = ("contiguous", "transposed", "negative_stride", "big_endian")


def _values(kind: str, n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    base = rng.standard_normal((n, d))
    if kind == "constant":
        return np.full((n, d), 3.5)
    if kind == "zero":
        return np.zeros((n, d))
    if kind == "duplicated":
        return np.repeat(base[:1], n, axis=0) if n else base
    if kind == "rank1":
        return rng.standard_normal((n, 1)) * rng.standard_normal((1, d))
    if kind == "huge":
        return base * 1e18
    if kind == "tiny":
        return base * 1e-160
    if kind == "offset":
        return 1e4 + 1e-2 * base
    return base


def to_layout(values: np.ndarray, dtype: str, layout: str) -> Any:
    """The matrix in a dtype and memory layout (numpy for the numpy-only layouts)."""
    if layout in ("negative_stride", "big_endian") and dtype in ("float32", "float64"):
        arr = values.astype(dtype)
        if layout == "negative_stride":
            return np.ascontiguousarray(arr[::-1])[::-1]
        return arr.astype(np.dtype(dtype).newbyteorder(">"))
    with np.errstate(over="ignore"):
        t = torch.from_numpy(np.ascontiguousarray(values)).to(getattr(torch, dtype))
    if layout == "transposed":
        return t.T.contiguous().T  # same values, column-major strides
    return t


@st.composite
def features(draw: Callable[..., Any], min_rows: int = 0, max_rows: int = 12) -> Any:
    n = draw(st.integers(min_rows, max_rows))
    d = draw(st.integers(1, 6))
    kind = draw(st.sampled_from(KINDS))
    dtype = draw(st.sampled_from(DTYPES))
    layout = draw(st.sampled_from(LAYOUTS))
    seed = draw(st.integers(0, 2**16))
    return to_layout(_values(kind, n, d, np.random.default_rng(seed)), dtype, layout)


@st.composite
def labelled(draw: Callable[..., Any], min_rows: int = 0) -> tuple[Any, torch.Tensor]:
    x = draw(features(min_rows=min_rows))
    n = x.shape[0]
    k = draw(st.integers(1, 5))
    mode = draw(st.sampled_from(("random", "single", "singletons", "sorted")))
    if mode == "single":
        y = torch.zeros(n, dtype=torch.long)
    elif mode == "singletons":
        y = torch.arange(n) % max(1, min(n, k + 3))
    elif mode == "sorted":
        y = (torch.arange(n) * k) // max(n, 1)
    else:
        y = torch.tensor(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    return x, y.long()


_NAMED = re.compile(r"^[\w\[\]'\-. ]+: ")


def check_error(exc: BaseException) -> None:
    """A refusal must be a ValueError/TypeError whose message starts with the argument name."""
    assert isinstance(exc, ValueError | TypeError), repr(exc)
    assert _NAMED.match(str(exc)), f"message does not name the argument: {exc}"


def check_outcome(
    fn: Callable[[], Any], allowed: Callable[[str, float], bool] | None = None
) -> Any:
    """Run ``fn``: it raises ValueError/TypeError whose message names the problem, or returns
    values that are finite or documented (``allowed(key, value)``)."""
    try:
        result = fn()
    except (ValueError, TypeError) as exc:
        check_error(exc)
        return None
    values = result.items() if isinstance(result, dict) else [("value", result)]
    for key, value in values:
        v = float(value)
        assert math.isfinite(v) or (allowed is not None and allowed(key, v)), (key, v)
    return result
