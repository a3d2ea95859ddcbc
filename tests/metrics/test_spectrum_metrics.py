"""Spectrum metrics of rank-deficient float32 rows against a float64 SVD of the stored values,
through every route that sees the rows twice, and what a one-shot source says instead."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import collapsekit as ck
from collapsekit.integrations.collapse_monitor import CollapseMonitor

KEYS = ["effective_rank", "effective_rank_score", "rankme"]
N, D = 600, 256


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def low_rank(offset: float, n: int = N, d: int = D, rank: int = 5) -> torch.Tensor:
    """Float32 rows of rank ``rank`` plus an offset: the tail of their spectrum is the float32
    storage round-off of values near ``offset`` (below the moments' float64 floor)."""
    g = torch.Generator().manual_seed(3)
    a = torch.randn(n, rank, generator=g, dtype=torch.float64)
    return (a @ torch.randn(rank, d, generator=g, dtype=torch.float64) + offset).float()


def _entropy_rank(s: np.ndarray, eps: float = 0.0) -> float:
    p = s / s.sum() + eps
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def reference(x: torch.Tensor) -> dict[str, float]:
    """The float64 SVD of the stored values (no cut: every singular value counts)."""
    x64 = x.double().numpy()
    n, d = x64.shape
    er = _entropy_rank(np.linalg.svd(x64 - x64.mean(0), compute_uv=False))
    s_raw = np.linalg.svd(x64, compute_uv=False)[: min(n, d)]
    return {
        "effective_rank": er,
        "effective_rank_score": 1 - er / min(n - 1, d),
        "rankme": _entropy_rank(s_raw, 1e-7),
    }


def _batches(x: torch.Tensor, size: int = 150) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(b, torch.zeros(b.shape[0], dtype=torch.long)) for b in x.split(size)]


def _routes(x: torch.Tensor) -> dict[str, ck.Report]:
    kw = {"bootstrap": 0, "metrics": KEYS}
    batches = _batches(x)
    halves = [ck.Analyzer(sample_rows=64), ck.Analyzer(sample_rows=64, seed=1)]
    for i, (xb, yb) in enumerate(batches):
        halves[i % 2].update(xb, yb)
    again = lambda: ((xb, yb, None) for xb, yb in batches)  # noqa: E731
    merged = halves[0].merge(halves[1]).compute(second_pass=again, **kw)
    return {
        "in memory": ck.analyze(x, **kw),
        "streamed, second pass": ck.analyze(batches, sample_rows=64, **kw),
        "Analyzer, merge, second pass": merged,
    }


@pytest.mark.parametrize("offset", [10.0, 100.0, 1000.0])
def test_low_rank_float32_spectra_match_a_float64_svd_when_rows_are_seen_twice(offset):
    x = low_rank(offset)
    want = reference(x)
    for route, report in _routes(x).items():
        assert "tail below the moments' float64 floor" in report.provenance["effective_rank"]
        for key in KEYS:
            assert report.metrics[key] == pytest.approx(want[key], rel=1e-9), (route, key)


def test_fewer_rows_than_dimensions_resolve_the_tail_from_the_held_rows():
    # N < D with every row held: the N x N Gram route deflates in N-space; the streamed
    # route deflates the D x D moments in D-space; both match the SVD and each other
    x = low_rank(100.0, n=150, d=D)
    want = reference(x)
    held = ck.analyze(x, bootstrap=0, metrics=KEYS)
    streamed = ck.analyze(_batches(x, 40), sample_rows=32, bootstrap=0, metrics=KEYS)
    for key in KEYS:
        assert held.metrics[key] == pytest.approx(want[key], rel=1e-9), key
        assert streamed.metrics[key] == pytest.approx(held.metrics[key], rel=1e-9), key


def test_one_shot_source_cuts_the_tail_and_says_so():
    x = low_rank(100.0)
    want = reference(x)
    report = ck.analyze(iter(_batches(x)), sample_rows=64, bootstrap=0, metrics=KEYS)
    assert "the tail below is cut" in report.provenance["effective_rank"]
    assert report.provenance["effective_rank"].startswith(f"exact over all {N} rows")
    for key in KEYS:
        assert report.metrics[key] == pytest.approx(want[key], rel=1e-3), key
    # the cut is real: a source read twice gives a different (exact) value
    exact = ck.analyze(_batches(x), sample_rows=64, bootstrap=0, metrics=KEYS)
    assert exact.metrics["effective_rank"] != pytest.approx(report.metrics["effective_rank"], 1e-9)


def test_the_second_pass_runs_only_when_the_tail_needs_it():
    g = torch.Generator().manual_seed(0)
    passes = []

    def source(x):
        def fresh():
            passes.append(1)
            return iter(_batches(x))

        return fresh

    full_rank = torch.randn(N, 32, generator=g) + 1e4
    report = ck.analyze(source(full_rank), sample_rows=64, bootstrap=0, metrics=KEYS)
    assert len(passes) == 1 and report.provenance["effective_rank"].endswith("(one pass)")
    passes.clear()
    ck.analyze(source(low_rank(100.0)), sample_rows=64, bootstrap=0, metrics=KEYS)
    assert len(passes) == 2


def test_monitor_with_a_second_pass_agrees_with_analyze():
    x = low_rank(100.0)
    y = torch.arange(N) % 3
    w = torch.randn(3, D, generator=torch.Generator().manual_seed(1))
    mon = CollapseMonitor(3, D, history=None)
    for xb, yb in zip(x.split(200), y.split(200), strict=True):
        mon.update(xb, yb)
    row = mon.end_epoch(0, weights=w, ncc_features=[x])
    want = ck.analyze(x, y, bootstrap=0, metrics=KEYS).metrics
    for key in ("effective_rank", "rankme"):
        assert row[key] == pytest.approx(want[key], rel=1e-9), key


def test_layer_profile_resolves_the_tail_in_its_second_pass():
    from torch import nn

    x = low_rank(100.0)
    y = torch.arange(N) % 3
    loader = list(zip(x.split(200), y.split(200), strict=True))
    row = ck.analyze_layers(nn.Sequential(nn.Identity()), loader, layers=["0"]).layers["0"]
    assert row["effective_rank"] == pytest.approx(reference(x)["effective_rank"], rel=1e-9)
    once = ck.analyze_layers(nn.Sequential(nn.Identity()), iter(loader), layers=["0"])
    assert once.layers["0"]["effective_rank"] == pytest.approx(row["effective_rank"], rel=1e-3)


def test_alpha_req_is_left_out_when_its_fit_range_reaches_a_cut_tail():
    x = low_rank(100.0, rank=20)
    keys = [*KEYS, "alpha_req"]
    twice = ck.analyze(_batches(x), sample_rows=64, bootstrap=0, metrics=keys)
    lam = np.linalg.svd(x.double().numpy() - x.double().numpy().mean(0), compute_uv=False) ** 2
    ranks = np.arange(11, 101, dtype=np.float64)
    want = -np.polyfit(np.log(ranks), np.log(lam[10:100]), 1)[0]
    assert twice.metrics["alpha_req"] == pytest.approx(want, rel=1e-9)
    once = ck.analyze(iter(_batches(x)), sample_rows=64, bootstrap=0, metrics=keys)
    assert "alpha_req" not in once.metrics
    assert any("alpha_req left out" in note for note in once.inputs["notes"])
