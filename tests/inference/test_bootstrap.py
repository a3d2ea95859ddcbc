import torch

import collapsekit.inference.bootstrap as bootstrap
from references import blobs


def test_neural_collapse_runs_once_per_resample(monkeypatch):
    calls = []
    original = bootstrap.neural_collapse

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(bootstrap, "neural_collapse", counting)
    X, y = blobs(40, 2, 6, seed=1, sep=1.0)
    out = bootstrap.bootstrap_intervals(torch.tensor(X), torch.tensor(y), None, resamples=7)
    assert len(calls) == 7
    assert out["nc1"][0] <= out["nc1"][1] and out["cdnv"][0] <= out["cdnv"][1]


def test_intervals_are_seeded_and_cover_every_metric():
    X, y = blobs(60, 3, 8, seed=2, sep=1.0)
    x, yt = torch.tensor(X), torch.tensor(y)
    ref = x @ torch.randn(8, 4, generator=torch.Generator().manual_seed(0), dtype=x.dtype)
    a = bootstrap.bootstrap_intervals(x, yt, ref, resamples=20, seed=5)
    b = bootstrap.bootstrap_intervals(x, yt, ref, resamples=20, seed=5)
    assert a == b
    assert set(a) == {
        "effective_rank",
        "std_of_l2_normalized",
        "centroid_similarity",
        "silhouette",
        "nc1",
        "cdnv",
        "linear_cka",
    }
