"""Property-based fuzzing of ClassStats and the CLI readers (issue 11)."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from collapsekit import ClassStats
from collapsekit._validation import as_tensor
from collapsekit.io.readers import InputError, open_embeddings, read_labels
from fuzz.strategies import FUZZ, check_error, check_outcome, labelled
from fuzz.test_fuzz_functional import _nc_allowed


@FUZZ
@given(labelled(), st.integers(1, 4))
def test_class_stats_update_merge_and_state(data: tuple[Any, torch.Tensor], parts: int) -> None:
    x, y = data
    d = x.shape[1]
    k = int(y.max()) + 1 if y.numel() else 1
    whole, pieces = ClassStats(k, d), ClassStats(k, d)
    try:
        whole.update(x, y)
    except (ValueError, TypeError) as exc:
        check_error(exc)
        assert whole.num_samples == 0  # a rejected batch leaves nothing behind
        return
    xt = as_tensor(x, "features")
    for xb, yb in zip(xt.tensor_split(parts), y.tensor_split(parts), strict=True):
        other = ClassStats(k, d)
        other.update(xb, yb)
        pieces.merge(other)
    assert torch.equal(pieces.counts, whole.counts)
    restored = ClassStats(k, d)
    restored.load_state_dict(whole.state_dict())
    try:
        ref = whole.neural_collapse()
    except ValueError as exc:
        check_error(exc)
        return
    check_outcome(lambda: ref, _nc_allowed(ref))
    again = restored.neural_collapse()
    for key, value in ref.items():
        assert again[key] == value or (math.isnan(again[key]) and math.isnan(value)), key


@FUZZ
@given(
    st.integers(0, 8),
    st.integers(1, 4),
    st.sampled_from(("<f4", ">f4", "<f8", ">f8", "<f2", "<i4", ">i8")),
    st.booleans(),
)
def test_npy_reader_round_trip(n: int, d: int, dtype: str, reverse: bool) -> None:
    values = np.arange(n * d, dtype=np.float64).reshape(n, d) - 3.0
    arr = values.astype(dtype)
    if reverse:
        arr = arr[::-1]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "e.npy"
        np.save(path, arr)
        src = open_embeddings(path)
        assert src.shape == (n, d)
        got = np.concatenate([b for _, b in src.batches(3)]) if n else np.empty((0, d))
        np.testing.assert_array_equal(got.astype(np.float64), arr.astype(np.float64))


@FUZZ
@given(
    st.lists(
        st.one_of(
            st.integers(0, 5),
            st.floats(allow_nan=True, allow_infinity=True, width=32),
            st.text(alphabet="ab c_", min_size=1, max_size=6),
        ),
        min_size=1,
        max_size=10,
    ),
    st.sampled_from(("npy", "txt")),
)
def test_label_reader_outcomes(raw: list[Any], fmt: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"y.{fmt}"
        if fmt == "txt":
            path.write_text("\n".join(str(v) for v in raw) + "\n")
        else:
            kinds = {type(v) for v in raw}
            arr = np.asarray(raw) if len(kinds) == 1 else np.asarray([str(v) for v in raw])
            np.save(path, arr)
        try:
            labels, names = read_labels(path, len(raw))
        except InputError as exc:
            assert str(exc).startswith(str(path)), exc
            return
        assert labels is not None and labels.shape == (len(raw),)
        assert labels.min() >= 0
        if names is not None:
            assert "nan" not in names or fmt == "txt" or any(isinstance(v, str) for v in raw), names
            assert len(names) == labels.max() + 1


@pytest.mark.parametrize("lengths", [(3, 1), (2, 2, 1, 3), (0, 4)])
def test_parquet_ragged_lists_never_reshape(lengths: tuple[int, ...]) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "e.parquet"
        pq.write_table(pa.table({"embedding": [[1.0] * k for k in lengths]}), path)
        with pytest.raises(InputError, match="unequal length"):
            open_embeddings(path)
