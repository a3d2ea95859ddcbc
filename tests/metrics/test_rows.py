"""Row-scored metrics (silhouette, leave-one-out stability): the rows x classes budget. Past it
the second pass is skipped or a seeded part of the sample is scored, and the provenance says
so; below it nothing changes."""

import pytest
import torch

from collapsekit import analyze
from collapsekit.functional.silhouette import silhouette
from collapsekit.metrics import rows


def _data(k: int = 300, per_class: int = 4, d: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.randperm(k * per_class, generator=g) % k
    x = torch.randn(k, d, generator=g)[y] + 0.5 * torch.randn(k * per_class, d, generator=g)
    return x, y


def test_within_the_budget_the_second_pass_is_exact():
    x, y = _data()
    report = analyze(x, y, bootstrap=0, sample_rows=500, probe=False, metrics=["silhouette"])
    assert report.provenance["silhouette"] == "exact over all 1200 rows (second pass)"
    assert report.metrics["silhouette"] == pytest.approx(silhouette(x, y), abs=1e-9)


def test_over_the_budget_the_sample_is_scored_and_the_provenance_says_so(monkeypatch):
    x, y = _data()
    exact = silhouette(x, y)
    monkeypatch.setattr(rows, "ROW_CLASS_BUDGET", 1200 * 300 - 1)  # the second pass: over
    report = analyze(x, y, bootstrap=0, sample_rows=500, probe=False, metrics=["silhouette"])
    prov = report.provenance["silhouette"]
    assert prov.startswith("sample of 500 rows of 1200") and "second pass skipped" in prov
    assert report.metrics["silhouette"] == pytest.approx(exact, abs=0.05)
    monkeypatch.setattr(rows, "ROW_CLASS_BUDGET", 200 * 300)  # 200 of the 500 sampled rows
    report = analyze(x, y, bootstrap=0, sample_rows=500, probe=False, metrics=["silhouette"])
    prov = report.provenance["silhouette"]
    assert prov.startswith("sample of 200 rows of 1200") and "capped at 60000" in prov
    assert report.metrics["silhouette"] == pytest.approx(exact, abs=0.1)


def test_leave_one_out_alone_keeps_the_second_pass_past_the_budget(monkeypatch):
    # its cost per row does not grow with K: the budget does not apply to it
    x, y = _data()
    monkeypatch.setattr(rows, "ROW_CLASS_BUDGET", 1000)
    report = analyze(
        x, y, bootstrap=0, sample_rows=500, probe=False, metrics=["loo_centroid_stability"]
    )
    assert report.provenance["loo_centroid_stability"].endswith("(second pass)")
