"""Ctrl-C for the ``collapsekit`` command: one line, exit 130, never a traceback. Installed by
:func:`collapsekit.cli.run` before the heavy imports (torch, numpy, typer)."""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

#: exit status of a process ended by Ctrl-C (128 + SIGINT)
INTERRUPTED = 130
_state = {"interrupted": False}


def _on_interrupt(signum: int, frame: FrameType | None) -> None:
    if not _state["interrupted"]:
        _state["interrupted"] = True
        try:
            sys.stderr.write("collapsekit: interrupted\n")
            sys.stderr.flush()
        except (OSError, ValueError):  # pragma: no cover - stderr closed
            pass
        raise SystemExit(INTERRUPTED)  # unwinds: temporary files are removed on the way
    os._exit(INTERRUPTED)  # a second Ctrl-C during the clean-up: leave at once


def install_interrupt_handler() -> None:
    """Ctrl-C prints ``collapsekit: interrupted`` and exits 130 (no traceback)."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # nohup / background: keep
        signal.signal(signal.SIGINT, _on_interrupt)
