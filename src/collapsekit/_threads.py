"""How many intra-op (OpenMP/MKL) threads collapsekit's CPU kernels use.

Two kinds of work suffer from more threads than free cores:

* **dense factorisations** (``eigvalsh``, ``eigh``, ``svd``): LAPACK reduces the matrix with
  thousands of small level-2 BLAS calls, each a parallel region that waits at a barrier for its
  slowest thread. When another process holds a core, a descheduled thread stalls every barrier:
  a 768 x 768 ``eigvalsh`` took 7 s with 2 threads against 0.2 s with 1 on a 2-core machine with
  one busy neighbour (``benchmarks/bench_threads.py``). Quiet, 2 threads save a third of 0.07 s.
* **small problems** (below about ``small_work_flops``, 3e7 by default): every operation pays a
  parallel-region start that costs more than the work, and, on a loaded machine, a scheduler
  time slice (a 200 x 32 effective rank: 0.2 ms with 1 thread, 16 ms with 2 under load).

Large GEMMs and elementwise passes over big tensors scale with threads and keep the caller's
setting (``torch.get_num_threads()``). Independent factorisations (one per class, the centred
and uncentred spectra) use the cores the other way: :func:`map_independent` runs them side by
side on Python threads, one intra-op thread each, so no barrier is shared. The policy is
process-wide and can be changed with :func:`set_thread_policy`;
``set_thread_policy(small_work_flops=0, single_thread_factorizations=False)`` leaves every
thread decision to the caller. Only CPU work is affected.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import torch

_POLICY: dict[str, Any] = {"small_work_flops": 3e7, "single_thread_factorizations": True}
_T = TypeVar("_T")
_R = TypeVar("_R")


def set_thread_policy(
    small_work_flops: float | None = None, single_thread_factorizations: bool | None = None
) -> dict[str, Any]:
    """Change the thread policy (``None`` keeps a setting); returns the previous policy.

    Args:
        small_work_flops: kernels whose work is below this many floating-point operations run
            with one thread (0 disables the rule).
        single_thread_factorizations: run CPU eigen/singular-value decompositions with one thread.

    Example:
        >>> previous = set_thread_policy(small_work_flops=0)
        >>> get_thread_policy()["small_work_flops"]
        0.0
        >>> _ = set_thread_policy(**previous)
    """
    previous = dict(_POLICY)
    if small_work_flops is not None:
        if not small_work_flops >= 0:
            raise ValueError(
                f"small_work_flops: expected a number >= 0, received {small_work_flops!r}"
            )
        _POLICY["small_work_flops"] = float(small_work_flops)
    if single_thread_factorizations is not None:
        _POLICY["single_thread_factorizations"] = bool(single_thread_factorizations)
    return previous


def get_thread_policy() -> dict[str, Any]:
    """The current policy (a copy): ``small_work_flops`` and ``single_thread_factorizations``."""
    return dict(_POLICY)


@contextlib.contextmanager
def _one_thread(active: bool) -> Iterator[None]:
    previous = torch.get_num_threads()
    if not active or previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def one_thread() -> contextlib.AbstractContextManager[None]:
    """One intra-op thread inside the block, whatever the policy: for loops of many small
    operations, such as training a small network (the demo runs 7x faster on a busy 2-core
    machine this way).

    Example:
        >>> import torch
        >>> with one_thread():
        ...     torch.get_num_threads()
        1
    """
    return _one_thread(True)


def _on_cpu(device: torch.device | str | None) -> bool:
    return device is None or torch.device(device).type == "cpu"


def small_work_threads(
    flops: float, device: torch.device | str | None = None
) -> contextlib.AbstractContextManager[None]:
    """One intra-op thread inside the block when ``flops`` is below the small-work threshold
    (CPU only); otherwise the caller's setting. Wrap a whole kernel, not single operations:
    changing the thread count costs a fraction of a millisecond.

    Example:
        >>> import torch
        >>> with small_work_threads(1e3):
        ...     torch.get_num_threads()
        1
    """
    return _one_thread(_on_cpu(device) and flops < _POLICY["small_work_flops"])


def factorization_threads(
    device: torch.device | str | None = None,
) -> contextlib.AbstractContextManager[None]:
    """One intra-op thread for a CPU eigen/singular-value decomposition (see the module notes).

    Example:
        >>> import torch
        >>> with factorization_threads():
        ...     s = torch.linalg.eigvalsh(torch.eye(3, dtype=torch.float64))
    """
    return _one_thread(_on_cpu(device) and bool(_POLICY["single_thread_factorizations"]))


def map_independent(
    fn: Callable[[_T], _R], items: Iterable[_T], device: torch.device | str | None = None
) -> list[_R]:
    """``[fn(item) for item in items]``, run on up to ``torch.get_num_threads()`` Python threads
    with one intra-op thread each (CPU only, when ``single_thread_factorizations`` is on).

    For independent factorisations (one eigendecomposition per class, say): each runs
    single-threaded, so no OpenMP barrier waits for a descheduled thread (see the module notes),
    and the cores are used by running several at once (torch releases the GIL inside its
    kernels). Ten 768 x 768 ``eigvalsh`` on 2 quiet cores: 0.35 s against 0.51 s one after the
    other. Results are the same as the loop's (each call runs single-threaded either way); the
    first exception raised by ``fn`` propagates. Thread counts are process-wide in torch, so the
    caller's setting is restored when all calls have returned.

    Example:
        >>> import torch
        >>> m = torch.eye(3, dtype=torch.float64)
        >>> [float(v.sum()) for v in map_independent(torch.linalg.eigvalsh, [m, 2 * m])]
        [3.0, 6.0]
    """
    work = list(items)
    workers = min(torch.get_num_threads(), len(work))
    if workers < 2 or not _on_cpu(device) or not _POLICY["single_thread_factorizations"]:
        return [fn(item) for item in work]
    with _one_thread(True), ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, work))
