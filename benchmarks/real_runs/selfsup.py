"""Self-supervised runs: SimSiam without stop-gradient (with and without BatchNorm in the
head), a linear InfoNCE model (Jing et al., ICLR 2022) and a small SimCLR on MNIST-1D.

Features are stored for 1,000 held-out MNIST-1D rows (100 per class, labels beside them) or,
for the linear model, 2,000 fresh rows of its synthetic distribution.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from common import Clock, augment, mnist1d, save, setup, take_per_class
from supervised import features, mlp
from torch import nn
from torch.nn import functional as F


def _views(x: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    return augment(x, gen=gen), augment(x, gen=gen)


def _held_out() -> tuple[np.ndarray, np.ndarray]:
    data = mnist1d()
    idx = take_per_class(data["y_test"], [100] * 10, 0)
    return data["x_test"][idx], data["y_test"][idx]


def _head(dims: list[int], bn: bool) -> nn.Sequential:
    """Linear layers with ReLU between (BatchNorm after every linear layer when ``bn``)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(dims)):
        layers.append(nn.Linear(a, b))
        if bn:
            layers.append(nn.BatchNorm1d(b))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _fit(loss_fn, params, x: np.ndarray, epochs: int, lr: float, batch: int = 256) -> None:
    """Adam over augmented pairs of ``x``; ``loss_fn(view1, view2)``."""
    opt = torch.optim.Adam(params, lr=lr)
    xt = torch.from_numpy(x)
    gen = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(batch):
            if len(idx) < batch // 2:
                continue
            loss = loss_fn(*_views(xt[idx], gen))
            opt.zero_grad()
            loss.backward()
            opt.step()
    print(f"final loss {float(loss.detach()):.4f}")


def simsiam_no_stopgrad(epochs: int = 30) -> None:
    """SimSiam with the stop-gradient removed (Chen & He 2021, section 4.1), head with and
    without BatchNorm; stores the encoder output and the projector output."""
    for bn in (True, False):
        _simsiam(bn, epochs)


def _simsiam(bn: bool, epochs: int) -> None:
    setup(0)
    x_train = mnist1d()["x"][:4000]
    x, y = _held_out()
    enc, proj = mlp(), _head([128, 128, 128], bn)
    pred = _head([128, 64, 128], bn)

    def loss(v1: torch.Tensor, v2: torch.Tensor) -> torch.Tensor:
        z1, z2 = proj(enc(v1)), proj(enc(v2))
        p1, p2 = pred(z1), pred(z2)  # no .detach() on z: the collapsing variant
        return -(F.cosine_similarity(p1, z2).mean() + F.cosine_similarity(p2, z1).mean()) / 2

    name = f"simsiam_nostopgrad_{'bn' if bn else 'nobn'}"
    clock = Clock(name)
    _fit(loss, [*enc.parameters(), *proj.parameters(), *pred.parameters()], x_train, epochs, 1e-3)
    clock.done()
    h = features(enc, x)
    with torch.no_grad():
        proj.eval()
        z = proj(torch.from_numpy(h)).numpy()
    save(name, features=h, labels=y, projection=z)


def info_nce(z1: torch.Tensor, z2: torch.Tensor, tau: float = 0.5) -> torch.Tensor:
    """NT-Xent / InfoNCE on cosine similarities, both directions, 2B-2 negatives per row."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / tau
    n = z1.shape[0]
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(sim, target)


def linear_infonce(dim: int = 32, steps: int = 3000, noise: float = 0.3) -> None:
    """z = W x, W: dim x dim, trained with InfoNCE on x + noise views (Jing et al. 2022, sec. 4).

    x ~ N(0, R diag(s) R^T), s geometric from 1 down to 1e-3, R a random rotation; the
    augmentation adds isotropic Gaussian noise of std ``noise`` (variance 0.09: weak next to
    the top directions, stronger than the bottom ones). Stores z of 2,000 fresh clean rows.
    """
    setup(0)
    gen = torch.Generator().manual_seed(0)
    rot, _ = torch.linalg.qr(torch.randn(dim, dim, generator=gen))
    scale = torch.logspace(0, -1.5, dim)  # std: variance from 1 to 1e-3
    W = nn.Linear(dim, dim, bias=False)
    opt = torch.optim.Adam(W.parameters(), lr=1e-2)
    clock = Clock("linear_infonce")
    for _ in range(steps):
        x = (torch.randn(256, dim, generator=gen) * scale) @ rot.T
        v1 = x + noise * torch.randn(x.shape, generator=gen)
        v2 = x + noise * torch.randn(x.shape, generator=gen)
        loss = info_nce(W(v1), W(v2))
        opt.zero_grad()
        loss.backward()
        opt.step()
    clock.done()
    print(f"final loss {float(loss.detach()):.4f}")
    with torch.no_grad():
        x = (torch.randn(2000, dim, generator=gen) * scale) @ rot.T
        z = W(x).numpy()
    save("linear_infonce", features=z, weights_W=W.weight.detach().numpy())


def simclr(epochs: int = 60) -> None:
    """SimCLR on MNIST-1D: MLP backbone (128, after ReLU), projector 128 -> 128 -> 64, NT-Xent
    at temperature 0.5, Adam; stores the backbone features of the held-out rows."""
    setup(0)
    x_train = mnist1d()["x"][:4000]
    x, y = _held_out()
    enc, proj = mlp(), _head([128, 128, 64], bn=False)
    clock = Clock("simclr")
    _fit(
        lambda v1, v2: info_nce(proj(enc(v1)), proj(enc(v2))),
        [*enc.parameters(), *proj.parameters()],
        x_train,
        epochs,
        1e-3,
    )
    clock.done()
    save("simclr_backbone", features=features(enc, x), labels=y)
