"""Spawned torch.distributed workers for the multi-process tests (gloo on localhost)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def free_port() -> int:
    """A free localhost TCP port for the process group's rendezvous."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def join_group(rank: int, port: int, world: int, threads: int | None = 1) -> None:
    """A spawned worker's first step: join the gloo process group of ``world`` ranks on the
    localhost ``port`` (one torch thread each unless ``threads`` is None: ranks share cores)."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    if threads is not None:
        torch.set_num_threads(threads)
    dist.init_process_group("gloo", rank=rank, world_size=world)


def spawn(worker: Callable[..., Any], out: str, world: int, what: str, timeout_s: float = 240.0):
    """Run ``worker(rank, port, out)`` in ``world`` spawned processes; a run past ``timeout_s``
    kills them and fails the test as a hang of ``what``."""
    ctx = mp.start_processes(
        worker, args=(free_port(), out), nprocs=world, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + timeout_s
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail(f"{what} did not finish within {timeout_s:.0f} s (a hang)")


def rank_results(
    worker: Callable[..., Any], out: str, world: int, what: str, timeout_s: float = 240.0
) -> list[Any]:
    """:func:`spawn` the workers (skipped without torch.distributed) and load what each rank
    saved with ``torch.save(results, f"{out}.{rank}")``, in rank order."""
    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    spawn(worker, out, world, what, timeout_s)
    return [torch.load(f"{out}.{r}", weights_only=False) for r in range(world)]


def error_of(call: Callable[[], Any]) -> str:
    """``call()``'s ValueError message, or "no error" (a worker records that every rank
    raised, where one rank raising alone would leave the others hanging)."""
    try:
        call()
    except ValueError as err:
        return str(err)
    return "no error"
