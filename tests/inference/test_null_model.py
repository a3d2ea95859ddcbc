"""The null model: row simulations, seeding, caching, per-class sizes and the isotropic spectrum."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from collapsekit.functional.neural_collapse import neural_collapse
from collapsekit.inference.null_model import (
    NC_NULL_KEYS,
    NULL_SD_SUFFIX,
    NULL_STEPS,
    isotropic_null,
    per_class_rank_null,
)


@pytest.mark.parametrize(("n", "d", "k"), [(300, 64, 10), (120, 256, 60)])
def test_null_nc_values_match_a_row_simulation(n, d, k):
    null, _ = isotropic_null(n, d, torch.full((k,), n // k), seed=0)
    sims = {key: [] for key in ("nc1", "etf_error", "cdnv")}
    for s in range(4):
        g = torch.Generator().manual_seed(100 + s)
        x = torch.randn(n, d, generator=g, dtype=torch.float64)
        nc = neural_collapse(x, torch.arange(n) % k)
        for key in sims:
            sims[key].append(nc[key])
    for key, values in sims.items():
        assert null[key] == pytest.approx(np.mean(values), rel=0.2), key


def test_null_is_seeded_and_checks_counts():
    a, sa = isotropic_null(200, 16, torch.tensor([100, 60, 40]), seed=1)
    b, sb = isotropic_null(200, 16, torch.tensor([100, 60, 40]), seed=1)
    assert a == b and sa == sb
    assert a["linear_probe_accuracy"] == 0.5
    assert per_class_rank_null(a, 60) > 0
    with pytest.raises(ValueError, match="class_counts"):
        isotropic_null(200, 16, torch.tensor([10, 10]), seed=1)


def test_null_is_cached_and_hands_out_copies():
    from collapsekit.inference import null_model

    null_model._CACHE.clear()
    counts = torch.tensor([50, 40, 30])
    a, sa = isotropic_null(120, 8, counts, seed=3)
    a["effective_rank"] = -1.0  # the caller's copy: the cache must not see this
    sa.append(99.0)
    b, sb = isotropic_null(120, 8, counts, seed=3)
    assert b["effective_rank"] > 0 and 99.0 not in sb
    assert len(null_model._CACHE) == 1
    c, _ = isotropic_null(120, 8, counts, seed=4)  # another key, another simulation
    assert c["silhouette"] != b["silhouette"]
    assert len(null_model._CACHE) == 2


def test_null_per_class_sizes_at_least_ten_percent_apart():
    from collapsekit.inference.null_model import _representative_sizes

    assert _representative_sizes(torch.tensor([970, 1000, 1010, 1030]), 8) == [1000]
    picked = _representative_sizes(torch.arange(2, 5000), 8)
    assert len(picked) == 8 and picked[0] == 2 and picked[-1] == 4999
    assert all(b / a >= 1.1 for a, b in itertools.pairwise(picked))
    assert _representative_sizes(torch.tensor([10, 12, 30]), 8) == [10, 12, 30]
    assert _representative_sizes(torch.tensor([1, 1]), 8) == []


@pytest.mark.parametrize(("n", "d"), [(2000, 768), (500, 128), (60, 1024), (14, 1536), (769, 768)])
def test_null_spectrum_is_the_typical_isotropic_spectrum(n, d):
    # the Marchenko-Pastur quantile spectrum: its effective rank within 0.15% of the mean of
    # simulated draws (n = 769, d = 768: ratio 1, the law's edge case)
    from collapsekit.functional.effective_rank import entropy_rank
    from collapsekit.functional.marchenko_pastur import isotropic_singular_values
    from collapsekit.functional.spectrum import singular_values

    s = isotropic_singular_values(n, d)
    assert s.shape == (d,) and bool((s[:-1] >= s[1:]).all())
    assert int((s > 0).sum()) == min(n - 1, d)
    assert float(s.square().sum()) == pytest.approx((n - 1) * d, rel=1e-3)  # E tr(Z^T Z)
    draws = [
        entropy_rank(
            singular_values(
                torch.randn(n, d, generator=torch.Generator().manual_seed(i), dtype=torch.float64)
            )
        )
        for i in range(3)
    ]
    assert entropy_rank(s) == pytest.approx(np.mean(draws), rel=1.5e-3)
    null, spectrum = isotropic_null(n, d, None, seed=0)
    assert null["effective_rank"] == entropy_rank(s)
    assert spectrum == pytest.approx((s / s.sum()).tolist())


def test_null_simulates_only_what_is_asked_and_keeps_the_values():
    counts = torch.tensor([40, 60, 100])
    full, spectrum = isotropic_null(200, 12, counts, seed=3)
    part, part_spectrum = isotropic_null(
        200, 12, counts, seed=3, simulate=frozenset({"silhouette"})
    )
    assert "silhouette" in part
    assert "std_of_l2_normalized" not in part and "centroid_similarity" not in part
    # every value kept is the same number (the generator advances as in the full null)
    assert part == {key: v for key, v in full.items() if key in part}
    nc_keys = {
        k for k in full if k in NC_NULL_KEYS or k.removesuffix(NULL_SD_SUFFIX) in NC_NULL_KEYS
    }
    assert (
        nc_keys
        and set(full) - set(part) == {"std_of_l2_normalized", "centroid_similarity"} | nc_keys
    )
    assert part_spectrum == spectrum
    # the NC null ("neural_collapse": 32 draws of class means) only when asked, same values
    nc, _ = isotropic_null(200, 12, counts, seed=3, simulate=frozenset({"neural_collapse"}))
    assert nc == {key: v for key, v in full.items() if key in nc}
    assert nc_keys <= set(nc) and "silhouette" not in nc


def test_progress_counts_the_steps_and_a_cached_null_reports_done():
    first: list[tuple[int, int]] = []
    again: list[tuple[int, int]] = []
    counts = torch.tensor([30, 30])
    isotropic_null(60, 5, counts, seed=123, progress=lambda d, t: first.append((d, t)))
    isotropic_null(60, 5, counts, seed=123, progress=lambda d, t: again.append((d, t)))
    assert first[0] == (0, NULL_STEPS) and first[-1] == (NULL_STEPS, NULL_STEPS)
    assert [d for d, _ in first] == sorted(d for d, _ in first)
    assert again == [(NULL_STEPS, NULL_STEPS)]
