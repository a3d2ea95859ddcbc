"""NeuralCollapseMetric and the Lightning callback's end of epoch under torch.distributed: three
gloo processes, one idle (never updated, or fed a 0-row batch), give what one process gives over
all rows, on every rank."""

from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist

from spawned import join_group, rank_results

pytest.importorskip("torchmetrics")
pytest.importorskip("pytorch_lightning")

from collapsekit.integrations.lightning_callback import CollapseCallback
from collapsekit.integrations.torchmetrics_metric import NeuralCollapseMetric

WORLD, K, D = 3, 4, 5


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, K, (300,), generator=g)
    x = 3.0 * torch.randn(K, D, generator=g)[y] + torch.randn(300, D, generator=g) + 1e3
    return x, y


def _shard(rank: int, layout: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Rank 0 idle ('never': no update; '0-row': one empty batch), ranks 1 and 2 split the
    rows unevenly, rank 1 in reverse order."""
    x, y = _data()
    if rank == 0:
        return None if layout == "never" else (x[:0], y[:0])
    part = slice(0, 110) if rank == 1 else slice(110, 300)
    xs, ys = x[part], y[part]
    return (xs.flip(0), ys.flip(0)) if rank == 1 else (xs, ys)


class _Module:
    """What the callback's end of epoch reads from a LightningModule."""

    def __init__(self) -> None:
        self.logged: dict[str, float] = {}

    def log_dict(self, values: dict[str, float], sync_dist: bool = False) -> None:
        self.logged.update(values)


def _epoch_end(shard: tuple[torch.Tensor, torch.Tensor] | None) -> dict:
    cb = CollapseCallback("body", K, D, history=None)
    cb.metric = NeuralCollapseMetric(K, D)
    if shard is not None:
        cb.metric.update(*shard)
    trainer = SimpleNamespace(current_epoch=0, is_global_zero=dist.get_rank() == 0)
    cb.on_train_epoch_end(trainer, _Module())
    return cb.rows[-1]


def _worker(rank: int, port: int, out: str) -> None:
    join_group(rank, port, WORLD)
    results: dict = {}
    for layout in ("never", "0-row"):
        metric = NeuralCollapseMetric(K, D)
        shard = _shard(rank, layout)
        if shard is not None:
            metric.update(*shard)
        results[f"metric {layout}"] = metric.compute()
        results[f"callback {layout}"] = _epoch_end(shard)
    torch.save(results, f"{out}.{rank}")
    dist.destroy_process_group()


@pytest.mark.slow  # three spawned processes each import Lightning (~7 s of CPU apiece)
def test_metric_and_callback_with_an_idle_rank_equal_one_process(tmp_path):
    got = rank_results(_worker, str(tmp_path / "rank"), WORLD, "the DDP sync")
    x, y = _data()
    one = NeuralCollapseMetric(K, D)
    one.update(x, y)
    want_metric = one.compute()
    want_row = _epoch_end_one_process(x, y)
    assert want_metric["num_samples"] == 300.0 and len(want_row) > len(want_metric)
    for rank in range(WORLD):
        for layout in ("never", "0-row"):
            for name, want in ((f"metric {layout}", want_metric), (f"callback {layout}", want_row)):
                res = got[rank][name]
                assert set(res) == set(want), (rank, name)
                for key, value in want.items():
                    assert res[key] == pytest.approx(value, rel=1e-6, nan_ok=True), (rank, name)


def _epoch_end_one_process(x: torch.Tensor, y: torch.Tensor) -> dict:
    cb = CollapseCallback("body", K, D, history=None)
    cb.metric = NeuralCollapseMetric(K, D)
    cb.metric.update(x, y)
    cb.on_train_epoch_end(SimpleNamespace(current_epoch=0, is_global_zero=True), _Module())
    return cb.rows[-1]


def test_ssl_values_say_when_the_spectrum_tail_is_cut():
    from collapsekit.stats.class_stats import ClassStats

    g = torch.Generator().manual_seed(3)
    # rank 5 + an offset of 100 in float32: the tail is storage round-off, below the floor
    low = (torch.randn(400, 5, generator=g) @ torch.randn(5, 96, generator=g) + 100.0).float()
    full = torch.randn(400, 96, generator=g)
    callback = CollapseCallback("x", 2, 96)
    for rows, cut in ((low, True), (full, False)):
        stats = ClassStats(1, 96)
        stats.update(rows, torch.zeros(400, dtype=torch.long))
        values, notes = callback._ssl_values(stats)
        assert "effective_rank" in values
        assert bool(notes) == cut, notes
        if cut:
            assert "effective_rank" in notes[0] and "cut" in notes[0]
