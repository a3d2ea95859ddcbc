"""Module-level pieces (picklable) for the 2-process Lightning test."""

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn


class TinyNet(pl.LightningModule):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(6, 16), nn.ReLU())
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        return self.head(self.body(x))

    def training_step(self, batch, _):
        return nn.functional.cross_entropy(self(batch[0]), batch[1])

    def configure_optimizers(self):
        # lr=0: weights stay put, so the features do not depend on how the data is sharded
        return torch.optim.SGD(self.parameters(), lr=0.0)


def dataset():
    rng = np.random.default_rng(4)
    y = np.arange(256) % 3
    x = rng.standard_normal((3, 6))[y] * 2 + rng.standard_normal((256, 6))
    return torch.utils.data.TensorDataset(
        torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.long)
    )
