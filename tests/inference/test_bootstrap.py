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


def _draw(g, n=60, d=6):
    y = torch.arange(n) % 2
    means = torch.tensor([[1.0] * d, [-1.0] * d], dtype=torch.float64) * 0.4
    x = means[y] + torch.randn(n, d, generator=g, dtype=torch.float64)
    ref = x[:, :3] + 0.7 * torch.randn(n, 3, generator=g, dtype=torch.float64)
    return x, y, ref


def test_intervals_cover_the_expected_value_at_the_nominal_rate():
    # seeded Gaussian draws with a known answer: the mean of each metric over many draws of
    # the same size (what the re-centred interval describes); nominal 90%
    from collapsekit.functional.linear_cka import linear_cka
    from collapsekit.functional.neural_collapse import neural_collapse
    from collapsekit.functional.silhouette import silhouette

    def values(x, y, ref):
        return {"nc1": neural_collapse(x, y)["nc1"], "silhouette": silhouette(x, y),
                "linear_cka": linear_cka(x, ref)}  # fmt: skip

    g = torch.Generator().manual_seed(0)
    many = [values(*_draw(g)) for _ in range(300)]
    truth = {k: sum(m[k] for m in many) / len(many) for k in many[0]}
    hooks = {k: HOOKS[k] for k in truth}
    hits = dict.fromkeys(truth, 0)
    draws = 40
    for i in range(draws):
        x, y, ref = _draw(g)
        est = values(x, y, ref)
        out = bootstrap.bootstrap_intervals(x, y, ref, 100, hooks, seed=i, level=0.9, estimates=est)
        for key, (lo, hi) in out.items():
            hits[key] += int(lo <= truth[key] <= hi)
    for key, hit in hits.items():
        assert 0.75 <= hit / draws <= 1.0, (key, hit)
