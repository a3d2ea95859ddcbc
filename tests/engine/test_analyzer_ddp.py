"""Analyzer.all_reduce over two gloo processes equals one process, with classes that arrive
in different orders (and some only) on each rank."""

import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from collapsekit import Analyzer
from spawned import join_group


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _data():
    rng = np.random.default_rng(0)
    names = np.array(["ant", "bee", "cow", "doe"])
    y = names[rng.integers(0, 4, 600)]
    x = rng.standard_normal((600, 6)).astype(np.float32) + (y == "bee")[:, None] * 3
    ref = x @ rng.standard_normal((6, 3)).astype(np.float32)
    return x, y, ref


def _worker(rank: int, port: int, out: str) -> None:
    join_group(rank, port, 2)
    x, y, ref = _data()
    # rank 0 sees the first 200 rows (no 'doe' rows in reverse order), rank 1 the rest
    if rank == 0:
        part = slice(0, 200)
        keep = y[part] != "doe"
        xs, ys, rs = (
            x[part][keep][::-1].copy(),
            y[part][keep][::-1].copy(),
            ref[part][keep][::-1].copy(),
        )
    else:
        part = slice(200, 600)
        xs, ys, rs = x[part], y[part], ref[part]
        xs = np.concatenate([xs, x[:200][y[:200] == "doe"]])
        rs = np.concatenate([rs, ref[:200][y[:200] == "doe"]])
        ys = np.concatenate([ys, y[:200][y[:200] == "doe"]])
    a = Analyzer(sample_rows=50)
    a.update(xs, ys, rs)
    a.all_reduce()
    report = a.compute(bootstrap=0)
    if rank == 0:
        torch.save(
            {
                "metrics": report.metrics,
                "counts": report.inputs["class_counts"],
                "sample": a.reservoir.size,
            },
            out,
        )
    dist.destroy_process_group()


def test_two_gloo_processes_equal_one(tmp_path):
    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    out = str(tmp_path / "rank0.pt")
    mp.spawn(_worker, args=(_free_port(), out), nprocs=2, join=True)
    got = torch.load(out, weights_only=False)
    x, y, ref = _data()
    one = Analyzer(sample_rows=50)
    one.update(x, y, ref)
    want = one.compute(bootstrap=0)
    assert got["counts"] == want.inputs["class_counts"]
    assert got["sample"] == 50
    for key, p in want.provenance.items():
        if p.startswith("exact over all 600 rows (one pass)"):
            assert got["metrics"][key] == pytest.approx(want.metrics[key], rel=1e-6), key
