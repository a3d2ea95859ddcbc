"""CPU float64 kernels through numpy's BLAS/LAPACK where that is faster than torch's.

torch's CPU wheels link MKL, numpy's OpenBLAS. Two differences matter for collapsekit's
float64 work: numpy computes ``a @ a.T`` with ``syrk`` (half the multiply-adds of a GEMM: only
one triangle of a symmetric product is formed), and on AMD processors MKL's float64 kernels run
far below OpenBLAS's. On the 2-core AMD EPYC development machine (one thread, CPU time,
``benchmarks/README.md`` section H): the 500 x 768 Gram 5.3 ms against torch's 11.4 ms, the
5,000 x 768 scatter 71 ms against 109 ms (torch's upper-block product), ``eigvalsh`` of
500 x 500 13.6 ms against 20.2 ms and of 768 x 768 41 ms against 66 ms.

numpy's BLAS runs its own threads; they are held at one inside factorisations and
:func:`collapsekit._threads.map_independent` pools (:func:`collapsekit._threads.one_blas_thread`),
which needs the ``threadpoolctl`` package. Without it, or with
``set_thread_policy(numpy_float64=False)``, or for other dtypes and devices, torch's kernels
run. Both compute the same float64 products and the same LAPACK reduction: results agree to
float64 rounding (about 1e-15 relative).
"""

from __future__ import annotations

import numpy as np
import torch

from collapsekit._threads import numpy_float64_active


def numpy_route(x: torch.Tensor) -> bool:
    """Whether ``x`` (float64, on the CPU, no autograd) goes through numpy here."""
    return (
        x.dtype == torch.float64
        and x.device.type == "cpu"
        and not x.requires_grad
        and numpy_float64_active()
    )


def gram(x: torch.Tensor, rows: bool) -> torch.Tensor:
    """The symmetric product ``x @ x.T`` (``rows=True``: N x N) or ``x.T @ x`` (D x D).

    Example:
        >>> x = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=torch.float64)
        >>> gram(x, rows=False).tolist()
        [[35.0, 44.0], [44.0, 56.0]]
    """
    if not numpy_route(x):
        return x @ x.T if rows else x.T @ x
    a = np.ascontiguousarray(x.numpy())
    # the same array on both sides, one transposed: numpy calls syrk
    return torch.from_numpy(a @ a.T if rows else a.T @ a)


def eigvalsh(mat: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of a symmetric matrix (its lower triangle), ascending, as
    ``torch.linalg.eigvalsh``. Thread counts are the caller's business
    (:func:`collapsekit._threads.factorization_threads`).

    Example:
        >>> eigvalsh(torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=torch.float64)).tolist()
        [1.0, 3.0]
    """
    if not numpy_route(mat):
        return torch.linalg.eigvalsh(mat)
    return torch.from_numpy(np.linalg.eigvalsh(mat.numpy(), UPLO="L"))
