"""load_state_dict of every accumulator checks every field before it changes anything: a
missing key, NaN, a wrong shape or a negative count is a ValueError naming the key, and the
accumulator keeps its state."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch

from collapsekit.engine.labels import LabelEncoder
from collapsekit.stats.class_scatter import PerClassScatter
from collapsekit.stats.class_stats import ClassStats
from collapsekit.stats.cross_moments import CrossMoments
from collapsekit.stats.lidar_stats import LiDARStats
from collapsekit.stats.ncc_agreement import NCCAgreement
from collapsekit.stats.regression_stats import RegressionStats
from collapsekit.stats.row_reservoir import RowReservoir
from collapsekit.stats.unit_moments import UnitVectorMoments

G = torch.Generator().manual_seed(0)
X = torch.randn(40, 4, generator=G, dtype=torch.float64) + 3.0
Y = torch.arange(40) % 3


def _class_stats() -> ClassStats:
    s = ClassStats(num_classes=3, dim=4)
    s.update(X, Y)
    return s


def _units() -> UnitVectorMoments:
    s = UnitVectorMoments(num_classes=3, dim=4)
    s.update(X, Y)
    return s


def _scatter() -> PerClassScatter:
    s = PerClassScatter(num_classes=3, dim=4)
    s.update(X, Y)
    return s


def _cross() -> CrossMoments:
    s = CrossMoments(4, 2)
    s.update(X, X[:, :2] * 2)
    return s


def _reservoir() -> RowReservoir:
    s = RowReservoir(capacity=16, seed=1)
    s.update(X, Y, reference=X[:, :2])
    return s


def _lidar() -> LiDARStats:
    s = LiDARStats(dim=4)
    s.update(X.reshape(10, 4, 4))
    return s


def _regression() -> RegressionStats:
    s = RegressionStats(dim=4, target_dim=2)
    s.update(X, X[:, :2])
    return s


def _ncc() -> NCCAgreement:
    means = torch.stack([X[Y == c].mean(0) for c in range(3)])
    s = NCCAgreement(means, torch.arange(3), weights=means)
    s.update(X)
    return s


def _encoder() -> LabelEncoder:
    e = LabelEncoder()
    e.encode(torch.tensor([5, 2, 9]), torch.device("cpu"))
    return e


FACTORIES: dict[str, Callable[[], Any]] = {
    "ClassStats": _class_stats,
    "UnitVectorMoments": _units,
    "PerClassScatter": _scatter,
    "CrossMoments": _cross,
    "RowReservoir": _reservoir,
    "LiDARStats": _lidar,
    "RegressionStats": _regression,
    "NCCAgreement": _ncc,
    "LabelEncoder": _encoder,
}
#: keys a state may leave out (the loader has a default)
OPTIONAL = {("ClassStats", "global_mean")}
#: integers that may be negative
SIGNED = {"seed", "stream"}


def _corruptions(state: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(key, what, corrupted state) for every key of ``state``."""
    out = []
    for key, value in state.items():
        missing = {k: v for k, v in state.items() if k != key}
        out.append((key, "missing", missing))
        if isinstance(value, torch.Tensor):
            out.append((key, "shape", {**state, key: value.unsqueeze(0)}))
            if value.is_floating_point():
                bad = value.clone()
                bad.view(-1)[0] = math.nan
                out.append((key, "nan", {**state, key: bad}))
            elif key not in SIGNED:
                out.append((key, "negative", {**state, key: value - value.max() - 1}))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if key not in SIGNED:
                out.append((key, "negative", {**state, key: -1}))
            out.append((key, "fraction", {**state, key: value + 0.5}))
        elif isinstance(value, float):
            out.append((key, "nan", {**state, key: math.nan}))
    return out


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, torch.Tensor):
            if not (isinstance(y, torch.Tensor) and x.shape == y.shape and torch.equal(x, y)):
                return False
        elif x != y:
            return False
    return True


CASES = [
    (name, key, what, bad)
    for name, make in FACTORIES.items()
    for key, what, bad in _corruptions(make().state_dict())
    if not (what == "missing" and (name, key) in OPTIONAL)
]


@pytest.mark.parametrize(
    "name, key, what, bad", CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES]
)
def test_corrupt_field_is_refused_and_changes_nothing(name, key, what, bad):
    acc = FACTORIES[name]()
    before = acc.state_dict()
    with pytest.raises(ValueError, match=rf"\b{key}\b"):
        acc.load_state_dict(bad)
    assert _same(acc.state_dict(), before)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_round_trip_still_loads(name):
    acc = FACTORIES[name]()
    state = acc.state_dict()
    fresh = FACTORIES[name]()
    fresh.load_state_dict(state)
    assert _same(fresh.state_dict(), state)


def _refused(acc: Any, state: dict[str, Any], key: str, **kwargs: Any) -> None:
    before = acc.state_dict()
    with pytest.raises(ValueError, match=rf"state\['{key}'\]"):
        acc.load_state_dict(state, **kwargs)
    assert _same(acc.state_dict(), before)


def test_reservoir_consistency():
    r = _reservoir()
    s = r.state_dict()
    _refused(r, s, "labels", num_classes=2)  # labels 0..2 held, only 2 classes
    _refused(r, {**s, "seen": 3}, "keys")  # more rows held than were seen
    _refused(r, {**s, "capacity": 4}, "keys")
    _refused(r, {**s, "keys": s["keys"] + 1.0}, "keys")  # keys live in [0, 1)
    _refused(r, {**s, "reference": s["reference"][:-1]}, "reference")
    r.load_state_dict(s, num_classes=3)


def test_counts_consistency():
    u = _units()
    _refused(u, {**u.state_dict(), "zero_rows": u.n + 1}, "zero_rows")
    _refused(u, {**u.state_dict(), "n": 1}, "zero_rows" if u.zero_rows > 1 else "class_unit_sums")
    ncc = _ncc()
    _refused(ncc, {"agree": 5, "total": 4}, "agree")
    lidar = _lidar()
    _refused(lidar, {**lidar.state_dict(), "counts": torch.tensor([10, 3])}, "counts")
    scatter = _scatter()
    s = scatter.state_dict()
    _refused(scatter, {**s, "counts": torch.tensor([0, 14, 13])}, "resid_sum")


def test_encoder_values_complete():
    e = LabelEncoder(["a", "b", "c"])
    e.encode(["b"], torch.device("cpu"))
    s = e.state_dict()
    _refused(e, {**s, "values": s["values"][:2]}, "values")  # truncated
    _refused(e, {**s, "values": ["a", "a", "c"]}, "values")
    _refused(e, {**s, "kind": "float"}, "kind")
    ints = _encoder()
    si = ints.state_dict()
    _refused(ints, {**si, "values": [5, 5, 9]}, "values")
    _refused(ints, {**si, "values": [5, 2.5, 9]}, "values")
    _refused(ints, {**si, "class_names": ["x", "y"]}, "values")  # 5 and 9 index past 2 names
