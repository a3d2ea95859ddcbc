import warnings

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from collapsekit import ClassStats, functional
from collapsekit.integrations.collapse_monitor import CollapseMonitor, CollapseWarning
from collapsekit.io.feature_capture import FeatureCapture
from collapsekit.report.history import read_history
from references import blobs
from spawned import join_group


def test_feature_capture_input_output_and_bad_layer():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))
    seen = []
    with FeatureCapture(net, "1", capture="output", sink=seen.append) as cap:
        net(torch.randn(4, 1, 4, 4))
        assert cap.last.shape == (4, 8)  # conv maps flattened to N x D
    assert len(seen) == 1
    with FeatureCapture(net, "3") as cap:
        x = torch.randn(2, 1, 4, 4, requires_grad=True)
        net(x).sum().backward()
        assert not cap.last.requires_grad
    net(torch.randn(1, 1, 4, 4))  # hook removed: nothing breaks
    with pytest.raises(ValueError, match="layer: expected the name of a submodule"):
        FeatureCapture(net, "nope")
    with pytest.raises(ValueError, match="capture"):
        FeatureCapture(net, "3", capture="grad")


def test_monitor_streamed_metrics_equal_in_memory(tmp_path):
    X, y = blobs(500, 4, 10, seed=1, offset=3.0)
    W = np.random.default_rng(0).standard_normal((4, 10))
    mon = CollapseMonitor(4, 10, history=tmp_path / "h.jsonl")
    for xb, yb in zip(np.array_split(X, 7), np.array_split(y, 7), strict=True):
        mon.update(torch.tensor(xb), torch.tensor(yb))
    row = mon.end_epoch(0, weights=W, ncc_features=np.array_split(X, 3), extra={"loss": 0.5})
    nc = functional.neural_collapse(X, y, weights=W)
    for key, value in nc.items():
        assert row[key] == pytest.approx(value, rel=1e-7, nan_ok=True), key
    assert row["effective_rank"] == pytest.approx(functional.effective_rank(X), rel=1e-7)
    assert row["rankme"] == pytest.approx(functional.rankme(X), rel=1e-6)
    assert row["std_of_l2_normalized"] == pytest.approx(
        functional.std_of_l2_normalized(X), rel=1e-7
    )
    assert read_history(tmp_path / "h.jsonl")[0]["loss"] == 0.5
    assert mon.analyzer.n_rows == 0  # reset for the next epoch


def test_monitor_warns_on_collapse():
    mon = CollapseMonitor(2, 8, history=None, warn_below={"effective_rank": 2.0})
    x = torch.outer(torch.randn(40), torch.ones(8))  # rank one
    mon.update(x, torch.arange(40) % 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        row = mon.end_epoch(3)
    assert any(issubclass(w.category, CollapseWarning) for w in caught)
    assert "effective_rank" in row["warnings"][0]


def test_torchmetrics_metric_equals_class_stats():
    from collapsekit.integrations.torchmetrics_metric import NeuralCollapseMetric

    X, y = blobs(600, 5, 8, seed=2, offset=1e3)
    m = NeuralCollapseMetric(5, 8)
    for xb, yb in zip(np.array_split(X, 4), np.array_split(y, 4), strict=True):
        m.update(torch.tensor(xb, dtype=torch.float32), torch.tensor(yb))
    stats = ClassStats(5, 8)
    stats.update(torch.tensor(X, dtype=torch.float32), torch.tensor(y))
    got, ref = m.compute(), stats.neural_collapse()
    for key in ref:
        assert got[key] == pytest.approx(ref[key], rel=1e-6), key


def _tm_worker(rank, world, port, X, y, out):
    from collapsekit.integrations.torchmetrics_metric import NeuralCollapseMetric

    join_group(rank, port, world, threads=None)
    torch.set_num_threads(1)
    try:
        m = NeuralCollapseMetric(5, X.shape[1])
        idx = np.arange(rank, len(y), world)
        for xb, yb in zip(np.array_split(X[idx], 3), np.array_split(y[idx], 3), strict=True):
            m.update(torch.tensor(xb, dtype=torch.float32), torch.tensor(yb))
        out[rank] = m.compute()  # torchmetrics sums the states over both processes
    finally:
        dist.destroy_process_group()


def test_torchmetrics_two_gloo_processes_equal_one_process():
    import socket

    from collapsekit.integrations.torchmetrics_metric import NeuralCollapseMetric

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    X, y = blobs(700, 5, 6, seed=3)
    out = mp.Manager().dict()
    mp.spawn(_tm_worker, args=(2, port, X, y, out), nprocs=2, join=True)
    single = NeuralCollapseMetric(5, 6)
    single.update(torch.tensor(X, dtype=torch.float32), torch.tensor(y))
    ref = single.compute()
    for rank in range(2):
        for key, value in ref.items():
            assert out[rank][key] == pytest.approx(value, rel=1e-7), (rank, key)


def test_lightning_callback_logs_and_writes_history(tmp_path):
    rows, trainer = _fit(tmp_path, 1, "h", classifier="head")
    assert [r["epoch"] for r in rows] == [0, 1]
    assert "collapse/nc1" in trainer.callback_metrics
    assert all(r["nc1"] > 0 and "self_duality" in r for r in rows)


def test_short_demo_writes_every_file(tmp_path):
    from collapsekit.demo import run_demo

    summary = run_demo(tmp_path, epochs=4, seed=0, console=None)
    assert summary["ncc_agreement_first"] <= 1.0 and summary["nc1_ratio"] > 0
    for name in ("history.jsonl", "report.html", "report.json", "tracking.html"):
        assert (tmp_path / name).stat().st_size > 0
    rows = read_history(tmp_path / "history.jsonl")
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3]


@pytest.mark.slow
def test_demo_reaches_terminal_phase(tmp_path):
    from collapsekit.demo import run_demo

    summary = run_demo(tmp_path, epochs=300, seed=0, console=None)
    assert summary["nc1_ratio"] >= 5.0
    assert summary["ncc_agreement_last"] >= 0.99 > summary["ncc_agreement_first"] - 1e-9
    assert summary["verdict"] == "neural collapse"
    for name in ("history.jsonl", "report.html", "report.json", "tracking.html"):
        assert (tmp_path / name).stat().st_size > 0
    assert len(read_history(tmp_path / "history.jsonl")) == 300


def _fit(tmp_path, devices, name, classifier=None):
    pl = pytest.importorskip("pytorch_lightning")
    from lightning_ddp_helpers import TinyNet, dataset

    from collapsekit.integrations.lightning_callback import CollapseCallback

    cb = CollapseCallback(
        "head", num_classes=3, dim=16, classifier=classifier, history=tmp_path / f"{name}.jsonl"
    )
    kwargs = {"strategy": "ddp_spawn"} if devices > 1 else {}
    trainer = pl.Trainer(
        max_epochs=2,
        callbacks=[cb],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        accelerator="cpu",
        devices=devices,
        **kwargs,
    )
    loader = torch.utils.data.DataLoader(dataset(), batch_size=64 // devices, shuffle=False)
    trainer.fit(TinyNet(), loader)
    return read_history(tmp_path / f"{name}.jsonl"), trainer


def test_lightning_callback_two_gloo_processes_equal_one_process(tmp_path):
    single, _ = _fit(tmp_path, 1, "single")
    double, _ = _fit(tmp_path, 2, "ddp")  # gloo on CPU, torchmetrics sums the states
    assert len(single) == len(double) == 2
    for a, b in zip(single, double, strict=True):
        assert b["epoch"] == a["epoch"]
        for key in ("nc1", "cdnv", "etf_error", "equinorm"):
            assert b[key] == pytest.approx(a[key], rel=1e-5), key
