"""The ``collapsekit`` command. :func:`run` answers Ctrl-C from its first instant: the handler
is installed before the heavy imports (torch, numpy, typer), so an interrupt at any moment
prints one line and exits 130, never a traceback."""

from __future__ import annotations

from collapsekit.cli.interrupt import INTERRUPTED, install_interrupt_handler

__all__ = ["INTERRUPTED", "install_interrupt_handler", "run"]


def run() -> None:
    """Console-script entry point (see :func:`collapsekit.cli.main.run`)."""
    install_interrupt_handler()
    from collapsekit.cli.main import run as main_run

    main_run()
