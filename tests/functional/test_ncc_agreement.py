"""NC4 by shard: the best logit and nearest mean of each shard, combined in any order, give
the one-process predictions, ties included."""

import itertools

import torch

from collapsekit.functional.ncc_agreement import ncc_better, ncc_predictions, ncc_shard_best


def test_shards_combined_in_any_order_give_the_one_process_predictions():
    g = torch.Generator().manual_seed(0)
    k, d = 11, 5
    means = torch.randn(k, d, generator=g, dtype=torch.float64)
    w = torch.randn(k, d, generator=g, dtype=torch.float64)
    w[7] = w[2]  # tied logits on every row: the smaller index must win
    bias = torch.randn(k, generator=g, dtype=torch.float64)
    bias[7] = bias[2]
    rows = torch.randn(200, d, generator=g, dtype=torch.float64)
    center = means.mean(0)
    centred = means - center
    sq = centred.square().sum(1)
    clf, nearest = ncc_predictions(rows, centred, center, w, bias)
    bounds = [0, 4, 4, 9, 11]  # one shard holds no class
    parts = [
        ncc_shard_best(rows, centred[a:b], sq[a:b], center, w[a:b], bias[a:b], a, a)
        for a, b in itertools.pairwise(bounds)
    ]
    for order in ([0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]):
        best = parts[order[0]]
        for i in order[1:]:
            best = ncc_better(best, parts[i])
        assert torch.equal(best.logit_class, clf)
        assert torch.equal(best.mean_class, nearest)
    assert bool((clf != 7).all()) and bool((clf == 2).any())
