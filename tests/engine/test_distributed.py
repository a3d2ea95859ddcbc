"""Combining Analyzers: class alignment, rank metadata and merge (the gloo runs are in
test_analyzer_ddp.py and test_analyzer_idle_ranks.py)."""

import pytest
import torch

from collapsekit import Analyzer
from collapsekit.engine.distributed import agreed_metadata, complete_mapping, rank_metadata


def test_complete_mapping_appends_the_unused_ids():
    assert complete_mapping(torch.tensor([3, 1]), 5).tolist() == [3, 1, 0, 2, 4]
    assert complete_mapping(torch.zeros(0, dtype=torch.long), 2).tolist() == [0, 1]


def test_ranks_without_rows_adopt_the_others_shape():
    a = Analyzer()
    a.update(torch.randn(6, 4), ["x", "y", "x", "y", "x", "y"])
    idle = rank_metadata(Analyzer())
    assert not idle["started"]
    assert agreed_metadata([rank_metadata(a), idle]) == (4, True, None, "float32")
    assert agreed_metadata([idle, idle]) is None


def test_ranks_of_different_widths_are_refused():
    a, b = Analyzer(), Analyzer()
    a.update(torch.randn(4, 4), [0, 1, 0, 1])
    b.update(torch.randn(4, 5), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="features: expected every rank to feed rows"):
        agreed_metadata([rank_metadata(a), rank_metadata(b)])


def test_merge_matches_classes_by_label_whatever_their_order():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, generator=g)
    y = [("cat", "dog")[i % 2] for i in range(40)]
    first, second, whole = Analyzer(), Analyzer(), Analyzer()
    first.update(x[:20], y[:20])
    second.update(x[20:].flip(0), y[20:][::-1])  # 'dog' arrives first here
    whole.update(x, y)
    first.merge(second)
    assert first.n_rows == 40
    got = first.class_stats.class_means()
    want = whole.class_stats.class_means()
    assert torch.allclose(got, want, rtol=1e-9, atol=1e-9)
    with pytest.raises(TypeError, match="other: expected an Analyzer"):
        first.merge(object())


def test_the_analyzer_is_an_accumulator_too():
    from collapsekit.stats._accumulator import Accumulator

    a = Analyzer()
    assert isinstance(a, Accumulator)
    a.update(torch.randn(5, 3), [0, 1, 0, 1, 1])
    before = a.state_dict()["class_stats"]
    assert a.all_reduce() is a  # torch.distributed not initialised: nothing changes
    after = a.state_dict()["class_stats"]
    assert all(torch.equal(after[k], before[k]) for k in ("counts", "resid_sum", "scatter"))
