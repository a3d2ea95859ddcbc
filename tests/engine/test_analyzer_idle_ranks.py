"""Analyzer.all_reduce over three gloo processes: idle ranks (never updated, or fed only a
0-row batch) and classes arriving in different orders give what one process gives over all
rows; ranks of different widths raise ValueError on every rank, without hanging."""

import numpy as np
import pytest
import torch
import torch.distributed as dist

from collapsekit import Analyzer
from spawned import error_of, join_group, rank_results

WORLD = 3


def _data():
    rng = np.random.default_rng(0)
    names = np.array(["ant", "bee", "cow", "doe", "elk"])
    y = names[rng.integers(0, 5, 500)]
    x = rng.standard_normal((500, 6)).astype(np.float32) + (y == "bee")[:, None] * 3
    ref = x @ rng.standard_normal((6, 3)).astype(np.float32)
    return x, y, ref


def _summary(a: Analyzer) -> dict:
    return {"n_rows": a.n_rows, "metrics": a.exact_metrics(), "names": sorted(a.encoder.names)}


def _shards(rank: int, layout: str):
    """Rows of this rank (None: never updated): ``layout`` 'never' has rank 0 idle, '0-row'
    feeds rank 0 one empty batch; ranks 1 and 2 split the rows, rank 1 in reverse order."""
    x, y, ref = _data()
    if rank == 0:
        return None if layout == "never" else (x[:0], y[:0], ref[:0])
    part = slice(0, 180) if rank == 1 else slice(180, 500)
    xs, ys, rs = x[part], y[part], ref[part]
    if rank == 1:
        xs, ys, rs = xs[::-1].copy(), ys[::-1].copy(), rs[::-1].copy()
    return xs, ys, rs


def _worker(rank: int, port: int, out: str) -> None:
    join_group(rank, port, WORLD)
    results: dict = {}
    for layout in ("never", "0-row"):
        a = Analyzer(sample_rows=40)
        shard = _shards(rank, layout)
        if shard is not None:
            a.update(*shard)
        a.all_reduce()
        results[layout] = _summary(a)
    # widths differ between ranks 0 and 1 (rank 2 idle): every rank must raise
    a = Analyzer()
    if rank < 2:
        a.update(torch.randn(10, 4 + rank), torch.arange(10) % 2)
    results["mismatch"] = error_of(a.all_reduce)
    torch.save(results, f"{out}.{rank}")
    dist.destroy_process_group()


def test_idle_ranks_and_width_mismatch(tmp_path):
    got = rank_results(_worker, str(tmp_path / "rank"), WORLD, "all_reduce")
    x, y, ref = _data()
    one = Analyzer(sample_rows=40)
    one.update(x, y, ref)
    want = _summary(one)
    for rank in range(WORLD):
        for layout in ("never", "0-row"):
            res = got[rank][layout]
            assert res["n_rows"] == 500 and res["names"] == want["names"], (rank, layout)
            for key, value in want["metrics"].items():
                assert res["metrics"][key] == pytest.approx(value, rel=1e-6, nan_ok=True), key
        assert "same width" in got[rank]["mismatch"], rank
