"""Each batched resample kernel against the metric's own kernel on the resample's rows."""

import pytest
import torch

from collapsekit.functional import resampled as R
from collapsekit.functional.centroid_similarity import centroid_similarity
from collapsekit.functional.effective_rank import effective_rank, entropy_rank
from collapsekit.functional.linear_cka import linear_cka
from collapsekit.functional.neural_collapse import neural_collapse
from collapsekit.functional.silhouette import silhouette
from collapsekit.functional.std_of_l2_normalized import std_of_l2_normalized
from collapsekit.inference.bootstrap import resample_indices

# (N, D, K, reference D): N < D and N^2 below the feature cost (Gram routes), and N > D
CASES = [(120, 150, 4, 40), (60, 8, 3, 4)]


@pytest.mark.parametrize(("n", "d", "k", "dr"), CASES)
def test_batched_values_equal_the_kernels_on_the_resampled_rows(n, d, k, dr):
    g = torch.Generator().manual_seed(n)
    y = torch.arange(n) % k
    x = (torch.randn(k, d, generator=g)[y] + torch.randn(n, d, generator=g)).double() + 3.0
    ref = x @ torch.randn(d, dr, generator=g).double() + torch.randn(n, dr, generator=g).double()
    idx = resample_indices(n, y, g, 4)
    w = R.multiplicities(idx, n)
    nc1, cdnv, means = R.nc1_cdnv_resampled(x, y, k, w)
    units = R.units_of(x)
    got = {
        "nc1": nc1,
        "cdnv": cdnv,
        "centroid_similarity": R.centroid_similarity_resampled(means),
        "silhouette": R.silhouette_resampled(units, y, k, w),
        "std": R.std_of_l2_normalized_resampled(units, w),
        "cka": R.linear_cka_resampled(x, ref, w),
        "effective_rank": [entropy_rank(s) for s in R.centred_spectrum_resampled(x, w)],
    }
    for b in range(4):
        xi, yi = x[idx[b]], y[idx[b]]
        nc = neural_collapse(xi, yi)
        want = {
            "nc1": nc["nc1"],
            "cdnv": nc["cdnv"],
            "centroid_similarity": centroid_similarity(xi, yi),
            "silhouette": silhouette(xi, yi),
            "std": std_of_l2_normalized(xi),
            "cka": linear_cka(xi, ref[idx[b]]),
            "effective_rank": effective_rank(xi),
        }
        for key, value in want.items():
            assert float(got[key][b]) == pytest.approx(value, rel=1e-9, abs=1e-12), (key, b)


def test_all_ones_weights_give_the_full_data_values():
    g = torch.Generator().manual_seed(1)
    y = torch.arange(50) % 2
    x = torch.randn(50, 6, generator=g).double() + y[:, None]
    w = torch.ones(1, 50, dtype=torch.float64)
    nc1, cdnv, _ = R.nc1_cdnv_resampled(x, y, 2, w)
    nc = neural_collapse(x, y)
    assert float(nc1[0]) == pytest.approx(nc["nc1"], rel=1e-12)
    assert float(cdnv[0]) == pytest.approx(nc["cdnv"], rel=1e-12)


def test_identical_class_means_give_inf_as_the_kernel_does():
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]]).double()
    y = torch.tensor([0, 0, 1, 1])
    nc1, cdnv, _ = R.nc1_cdnv_resampled(x, y, 2, torch.ones(1, 4, dtype=torch.float64))
    nc = neural_collapse(x, y)
    assert float(nc1[0]) == nc["nc1"] == float("inf")
    assert float(cdnv[0]) == nc["cdnv"] == float("inf")


def test_linearised_effective_rank_follows_the_exact_resamples_at_large_n():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2000, 12, generator=g, dtype=torch.float64) * torch.arange(1, 13) ** -0.5
    w = R.multiplicities(resample_indices(2000, None, g, 40), 2000)
    exact = torch.tensor([entropy_rank(s) for s in R.centred_spectrum_resampled(x, w)])
    lin = R.effective_rank_linearised(x, w)
    assert float(torch.corrcoef(torch.stack([exact, lin]))[0, 1]) > 0.95
    assert float(lin.std()) == pytest.approx(float(exact.std()), rel=0.2)
    ones = R.effective_rank_linearised(x, torch.ones(1, 2000, dtype=torch.float64))
    assert float(ones[0]) == pytest.approx(effective_rank(x), rel=1e-12)
