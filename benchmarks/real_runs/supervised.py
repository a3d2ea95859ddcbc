"""Supervised runs on MNIST-1D: the imbalanced MLP (minority collapse, Fang et al. 2021), its
balanced control, and a CNN through the terminal phase (early, final, held-out).

Features are the last hidden layer (after its ReLU), the input of the linear classifier whose
weights and bias are stored beside them.
"""

from __future__ import annotations

import numpy as np
import torch
from common import Clock, mnist1d, save, setup, take_per_class
from torch import nn


def mlp(width: int = 256, dim: int = 128, bn: bool = False) -> nn.Sequential:
    """40 -> width -> width -> dim MLP with ReLUs (the feature extractor); with ``bn``, a
    BatchNorm before every ReLU."""
    layers: list[nn.Module] = []
    for a, b in ((40, width), (width, width), (width, dim)):
        layers += [nn.Linear(a, b), *([nn.BatchNorm1d(b)] if bn else []), nn.ReLU()]
    return nn.Sequential(*layers)


def cnn(dim: int = 128) -> nn.Sequential:
    """A small 1-D CNN for MNIST-1D (three convolutions, one dense layer of ``dim``; BatchNorm
    before every ReLU)."""
    return nn.Sequential(
        nn.Unflatten(1, (1, 40)),
        nn.Conv1d(1, 32, 5, padding=2),
        nn.BatchNorm1d(32),
        nn.ReLU(),
        nn.Conv1d(32, 64, 3, stride=2, padding=1),
        nn.BatchNorm1d(64),
        nn.ReLU(),
        nn.Conv1d(64, 64, 3, stride=2, padding=1),
        nn.BatchNorm1d(64),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * 10, dim),
        nn.BatchNorm1d(dim),
        nn.ReLU(),
    )


def train(
    body: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    *,
    lr: float = 0.05,
    weight_decay: float = 5e-3,
    batch: int = 128,
    seed: int = 0,
    dim: int = 128,
    on_epoch=None,
) -> nn.Linear:
    """SGD (momentum 0.9, cosine learning rate, weight decay on every parameter) with
    cross-entropy; returns the classifier. ``on_epoch(epoch, head)`` after each epoch."""
    head = nn.Linear(dim, 10)
    params = [*body.parameters(), *head.parameters()]
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(1, epochs + 1):
        body.train()
        for idx in torch.randperm(len(yt), generator=gen).split(batch):
            loss = nn.functional.cross_entropy(head(body(xt[idx])), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        if on_epoch is not None:
            on_epoch(epoch, head)
    return head


@torch.no_grad()
def features(body: nn.Module, x: np.ndarray) -> np.ndarray:
    """The body's output on ``x`` (eval mode), float32."""
    body.eval()
    return body(torch.from_numpy(x)).numpy()


def _accuracy(body: nn.Module, head: nn.Linear, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        return float((head(torch.from_numpy(features(body, x))).argmax(1).numpy() == y).mean())


def run_mlp(name: str, sizes: list[int], seed: int, epochs: int, bn: bool = True) -> None:
    """Train the MLP (BatchNorm when ``bn``) on ``sizes[c]`` rows of class c; store train
    features, labels, W, b."""
    setup(seed)
    data = mnist1d()
    idx = take_per_class(data["y"], sizes, seed)
    x, y = data["x"][idx], data["y"][idx]
    clock = Clock(name)
    body = mlp(bn=bn)
    head = train(body, x, y, epochs, seed=seed)
    clock.done()
    print(f"{name}: train accuracy {_accuracy(body, head, x, y):.4f}")
    save(
        name,
        features=features(body, x),
        labels=y,
        weights=head.weight.detach().numpy(),
        bias=head.bias.detach().numpy(),
    )


def minority(epochs: int = 300) -> None:
    """5 major classes x 400 rows, 5 minor x 1 row (ratio 400), weight decay 5e-3, two seeds;
    and the balanced control (10 x 200 rows)."""
    for seed in (0, 1):
        run_mlp(f"minority_r400_s{seed}", [400] * 5 + [1] * 5, seed, epochs)
    run_mlp("balanced_control", [200] * 10, 0, epochs)


def terminal_cnn(epochs: int = 150, early: int = 3) -> None:
    """CNN on 200 rows per class, weight decay 5e-3: train features at epoch ``early`` and at
    the end, held-out features (1,000 test rows) at the end, with the classifier of each."""
    setup(0)
    data = mnist1d()
    idx = take_per_class(data["y"], [200] * 10, 0)
    x, y = data["x"][idx], data["y"][idx]
    tidx = take_per_class(data["y_test"], [100] * 10, 0)
    xt, yt = data["x_test"][tidx], data["y_test"][tidx]
    body = cnn()

    def snapshot(epoch: int, head: nn.Linear) -> None:
        if epoch == early:
            save(
                "cnn_early",
                features=features(body, x),
                labels=y,
                weights=head.weight.detach().numpy(),
                bias=head.bias.detach().numpy(),
            )

    clock = Clock("cnn")
    head = train(body, x, y, epochs, on_epoch=snapshot)
    clock.done()
    print(f"cnn: train {_accuracy(body, head, x, y):.4f}, test {_accuracy(body, head, xt, yt):.4f}")
    w, b = head.weight.detach().numpy(), head.bias.detach().numpy()
    save("cnn_final", features=features(body, x), labels=y, weights=w, bias=b)
    save("cnn_heldout", features=features(body, xt), labels=yt, weights=w, bias=b)
