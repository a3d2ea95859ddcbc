"""Analyzer.load_state_dict refuses corrupt states with a ValueError naming the key, and
leaves the Analyzer unchanged."""

import copy

import pytest
import torch

from collapsekit import Analyzer


def _state() -> dict:
    g = torch.Generator().manual_seed(0)
    a = Analyzer(sample_rows=30)
    a.update(torch.randn(60, 4, generator=g), torch.arange(60) % 3, torch.randn(60, 2, generator=g))
    return a.state_dict()


def _drop(key):
    def corrupt(s):
        del s[key]

    return corrupt


def _set(key, value):
    def corrupt(s):
        s[key] = value

    return corrupt


def _double_rows(s):
    s["n_rows"] *= 2


def _label_out_of_range(s):
    s["reservoir"]["labels"][0] = 7


def _truncate_values(s):
    s["encoder"]["values"] = s["encoder"]["values"][:2]


def _narrow_rows(s):
    s["reservoir"]["rows"] = s["reservoir"]["rows"][:, :3]


def _nan_row(s):
    s["reservoir"]["rows"][0, 0] = float("nan")


def _drop_option(s):
    del s["options"]["seed"]


@pytest.mark.parametrize(
    ("corrupt", "key"),
    [
        (_drop("units"), "units"),
        (_drop("reservoir"), "reservoir"),
        (_set("units", None), "units"),
        (_set("cross", None), "cross"),
        (_set("dim", 5), "class_stats"),
        (_set("dim", "4"), "dim"),
        (_set("capacity", 3), "class_stats"),
        (_set("labelled", "yes"), "labelled"),
        (_double_rows, "n_rows"),
        (_label_out_of_range, "reservoir.labels"),
        (_truncate_values, "encoder.values"),
        (_narrow_rows, "reservoir.rows"),
        (_nan_row, "reservoir.rows"),
        (_drop_option, "options.seed"),
        (_set("version", 99), "version"),
    ],
)
def test_corrupt_state_is_refused_and_changes_nothing(corrupt, key):
    good = _state()
    bad = copy.deepcopy(good)
    corrupt(bad)
    a = Analyzer()
    a.update(torch.eye(3), torch.tensor([5, 6, 6]))
    before = a.state_dict()
    with pytest.raises(
        ValueError, match=key.replace(".", r"\.") if key != "version" else "version"
    ):
        a.load_state_dict(bad)
    after = a.state_dict()
    assert after["n_rows"] == before["n_rows"] == 3
    assert after["encoder"] == before["encoder"]
    assert torch.equal(after["class_stats"]["counts"], before["class_stats"]["counts"])
    a.load_state_dict(good)  # the uncorrupted state still loads
    assert a.n_rows == 60


def test_started_names_the_missing_first_batch():
    from collapsekit.engine.state import started

    a = Analyzer()
    with pytest.raises(ValueError, match="features: expected the Analyzer to have seen a first"):
        started(a)
    a.update(torch.randn(3, 5), [0, 1, 0])
    dim, class_stats, units = started(a)
    assert (dim, class_stats.num_classes, units.dim) == (5, a.capacity, 5)
