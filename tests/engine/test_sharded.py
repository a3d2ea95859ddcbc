"""ShardedAnalyzer over three gloo processes: rank 0 idle (never updated), rows of every class
fed on ranks that do not own it, classes that never occur, NC4 from second passes of
different lengths, and results equal to one process's Analyzer over the same rows."""

import io

import numpy as np
import pytest
import torch
import torch.distributed as dist

from collapsekit import Analyzer
from collapsekit.engine.sharded import ShardedAnalyzer
from spawned import error_of, join_group, rank_results

WORLD = 3
#: (num_classes, dim): K > D (the Gram's eigenpairs) and K <= D (the gathered means' SVD)
SHAPES = ((40, 6), (5, 8))


def _data(k: int, d: int):
    """600 rows of ``k`` classes of which every fifth (and the last two) never occur; a
    classifier that agrees with the class means on part of the rows; OoD rows."""
    rng = np.random.default_rng(k)
    used = [c for c in range(k) if c % 5 != 3 and c < k - 2] if k > 5 else [0, 1, 4]
    y = rng.choice(used, 600)
    centres = rng.standard_normal((k, d)) * 2.0
    x = (centres[y] + rng.standard_normal((600, d)) + 100.0).astype(np.float32)
    w = centres + rng.standard_normal((k, d))
    bias = rng.standard_normal(k) * 0.1 - 100.0 * w.sum(1)  # the offset cancels in logits
    ood = rng.standard_normal((30, d)).astype(np.float32) + 100.0
    return (
        torch.from_numpy(x),
        torch.from_numpy(y),
        torch.from_numpy(w),
        torch.from_numpy(bias),
        ood,
    )


def _sharded(rank: int, k: int, d: int, global_mean: str) -> dict:
    x, y, w, bias, ood = _data(k, d)
    s = ShardedAnalyzer(k, d, global_mean=global_mean, tile_rows=3)
    mine = {0: slice(0, 0), 1: slice(0, 250), 2: slice(250, 600)}[rank]
    xs, ys = x[mine], y[mine]
    if rank == 1:  # two batches with an exchange between them
        s.update(xs[:100], ys[:100])
    s.exchange()  # collective: the idle rank takes part
    if rank == 1:
        s.update(xs[100:], ys[100:])
    elif rank == 2:
        s.update(xs, ys)
    s = _restored(s, k, d, global_mean)  # a checkpoint mid-stream, staged rows included
    sizes = {0: 0, 1: 3, 2: 1}[rank]  # second passes of different lengths
    batches = list(xs.split(max(1, -(-xs.shape[0] // sizes)))) if sizes else []
    out = s.compute(
        w[s.first : s.stop],
        bias[s.first : s.stop],
        ood_features=ood if rank == 2 else None,
        second_pass=lambda: iter(batches),
    )
    return {"metrics": out, "bytes": s.state_bytes(), "own": s.stop - s.first}


def _restored(s: ShardedAnalyzer, k: int, d: int, global_mean: str) -> ShardedAnalyzer:
    """``s`` saved (through bytes, as a checkpoint) and restored into a fresh instance."""
    buf = io.BytesIO()
    torch.save(s.state_dict(), buf)
    buf.seek(0)
    fresh = ShardedAnalyzer(k, d, global_mean=global_mean, tile_rows=3)  # type: ignore[arg-type]
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    return fresh


def _worker(rank: int, port: int, out: str) -> None:
    join_group(rank, port, WORLD)
    results: dict = {}
    for k, d in SHAPES:
        results[(k, d, "class")] = _sharded(rank, k, d, "class")
    results[(40, 6, "sample")] = _sharded(rank, 40, 6, "sample")
    # rank 1 passes a classifier of the wrong width: every rank raises, none hangs
    s = ShardedAnalyzer(40, 6)
    s.update(torch.randn(8, 6), torch.arange(8))
    weights = torch.randn(40, 5 if rank == 1 else 6)
    results["mismatch"] = error_of(lambda: s.compute(weights))
    torch.save(results, f"{out}.{rank}")
    dist.destroy_process_group()


def _one_process(k: int, d: int, global_mean: str) -> dict:
    x, y, w, bias, ood = _data(k, d)
    a = Analyzer(global_mean=global_mean)
    a.update(x, y)
    return a.exact_metrics(w, ood, bias=bias, ncc_batches=lambda: [(x, y, None)])


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> list[dict]:
    """What each of the three processes computed (spawned once for the module)."""
    out = str(tmp_path_factory.mktemp("sharded") / "rank")
    return rank_results(_worker, out, WORLD, "the sharded collectives")


def test_sharded_equals_one_process(ranks):
    got = ranks
    for k, d, global_mean in [(*SHAPES[0], "class"), (*SHAPES[1], "class"), (40, 6, "sample")]:
        want = _one_process(k, d, global_mean)
        for rank in range(WORLD):
            res = got[rank][(k, d, global_mean)]["metrics"]
            assert {"nc1", "cdnv", "self_duality", "ncc_agreement", "ood_orthogonality"} <= set(res)
            for key, value in res.items():
                assert value == pytest.approx(want[key], rel=1e-6, nan_ok=True), (k, key, rank)
            assert 0.0 < res["ncc_agreement"] < 1.0
    for rank in range(WORLD):
        assert "weights" in got[rank]["mismatch"], rank


def test_state_per_rank_is_its_share_of_the_classes(ranks):
    """Each rank keeps its own classes only: the class state of the three ranks adds up to
    one process's, and the pooled D x D scatter is the only replicated part."""
    k, d = SHAPES[0]
    whole = ShardedAnalyzer(k, d).state_bytes()  # one process: every class
    parts = [r[(k, d, "class")] for r in ranks]
    assert sum(p["own"] for p in parts) == k
    scatter = d * d * 8
    assert sum(p["bytes"] - scatter for p in parts) == whole - scatter
    assert max(p["bytes"] for p in parts) < whole


def test_one_process_holds_every_class():
    """Without torch.distributed the one shard is every class: the same values as Analyzer,
    NC4 included; labels outside 0..K-1 are refused at update."""
    x, y, w, bias, ood = _data(40, 6)
    s = ShardedAnalyzer(40, 6)
    assert s.owned == range(40)
    for xb, yb in zip(x.split(128), y.split(128), strict=True):
        s.update(xb, yb)
    got = s.compute(w, bias, ood, second_pass=lambda: [(x, y)])
    want = _one_process(40, 6, "class")
    for key, value in got.items():
        assert value == pytest.approx(want[key], rel=1e-6, nan_ok=True), key
    with pytest.raises(ValueError, match="labels"):
        s.update(x[:2], torch.tensor([0, 40]))


def test_state_round_trip_keeps_staged_rows_and_refuses_another_layout():
    x, y, w, bias, ood = _data(40, 6)
    s = ShardedAnalyzer(40, 6)
    s.update(x[:300], y[:300])
    s.exchange()
    s.update(x[300:], y[300:])  # staged, not yet exchanged
    state = s.state_dict()
    assert state["staged_rows"].shape == (300, 6)
    fresh = ShardedAnalyzer(40, 6)
    fresh.load_state_dict(state)
    got = fresh.compute(w, bias, ood, second_pass=lambda: [(x, y)])
    want = s.compute(w, bias, ood, second_pass=lambda: [(x, y)])
    assert got == want
    other = ShardedAnalyzer(41, 6)
    before = other.state_dict()
    with pytest.raises(ValueError, match=r"state\['num_classes'\]: expected 41"):
        other.load_state_dict(state)
    bad = dict(state, staged_labels=torch.full((300,), 99))
    with pytest.raises(ValueError, match=r"state\['staged_labels'\]"):
        fresh.load_state_dict(bad)
    assert torch.equal(other.state_dict()["stats"]["counts"], before["stats"]["counts"])
