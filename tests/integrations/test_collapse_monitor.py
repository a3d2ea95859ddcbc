"""CollapseMonitor and the Lightning callback track RankMe, alpha-ReQ and LiDAR, and warn."""

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from collapsekit import functional as F
from collapsekit.integrations.collapse_monitor import CollapseMonitor, CollapseWarning
from collapsekit.report.history import read_history


def ssl_epoch(seed=0, n=64, q=4, d=12, rank=None):
    rng = np.random.default_rng(seed)
    src = rng.standard_normal((n, 1, d)) * np.arange(1, d + 1) ** -0.7
    views = src + 0.05 * rng.standard_normal((n, q, d))
    if rank is not None:  # dimensional collapse: everything in `rank` directions
        views[..., rank:] = 0.0
    return torch.tensor(views)


def test_monitor_label_free_rankme_alpha_lidar_equal_functional(tmp_path):
    views = ssl_epoch()
    mon = CollapseMonitor(1, 12, history=tmp_path / "h.jsonl", alpha_fit_range=(2, 12))
    for chunk in views.split(16):
        mon.update(chunk.flatten(0, 1))  # no labels
        mon.update_views(chunk)
    row = mon.end_epoch(0)
    flat = views.flatten(0, 1)
    assert row["rankme"] == pytest.approx(F.rankme(flat), rel=1e-6)
    assert row["effective_rank"] == pytest.approx(F.effective_rank(flat), rel=1e-6)
    assert row["alpha_req"] == pytest.approx(F.alpha_req(flat, fit_range=(2, 12)), rel=1e-6)
    assert row["lidar"] == pytest.approx(F.lidar(views), rel=1e-6)
    assert "nc1" not in row
    assert read_history(tmp_path / "h.jsonl")[0]["lidar"] == pytest.approx(row["lidar"])
    assert mon.views.num_sources == 0  # reset for the next epoch


def test_monitor_warns_on_ssl_collapse():
    mon = CollapseMonitor(
        1,
        12,
        history=None,
        warn_below={"lidar": 4.0, "rankme": 4.0},
        warn_above={"alpha_req": 5.0},
        alpha_fit_range=(1, 12),
    )
    healthy = ssl_epoch(1)
    mon.update(healthy.flatten(0, 1))
    mon.update_views(healthy)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollapseWarning)
        row = mon.end_epoch(0)  # no warning
    assert "warnings" not in row
    collapsed = ssl_epoch(2, rank=2)
    mon.update(collapsed.flatten(0, 1))
    mon.update_views(collapsed)
    with pytest.warns(CollapseWarning, match="lidar"):
        row = mon.end_epoch(1)
    assert any("lidar" in w and "fell below" in w for w in row["warnings"])
    assert any("rankme" in w for w in row["warnings"])
    assert row["lidar"] < 2.5


def test_lightning_callback_tracks_ssl_monitors(tmp_path):
    pl = pytest.importorskip("pytorch_lightning")
    from collapsekit.integrations.lightning_callback import CollapseCallback

    q = 3

    class TinySSL(pl.LightningModule):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.encoder = nn.Sequential(nn.Linear(6, 8), nn.Tanh())
            self.proj = nn.Linear(8, 8)

        def training_step(self, batch, _):
            x = batch[0]
            g = torch.Generator().manual_seed(int(x.abs().sum() * 1000) % 2**31)
            noisy = x[:, None, :] + 0.1 * torch.randn(x.shape[0], q, 6, generator=g)
            emb = self.encoder(noisy.flatten(0, 1))
            z = self.proj(emb)
            return {"loss": z.square().mean(), "views": emb.view(x.shape[0], q, 8)}

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.0)

    rng = np.random.default_rng(0)
    x = torch.tensor(rng.standard_normal((96, 6)), dtype=torch.float32)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=32)
    cb = CollapseCallback(
        "proj",
        num_classes=1,
        dim=8,
        history=tmp_path / "h.jsonl",
        label_fn=lambda b: None,
        views_from="views",
        alpha_fit_range=(1, 8),
        warn_below={"lidar": 100.0},
    )
    trainer = pl.Trainer(
        max_epochs=2,
        callbacks=[cb],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        accelerator="cpu",
    )
    with pytest.warns(CollapseWarning, match="lidar"):
        trainer.fit(TinySSL(), loader)
    rows = read_history(tmp_path / "h.jsonl")
    assert [r["epoch"] for r in rows] == [0, 1]
    # recompute the epoch's views and features with the (frozen) module
    module = trainer.lightning_module
    all_views, feats = [], []
    with torch.no_grad():
        for (xb,) in loader:
            out = module.training_step((xb,), 0)
            all_views.append(out["views"])
            feats.append(out["views"].flatten(0, 1))
    views, flat = torch.cat(all_views), torch.cat(feats)
    for r in rows:
        assert r["lidar"] == pytest.approx(F.lidar(views), rel=1e-5)
        assert r["rankme"] == pytest.approx(F.rankme(flat), rel=1e-5)
        assert r["alpha_req"] == pytest.approx(F.alpha_req(flat, fit_range=(1, 8)), rel=1e-5)
        assert "nc1" not in r and r["warnings"]
    assert "collapse/lidar" in trainer.callback_metrics
