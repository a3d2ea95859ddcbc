"""The deflated second pass resolves a float32 tail below the moments' float64 floor, for the
centred rows and (by algebra from the same sums) the uncentred rows."""

from __future__ import annotations

import pytest
import torch

from collapsekit.functional.spectrum import leading_basis
from collapsekit.stats.deflated_scatter import DeflatedScatter


@pytest.mark.parametrize("offset", [0.0, 100.0, 1e4])
def test_centred_and_uncentred_spectra_match_a_float64_svd(offset):
    g = torch.Generator().manual_seed(2)
    a = torch.randn(400, 3, generator=g, dtype=torch.float64)
    x = (a @ torch.randn(3, 96, generator=g, dtype=torch.float64) + offset).float()
    x64 = x.double()
    center = x64.mean(0)
    scatter = (x64 - center).T @ (x64 - center)
    acc = DeflatedScatter(center, leading_basis(scatter, 400))
    for batch in x.split(150):
        acc.update(batch)
    want = torch.linalg.svdvals(x64 - center)[:95]
    assert torch.allclose(acc.singular_values()[:95], want, rtol=1e-6, atol=0.0)
    raw = acc.uncentred_singular_values()
    if offset == 1e4:
        # the centre dwarfs the three leading directions' spread beyond float64 resolution
        # in one block: the caller keeps the moments' uncentred spectrum
        assert raw is None
    else:
        assert raw is not None
        assert torch.allclose(raw, torch.linalg.svdvals(x64), rtol=1e-6, atol=0.0)


def test_refuses_a_basis_of_the_wrong_width():
    with pytest.raises(ValueError, match=r"basis: expected a \(4, k\) matrix"):
        DeflatedScatter(torch.zeros(4), torch.eye(3))
    with pytest.raises(ValueError, match="features: no rows were added"):
        DeflatedScatter(torch.zeros(3), torch.eye(3)[:, :1]).singular_values()
