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
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import torch

_POLICY: dict[str, Any] = {
    "small_work_flops": 3e7,
    "single_thread_factorizations": True,
    "numpy_float64": True,
}
_T = TypeVar("_T")
_R = TypeVar("_R")
#: ``pool``: the :class:`_Pool` whose worker this thread is (inside ``map_independent``)
_LOCAL = threading.local()


def set_thread_policy(
    small_work_flops: float | None = None,
    single_thread_factorizations: bool | None = None,
    numpy_float64: bool | None = None,
) -> dict[str, Any]:
    """Change the thread policy (``None`` keeps a setting); returns the previous policy.

    Args:
        small_work_flops: kernels whose work is below this many floating-point operations run
            with one thread (0 disables the rule).
        single_thread_factorizations: run CPU eigen/singular-value decompositions with one thread.
        numpy_float64: run CPU float64 Gram products and symmetric eigenvalues through numpy's
            BLAS/LAPACK (:mod:`collapsekit._linalg`) when its threads can be set (the
            ``threadpoolctl`` package is installed); ``False``: torch's everywhere.

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
    if numpy_float64 is not None:
        _POLICY["numpy_float64"] = bool(numpy_float64)
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


#: numpy's BLAS (threadpoolctl's controller, found once; None: not controllable) and how many
#: blocks hold it at one thread (the outermost sets and restores it: the setting is global)
_BLAS: dict[str, Any] = {"depth": 0, "lock": threading.Lock()}


def numpy_blas() -> Any:
    """threadpoolctl's controller of numpy's BLAS, or None when it cannot be controlled (no
    threadpoolctl, or no BLAS found); looked up once per process (milliseconds)."""
    if "controller" not in _BLAS:
        controller = None
        try:
            import numpy  # noqa: F401  (loads its BLAS)
            from threadpoolctl import ThreadpoolController

            found = ThreadpoolController().select(user_api="blas")
            controller = found if found.lib_controllers else None
        except Exception:  # an optional speed-up: any failure leaves torch's kernels in place
            controller = None
        _BLAS["controller"] = controller
    return _BLAS["controller"]


def numpy_float64_active() -> bool:
    """Whether CPU float64 Grams and eigenvalues go through numpy (policy on, BLAS found)."""
    return bool(_POLICY["numpy_float64"]) and numpy_blas() is not None


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """numpy's BLAS at one thread inside the block (re-entrant and safe across threads: the
    outermost block sets it and restores it), when :func:`numpy_float64_active`; the
    counterpart of torch's intra-op setting for the kernels of :mod:`collapsekit._linalg`.

    Example:
        >>> with one_blas_thread():
        ...     pass
    """
    controller = numpy_blas() if _POLICY["numpy_float64"] else None
    if controller is None:
        yield
        return
    with _BLAS["lock"]:
        if _BLAS["depth"] == 0:
            _BLAS["limiter"] = controller.limit(limits=1)
        _BLAS["depth"] += 1
    try:
        yield
    finally:
        with _BLAS["lock"]:
            _BLAS["depth"] -= 1
            if _BLAS["depth"] == 0:
                _BLAS.pop("limiter").restore_original_limits()


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


@contextlib.contextmanager
def _factorization(active: bool) -> Iterator[None]:
    blas = one_blas_thread() if active else contextlib.nullcontext()
    with _one_thread(active), blas:
        yield


def factorization_threads(
    device: torch.device | str | None = None,
) -> contextlib.AbstractContextManager[None]:
    """One intra-op thread (torch's, and numpy's BLAS when :mod:`collapsekit._linalg` uses it)
    for a CPU eigen/singular-value decomposition (see the module notes).

    Example:
        >>> import torch
        >>> with factorization_threads():
        ...     s = torch.linalg.eigvalsh(torch.eye(3, dtype=torch.float64))
    """
    return _factorization(_on_cpu(device) and bool(_POLICY["single_thread_factorizations"]))


def map_independent(
    fn: Callable[[_T], _R], items: Iterable[_T], device: torch.device | str | None = None
) -> list[_R]:
    """``[fn(item) for item in items]``, run on up to ``torch.get_num_threads()`` Python threads
    with one intra-op thread each (CPU only, when ``single_thread_factorizations`` is on).

    For independent factorisations (one eigendecomposition per class, say): each runs
    single-threaded, so no OpenMP barrier waits for a descheduled thread (see the module notes),
    and the cores are used by running several at once (torch and numpy release the GIL inside
    their kernels). Ten 768 x 768 ``eigvalsh`` on 2 quiet cores: 0.35 s against 0.51 s one
    after the other. Results are the same as the loop's (each call runs single-threaded either
    way); the first exception raised by ``fn`` (in item order) propagates. Thread counts are
    process-wide in torch, so the caller's setting is restored when all calls have returned.

    Called again from inside ``fn`` (a job that has independent parts of its own, such as the
    per-class spectra next to the global one), the inner items join the same workers: a worker
    whose own items are done takes queued ones instead of idling, so every independent
    factorisation of a computation shares one pool, without nested pools or extra threads.

    Example:
        >>> import torch
        >>> m = torch.eye(3, dtype=torch.float64)
        >>> [float(v.sum()) for v in map_independent(torch.linalg.eigvalsh, [m, 2 * m])]
        [3.0, 6.0]
    """
    work = list(items)
    pool: _Pool | None = getattr(_LOCAL, "pool", None)
    if pool is not None:  # inside a worker: share the enclosing pool
        return pool.map(fn, work) if len(work) >= 2 else [fn(item) for item in work]
    workers = min(torch.get_num_threads(), len(work))
    if workers < 2 or not _on_cpu(device) or not _POLICY["single_thread_factorizations"]:
        return [fn(item) for item in work]
    pool = _Pool()
    with _one_thread(True), one_blas_thread():
        helpers = [threading.Thread(target=pool.serve, daemon=True) for _ in range(workers - 1)]
        for t in helpers:
            t.start()
        try:
            _LOCAL.pool = pool
            return pool.map(fn, work)
        finally:
            _LOCAL.pool = None
            pool.close()
            for t in helpers:
                t.join()


class _Task:
    """One item of a :func:`map_independent` call."""

    __slots__ = ("done", "error", "fn", "item", "result")

    def __init__(self, fn: Callable[[Any], Any], item: Any) -> None:
        self.fn, self.item = fn, item
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = False


class _Pool:
    """The workers of one top-level :func:`map_independent` call and their queue of tasks.

    A thread waiting for its tasks runs queued ones (its own or others') and sleeps only when
    the queue is empty, that is when every task it waits for is running elsewhere: with
    finitely nested calls every task finishes, so no wait is forever.
    """

    def __init__(self) -> None:
        self.cv = threading.Condition()
        self.queue: deque[_Task] = deque()
        self.closed = False

    def _run(self, task: _Task) -> None:
        try:
            task.result = task.fn(task.item)
        except BaseException as exc:  # re-raised in the caller, in item order
            task.error = exc
        with self.cv:
            task.done = True
            self.cv.notify_all()

    def _next(self, until: Callable[[], bool]) -> _Task | None:
        """A queued task, or None once ``until()`` holds (waits while neither)."""
        with self.cv:
            while not until():
                if self.queue:
                    return self.queue.popleft()
                self.cv.wait()
            return None

    def map(self, fn: Callable[[_T], _R], work: list[_T]) -> list[_R]:
        tasks = [_Task(fn, item) for item in work]
        with self.cv:
            self.queue.extend(tasks)
            self.cv.notify_all()
        while (task := self._next(lambda: all(t.done for t in tasks))) is not None:
            self._run(task)
        for t in tasks:
            if t.error is not None:
                raise t.error
        return [t.result for t in tasks]

    def serve(self) -> None:
        """A helper thread's loop: run queued tasks until the pool closes."""
        _LOCAL.pool = self
        while (task := self._next(lambda: self.closed)) is not None:
            self._run(task)

    def close(self) -> None:
        with self.cv:
            self.closed = True
            self.cv.notify_all()
