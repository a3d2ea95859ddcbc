"""Symmetric eigenvalues: the one dense factorisation behind every spectrum.

On CPU, float64 matrices go to numpy's LAPACK (``dsyevd`` of the OpenBLAS that numpy ships)
rather than torch's (MKL). On the 2-core development machine (AMD EPYC), for a 768 x 768
covariance (``benchmarks/bench_threads.py --eig``):

* quiet: numpy 22-28 ms, torch 48-61 ms (one thread) or 43 ms (two);
* two of them with one busy neighbour process: numpy 83-109 ms in sequence, torch 131-205 ms
  (one thread each, side by side); with two busy neighbours: 114-260 ms against 191-397 ms.

MKL's reduction to tridiagonal form is the slow part on this processor. Both compute the same
LAPACK algorithm in float64, so the eigenvalues agree to rounding. Other dtypes and devices
use ``torch.linalg.eigvalsh`` (one intra-op thread on CPU, see :mod:`collapsekit._threads`).
``set_cpu_eigensolver("torch")`` sends CPU float64 work to torch as well (e.g. on Intel
machines, where MKL is at its best).
"""

from __future__ import annotations

import numpy as np
import torch

from collapsekit._threads import factorization_threads

_SOLVER = {"cpu_float64": "numpy"}


def set_cpu_eigensolver(name: str) -> str:
    """Choose the solver of CPU float64 symmetric eigenvalues: ``"numpy"`` (default) or
    ``"torch"``; returns the previous choice.

    Example:
        >>> previous = set_cpu_eigensolver("torch")
        >>> set_cpu_eigensolver(previous)
        'torch'
    """
    if name not in ("numpy", "torch"):
        raise ValueError(f"name: expected 'numpy' or 'torch', received {name!r}")
    previous = _SOLVER["cpu_float64"]
    _SOLVER["cpu_float64"] = name
    return previous


def eigvalsh(matrix: torch.Tensor) -> torch.Tensor:
    """Eigenvalues, ascending, of a symmetric matrix or a batch of them (its lower triangle
    is read), in its dtype and on its device.

    Example:
        >>> eigvalsh(torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=torch.float64)).tolist()
        [1.0, 3.0]
    """
    if (
        matrix.device.type == "cpu"
        and matrix.dtype == torch.float64
        and _SOLVER["cpu_float64"] == "numpy"
    ):
        return torch.from_numpy(np.linalg.eigvalsh(matrix.detach().numpy()))
    with factorization_threads(matrix.device):
        return torch.linalg.eigvalsh(matrix)
