"""Readers accept every valid layout and refuse bad files with one clear message."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from collapsekit.functional import effective_rank
from collapsekit.io.readers import InputError, open_embeddings, read_labels


def test_ragged_parquet_list_column_is_refused(tmp_path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "e.parquet"
    # 4 values over 2 rows: the old reader reshaped this silently to 2 x 2
    pq.write_table(pa.table({"embedding": [[1.0, 2.0, 3.0], [4.0]]}), path)
    with pytest.raises(InputError, match="unequal length"):
        open_embeddings(path)


def test_parquet_with_null_embedding_is_refused(tmp_path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "e.parquet"
    pq.write_table(pa.table({"embedding": [[1.0, 2.0], None, [3.0, 4.0]]}), path)
    with pytest.raises(InputError, match="null"):
        open_embeddings(path)


def test_nan_labels_are_refused(tmp_path) -> None:
    path = tmp_path / "y.npy"
    np.save(path, np.array([0.0, 1.0, np.nan, 1.0]))
    with pytest.raises(InputError, match="NaN/Inf label"):
        read_labels(path, 4)


def test_null_parquet_labels_are_refused(tmp_path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "y.parquet"
    pq.write_table(pa.table({"labels": ["a", None, "b"]}), path)
    with pytest.raises(InputError, match="missing"):
        read_labels(path, 3)


def test_big_endian_npy_is_accepted(tmp_path) -> None:
    x = np.random.default_rng(0).standard_normal((30, 4))
    path = tmp_path / "big.npy"
    np.save(path, x.astype(">f8"))
    src = open_embeddings(path)
    batch = next(src.batches(100))[1]
    assert effective_rank(batch) == pytest.approx(effective_rank(x))
    np.save(tmp_path / "y.npy", (np.arange(30) % 3).astype(">i8"))
    labels, names = read_labels(tmp_path / "y.npy", 30)
    assert labels is not None and names is None and labels.tolist()[:3] == [0, 1, 2]


def test_negative_stride_and_big_endian_views_reach_the_kernels() -> None:
    x = np.random.default_rng(1).standard_normal((20, 5))
    assert effective_rank(x[::-1]) == pytest.approx(effective_rank(x))
    assert effective_rank(x[:, ::-2]) == pytest.approx(
        effective_rank(np.ascontiguousarray(x[:, ::-2]))
    )
    assert effective_rank(x.astype(">f4")) == pytest.approx(effective_rank(x.astype("<f4")))


def test_bf16_pt_is_accepted(tmp_path) -> None:
    x = torch.randn(12, 3).bfloat16()
    torch.save(x, tmp_path / "a.pt")
    src = open_embeddings(tmp_path / "a.pt")
    assert src.shape == (12, 3) and np.asarray(src.array).dtype == np.float32
    torch.save({"embeddings": x, "labels": torch.arange(12) % 2}, tmp_path / "b.pt")
    src = open_embeddings(tmp_path / "b.pt")
    labels, _ = read_labels(None, 12, src)
    assert labels is not None and labels.tolist()[:2] == [0, 1]


def test_txt_labels_with_spaces_are_one_label_per_line(tmp_path) -> None:
    path = tmp_path / "y.txt"
    path.write_text("golden retriever\ntabby cat\ngolden retriever\n\n")
    labels, names = read_labels(path, 3)
    assert names == ["golden retriever", "tabby cat"]
    assert labels is not None and labels.tolist() == [0, 1, 0]


def test_txt_labels_with_an_empty_line_inside_are_refused(tmp_path) -> None:
    path = tmp_path / "y.txt"
    path.write_text("a\n\nb\n")
    with pytest.raises(InputError, match="empty line"):
        read_labels(path, 3)
