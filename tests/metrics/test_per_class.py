"""Per-class effective rank from the streamed scatters, batched over classes: the same numbers
as each class's own covariance spectrum (rank-deficient, constant and offset classes too)."""

import importlib

import pytest
import torch

from collapsekit import analyze
from collapsekit.functional.effective_rank import entropy_rank
from collapsekit.functional.spectrum import singular_values_from_covariance
from collapsekit.metrics import per_class
from collapsekit.stats.class_scatter import PerClassScatter


def test_batched_ranks_equal_one_spectrum_per_class(monkeypatch):
    g = torch.Generator().manual_seed(3)
    y = torch.randint(0, 50, (2000,), generator=g)
    x = torch.randn(2000, 6, generator=g, dtype=torch.float64) * (1 + y[:, None] % 4)
    x[y == 7, 2:] = 0.0  # rank 2
    x[y == 9] = 3.0  # identical rows: rank 0
    x[y == 11] += 1e6  # a large offset
    pc = PerClassScatter(50, 6)
    pc.update(x, y)
    monkeypatch.setattr(per_class, "_CHUNK_BYTES", 8 * 36 * 7)  # chunks of 7 classes
    got = per_class._scatter_ranks(pc, torch.arange(50))
    want = [
        entropy_rank(singular_values_from_covariance(pc.class_covariance(c), int(pc.counts[c])))
        for c in range(50)
    ]
    assert got.tolist() == pytest.approx(want, rel=1e-10, abs=1e-12)
    assert float(got[9]) == 0.0 and float(got[7]) <= 2.0 + 1e-9


def test_many_small_classes_through_analyze(monkeypatch):
    # 5,000 classes of 2 rows, more rows than the sample: the ranks come from the scatters
    # (the verdict's pair screen, tested on its own, cut to 500 classes to keep this quick)
    screen = importlib.import_module("collapsekit.verdict.rules.merged_classes")
    monkeypatch.setattr(screen, "MAX_SCREEN_PAIRS", 500 * 499 // 2)
    g = torch.Generator().manual_seed(0)
    y = torch.randperm(10_000, generator=g) % 5_000
    x = torch.randn(5_000, 8, generator=g)[y] + 0.3 * torch.randn(10_000, 8, generator=g)
    report = analyze(
        x, y, bootstrap=0, probe=False, sample_rows=2_000, metrics=["per_class_effective_rank_min"]
    )
    ranks = report.per_class_effective_rank
    assert len(ranks) == 5_000
    assert report.provenance["per_class_effective_rank_min"] == (
        "exact over all 10000 rows (one pass)"
    )
    # two rows per class: one direction each
    assert min(ranks.values()) == pytest.approx(1.0) and max(ranks.values()) == pytest.approx(1.0)
