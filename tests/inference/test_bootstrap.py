import torch

import collapsekit.inference.bootstrap as bootstrap
import collapsekit.metrics.neural_collapse as nc_metrics
from collapsekit.metrics import REGISTRY
from references import blobs

HOOKS = {s.key: s.bootstrap for s in REGISTRY if s.bootstrap is not None}


def test_neural_collapse_runs_once_per_resample(monkeypatch):
    calls = []
    original = nc_metrics.neural_collapse

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(nc_metrics, "neural_collapse", counting)
    X, y = blobs(40, 2, 6, seed=1, sep=1.0)
    out = bootstrap.bootstrap_intervals(torch.tensor(X), torch.tensor(y), None, 7, HOOKS)
    assert len(calls) == 7
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
