"""LiDARStats and RegressionStats all_reduce: two ranks summed equal one pass over all rows.

The two ranks run as threads in lockstep over an in-process SUM all-reduce (a barrier), which
exercises exactly the code of ``all_reduce`` (different shifts per rank, re-expression to the
global mean, packed sum) in milliseconds; spawning two gloo processes costs ~15 s here.
"""

import threading

import numpy as np
import pytest
import torch
import torch.distributed as dist

from collapsekit.stats import LiDARStats, RegressionStats


class _ThreadSum:
    """all_reduce(SUM) across ``world`` threads, in place."""

    def __init__(self, world):
        self.barrier = threading.Barrier(world)
        self.slots = {}
        self.lock = threading.Lock()

    def __call__(self, tensor, group=None):
        key = threading.get_ident()
        with self.lock:
            self.slots[key] = tensor.clone()
        self.barrier.wait()
        total = sum(self.slots.values())
        self.barrier.wait()
        tensor.copy_(total)
        with self.lock:
            self.slots.pop(key, None)
        self.barrier.wait()


def _data():
    rng = np.random.default_rng(0)
    views = rng.standard_normal((40, 1, 5)) + 0.2 * rng.standard_normal((40, 3, 5)) + 1e3
    y = rng.standard_normal((120, 2)) + 7.0
    h = y @ rng.standard_normal((2, 6)) + 0.1 * rng.standard_normal((120, 6)) - 50.0
    w = rng.standard_normal((2, 6))
    return views, h, y, w


def test_two_ranks_equal_one_pass(monkeypatch):
    monkeypatch.setattr(dist, "is_available", lambda: True)
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "all_reduce", _ThreadSum(2))
    views, h, y, w = _data()
    out, errors = {}, []

    def rank(r):
        try:
            lid = LiDARStats(5)
            lid.update(torch.tensor(views[r::2]))
            reg = RegressionStats(6, 2)
            reg.update(torch.tensor(h[r::2]), torch.tensor(y[r::2]))
            lid.all_reduce()
            reg.all_reduce()
            out[r] = (lid.compute(), reg.compute(torch.tensor(w)), lid.num_sources)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=rank, args=(r,)) for r in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    monkeypatch.undo()
    lid = LiDARStats(5)
    lid.update(torch.tensor(views))
    reg = RegressionStats(6, 2)
    reg.update(torch.tensor(h), torch.tensor(y))
    ref_lidar, ref_reg = lid.compute(), reg.compute(torch.tensor(w))
    for r in range(2):
        got_lidar, got_reg, sources = out[r]
        assert sources == 40
        assert got_lidar == pytest.approx(ref_lidar, rel=1e-9)
        for key, value in ref_reg.items():
            assert got_reg[key] == pytest.approx(value, rel=1e-8, abs=1e-12), key


def test_all_reduce_is_a_no_op_without_distributed():
    views, *_ = _data()
    lid = LiDARStats(5)
    lid.update(torch.tensor(views))
    before = lid.compute()
    assert lid.all_reduce().compute() == before
