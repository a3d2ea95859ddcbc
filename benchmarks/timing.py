"""Timing helper shared by the benchmark scripts (run them from the repository root:
``python benchmarks/<script>.py``; the scripts' folder is on the import path)."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_of(
    fn: Callable[[], object], repeats: int, sync: Callable[[], None] = lambda: None
) -> float:
    """Fastest of ``repeats`` timed calls of ``fn`` (``sync`` waits for the device first)."""
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return min(times)
