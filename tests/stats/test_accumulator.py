"""Every accumulator of collapsekit.stats follows the one protocol: isinstance(Accumulator),
an exact state_dict round trip, merge of two halves equal to one pass, all_reduce a no-op
without torch.distributed and, over two gloo processes, equal to one pass."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from collapsekit.stats._accumulator import Accumulator, check_mergeable, distributed_active
from collapsekit.stats.class_scatter import PerClassScatter
from collapsekit.stats.class_stats import ClassStats
from collapsekit.stats.cross_moments import CrossMoments
from collapsekit.stats.deflated_scatter import DeflatedScatter
from collapsekit.stats.lidar_stats import LiDARStats
from collapsekit.stats.ncc_agreement import NCCAgreement
from collapsekit.stats.regression_stats import RegressionStats
from collapsekit.stats.row_reservoir import RowReservoir
from collapsekit.stats.unit_moments import UnitVectorMoments
from spawned import join_group

N, D, K = 40, 5, 3


def _data() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    y = torch.arange(N) % K
    x = torch.randn(N, D, generator=g) + 50.0 + 3.0 * torch.eye(D)[y]  # a common offset
    return {
        "x": x,
        "y": y,
        "ref": x[:, :3] @ torch.randn(3, 3, generator=g) + torch.randn(N, 3, generator=g),
        "views": x[:, None, :] + 0.2 * torch.randn(N, 3, D, generator=g),
        "targets": x[:, :2].double() + 0.1 * torch.randn(N, 2, generator=g, dtype=torch.float64),
    }


def _ncc() -> NCCAgreement:
    means = 50.0 + 3.0 * torch.eye(D, dtype=torch.float64)[:K]
    weights = torch.eye(D, dtype=torch.float64)[:K] + 0.1
    return NCCAgreement(means, torch.arange(K), weights)


# name -> (make(rank), feed(accumulator, data, rows)); ``rank`` is the reservoir's stream
CASES: dict[str, tuple[Callable[[int], Any], Callable[[Any, dict, slice], None]]] = {
    "ClassStats": (
        lambda r: ClassStats(K, D),
        lambda a, d, s: a.update(d["x"][s], d["y"][s]),
    ),
    "UnitVectorMoments": (
        lambda r: UnitVectorMoments(K, D),
        lambda a, d, s: a.update(d["x"][s], d["y"][s]),
    ),
    "PerClassScatter": (
        lambda r: PerClassScatter(K, D),
        lambda a, d, s: a.update(d["x"][s], d["y"][s]),
    ),
    "DeflatedScatter": (
        lambda r: DeflatedScatter(
            torch.full((D,), 50.0, dtype=torch.float64), torch.eye(D, dtype=torch.float64)[:, :2]
        ),
        lambda a, d, s: a.update(d["x"][s]),
    ),
    "CrossMoments": (
        lambda r: CrossMoments(D, 3),
        lambda a, d, s: a.update(d["x"][s], d["ref"][s]),
    ),
    "RowReservoir": (
        lambda r: RowReservoir(capacity=2 * N, seed=3, stream=r),
        lambda a, d, s: a.update(d["x"][s], d["y"][s], d["ref"][s]),
    ),
    "LiDARStats": (
        lambda r: LiDARStats(D),
        lambda a, d, s: a.update(d["views"][s]),
    ),
    "RegressionStats": (
        lambda r: RegressionStats(D, target_dim=2),
        # float64 rows: float32 rows are multiplied in float32 (see _scatter), which differs
        # between batch splits by float32 round-off
        lambda a, d, s: a.update(d["x"][s].double(), d["targets"][s]),
    ),
    "NCCAgreement": (
        lambda r: _ncc(),
        lambda a, d, s: a.update(d["x"][s]),
    ),
}
FIRST, SECOND, ALL = slice(0, 17), slice(17, N), slice(0, N)


def _built(name: str, rows: list[slice], rank: int = 0) -> Any:
    make, feed = CASES[name]
    acc = make(rank)
    data = _data()
    for s in rows:
        feed(acc, data, s)
    return acc


def _comparable(name: str, state: dict[str, Any]) -> dict[str, Any]:
    """The state with what depends on the batch split removed: a reservoir's keys and arrival
    order depend on the stream, so its rows are compared as a set (sorted)."""
    if name != "RowReservoir":
        return dict(state)
    order = torch.argsort(state["rows"][:, 0])
    return {
        "seen": state["seen"],
        "rows": state["rows"][order],
        "labels": state["labels"][order],
        "reference": state["reference"][order],
    }


def _assert_states_close(got: dict[str, Any], want: dict[str, Any], exact: bool) -> None:
    assert set(got) == set(want)
    for key, w in want.items():
        g = got[key]
        if isinstance(w, torch.Tensor):
            assert g.dtype == w.dtype and g.shape == w.shape, key
            if exact or not w.dtype.is_floating_point:
                assert torch.equal(g, w), key
            else:
                scale = float(w.abs().max()) if w.numel() else 0.0
                assert torch.allclose(g, w, rtol=1e-9, atol=1e-9 * scale), key
        elif isinstance(w, float) and not exact:
            assert g == pytest.approx(w, rel=1e-9, abs=1e-9), key
        else:
            assert g == w, key


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_accumulator_follows_the_protocol(name):
    assert isinstance(_built(name, []), Accumulator)


@pytest.mark.parametrize("name", sorted(CASES))
def test_state_dict_round_trip_is_exact(name):
    acc = _built(name, [FIRST, SECOND])
    fresh = _built(name, [])
    fresh.load_state_dict(acc.state_dict())
    _assert_states_close(fresh.state_dict(), acc.state_dict(), exact=True)
    # the loaded copy keeps accumulating like the original
    more = slice(0, 9)
    data = _data()
    CASES[name][1](acc, data, more)
    CASES[name][1](fresh, data, more)
    _assert_states_close(fresh.state_dict(), acc.state_dict(), exact=True)


@pytest.mark.parametrize("name", sorted(CASES))
def test_merge_of_two_halves_equals_one_pass(name):
    first = _built(name, [FIRST], rank=0)
    second = _built(name, [SECOND], rank=1)
    second_before = second.state_dict()
    assert first.merge(second) is first
    one_pass = _built(name, [FIRST, SECOND])
    got, want = first.state_dict(), one_pass.state_dict()
    _assert_states_close(_comparable(name, got), _comparable(name, want), exact=False)
    _assert_states_close(second.state_dict(), second_before, exact=True)  # other unchanged


@pytest.mark.parametrize("name", sorted(CASES))
def test_merge_refuses_another_kind(name):
    other = "ClassStats" if name != "ClassStats" else "LiDARStats"
    with pytest.raises(TypeError, match=f"other: expected a {name}"):
        _built(name, []).merge(_built(other, []))


def test_merge_refuses_other_options():
    with pytest.raises(ValueError, match=r"\(num_classes, dim\) = \(3, 5\), received"):
        ClassStats(K, D).merge(ClassStats(K + 1, D))
    with pytest.raises(ValueError, match="dim_y"):
        CrossMoments(D, 3).merge(CrossMoments(D, 4))
    with pytest.raises(ValueError, match="dim = 5, received dim = 4"):
        check_mergeable(LiDARStats(D), LiDARStats(D - 1), ("dim",))


@pytest.mark.parametrize("name", sorted(CASES))
def test_all_reduce_is_a_no_op_without_torch_distributed(name):
    assert not distributed_active()
    acc = _built(name, [FIRST, SECOND])
    before = acc.state_dict()
    assert acc.all_reduce() is acc
    _assert_states_close(acc.state_dict(), before, exact=True)


# ---------------------------------------------------------------------- two gloo processes
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, out: str) -> None:
    join_group(rank, port, 2)
    states = {}
    for name in sorted(CASES):
        acc = _built(name, [FIRST if rank == 0 else SECOND], rank=rank)
        states[name] = acc.all_reduce().state_dict()
    if rank == 1:  # the rank whose shifts were not rank 0's: it must end with the same sums
        torch.save(states, out)
    dist.destroy_process_group()


def test_all_reduce_over_two_gloo_processes_equals_one_pass(tmp_path):
    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    out = str(tmp_path / "rank1.pt")
    mp.spawn(_worker, args=(_free_port(), out), nprocs=2, join=True)
    got = torch.load(out, weights_only=False)
    for name in sorted(CASES):
        reduced = _built(name, [])
        reduced.load_state_dict(got[name])
        want = _built(name, [FIRST, SECOND])
        _assert_states_close(_invariant(name, reduced), _invariant(name, want), exact=False)


def _invariant(name: str, acc: Any) -> dict[str, Any]:
    """What does not depend on the shifts: the states that re-centre on the global means
    differ from one pass in their shifts and residual sums, not in these statistics."""
    if name == "ClassStats":
        return {
            "counts": acc.counts,
            "means": acc.class_means(),
            "within": acc.within_scatter(),
            "total": acc.total_cov(),
        }
    if name == "PerClassScatter":
        return {"counts": acc.counts, **{f"cov{c}": acc.class_covariance(c) for c in range(K)}}
    if name == "LiDARStats":
        return {"counts": acc.counts, "lidar": acc.compute(), "between": acc.between_scatter()}
    if name == "RegressionStats":
        return {"count": acc.count, "feature_cov": acc.feature_cov(), **acc.compute()}
    return _comparable(name, acc.state_dict())
