"""LiDAR with eps=0: a zero eigenvalue adds 0 log 0 = 0 to the entropy, not NaN."""

import torch

from collapsekit.functional import lidar
from collapsekit.functional.lidar import lidar_from_covariances


def test_eps_zero_with_a_zero_eigenvalue():
    eye = torch.eye(3, dtype=torch.float64)
    sigma_b = torch.diag(torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64))
    assert abs(lidar_from_covariances(sigma_b, eye, delta=0.0, eps=0.0) - 2.0) < 1e-12
    # sources spread along two axes only, views jittered in all three: rank-2 between scatter
    g = torch.Generator().manual_seed(0)
    centres = torch.zeros(50, 1, 3, dtype=torch.float64)
    centres[:, 0, :2] = torch.randn(50, 2, generator=g, dtype=torch.float64)
    views = centres + 0.1 * torch.randn(50, 4, 3, generator=g, dtype=torch.float64)
    value = lidar(views, eps=0.0)
    assert value == value and 1.0 <= value <= 3.0
