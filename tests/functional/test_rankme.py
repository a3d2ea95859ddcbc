"""RankMe with eps=0: a zero singular value adds 0 log 0 = 0 to the entropy, not NaN."""

import torch

from collapsekit.functional import rankme
from collapsekit.functional.rankme import rankme_from_singular_values


def test_eps_zero_with_a_zero_singular_value():
    s = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)
    assert abs(rankme_from_singular_values(s, eps=0.0) - 2.0) < 1e-12
    x = torch.diag(torch.tensor([3.0, 3.0, 3.0, 0.0], dtype=torch.float64))
    assert abs(rankme(x, eps=0.0) - 3.0) < 1e-12
