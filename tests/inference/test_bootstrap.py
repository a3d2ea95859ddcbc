import math

import torch

import collapsekit.inference.bootstrap as bootstrap
import collapsekit.metrics.neural_collapse as nc_metrics
from collapsekit.metrics import REGISTRY
from references import blobs

HOOKS = {s.key: s.bootstrap for s in REGISTRY if s.bootstrap is not None}


def test_class_moments_are_computed_once_per_chunk_of_resamples(monkeypatch):
    calls = []
    original = nc_metrics.nc1_cdnv_resampled

    def counting(*args, **kwargs):
        calls.append(args[-1].shape[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(nc_metrics, "nc1_cdnv_resampled", counting)
    X, y = blobs(40, 2, 6, seed=1, sep=1.0)
    out = bootstrap.bootstrap_intervals(torch.tensor(X), torch.tensor(y), None, 30, HOOKS)
    assert calls == [bootstrap.CHUNK, 30 - bootstrap.CHUNK]  # nc1, cdnv and centroids share it
    assert out["nc1"][0] <= out["nc1"][1] and out["cdnv"][0] <= out["cdnv"][1]


def test_intervals_are_seeded_and_cover_every_metric_with_a_hook():
    X, y = blobs(60, 3, 8, seed=2, sep=1.0)
    x, yt = torch.tensor(X), torch.tensor(y)
    ref = x @ torch.randn(8, 4, generator=torch.Generator().manual_seed(0), dtype=x.dtype)
    a = bootstrap.bootstrap_intervals(x, yt, ref, 20, HOOKS, seed=5)
    b = bootstrap.bootstrap_intervals(x, yt, ref, 20, HOOKS, seed=5)
    assert a == b
    assert (
        set(a)
        == set(HOOKS)
        == {
            "effective_rank",
            "std_of_l2_normalized",
            "centroid_similarity",
            "silhouette",
            "nc1",
            "cdnv",
            "linear_cka",
        }
    )


def test_progress_counts_resamples_up_to_the_total():
    X, y = blobs(30, 2, 4, seed=3, sep=1.0)
    seen = []
    bootstrap.bootstrap_intervals(
        torch.tensor(X), torch.tensor(y), None, 60, HOOKS, progress=lambda d, t: seen.append((d, t))
    )
    assert seen == [(25, 60), (50, 60), (60, 60)]


def test_resamples_keep_class_sizes_and_degenerate_ones_are_skipped():
    g = torch.Generator().manual_seed(0)
    y = torch.tensor([0] * 5 + [1] * 3)
    idx = bootstrap.resample_indices(8, y, g, 40)
    assert bool((y[idx] == y).all())
    # constant rows: the spread is 0 in every resample, CKA undefined (0/0): no interval
    x = torch.ones(8, 3)
    out = bootstrap.bootstrap_intervals(x, None, x.clone(), 10, {"linear_cka": HOOKS["linear_cka"]})
    assert out == {}
    v = bootstrap.resampled_values(x, None, x.clone(), 10, {"linear_cka": HOOKS["linear_cka"]})
    assert all(math.isnan(t) for t in v["linear_cka"].tolist())
