"""The command's two consoles and how errors reach them: every failure is one line on stderr
with exit code 2 (``--debug`` shows the traceback instead), usage errors included."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import TypeVar

import typer
from rich.console import Console
from rich.markup import escape

# a pipe gets whole lines: no hard wrap at 80 columns (tables keep their natural width)
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")
#: ``debug``: show tracebacks (``--debug``, accepted anywhere on the line)
STATE = {"debug": False}


def fail(message: str) -> None:
    """Print one error line (user text is escaped: no rich markup in paths) and exit 2."""
    err.print(
        f"[bold red]collapsekit: error:[/] {escape(message)}", highlight=False, soft_wrap=True
    )
    raise typer.Exit(2)


def note(message: str) -> None:
    """One informational line on stderr (escaped)."""
    err.print(f"collapsekit: note: {escape(message)}", highlight=False, soft_wrap=True)


def guarded(fn: Callable[[], T]) -> T:
    """Run ``fn``; turn any failure into one readable line and exit code 2.

    Python warnings raised inside are captured: on failure only the error line is printed;
    on success each distinct warning becomes one ``note:`` line.
    """
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = fn()
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        err.print("collapsekit: interrupted", highlight=False)
        raise typer.Exit(130) from None
    except Exception as exc:
        if STATE["debug"]:
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fail(msg)
    for text in dict.fromkeys(str(w.message).strip() for w in caught):
        if text:
            note(text.splitlines()[0])
    return result


def exit_code(app: typer.Typer, args: list[str]) -> int:
    """Run the command line; a usage error (unknown option, missing argument, a value of the
    wrong type) becomes one line, like every other error, instead of click's usage box.
    Click's exceptions are recognised by their interface (``format_message``, ``exit_code``):
    typer 0.29 raises those of its own copy of click, older versions click's."""
    try:
        result = app(args=args, prog_name="collapsekit", standalone_mode=False)
    except typer.Abort:
        err.print("collapsekit: interrupted", highlight=False)
        return 130
    except Exception as exc:
        message, code = getattr(exc, "format_message", None), getattr(exc, "exit_code", None)
        if not callable(message) or not isinstance(code, int):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare command: its help, as before
            out.print(str(message()), highlight=False, markup=False)
            return code
        path = getattr(getattr(exc, "ctx", None), "command_path", None)
        where = f"; see '{path} --help'" if path and code == 2 else ""
        err.print(
            f"collapsekit: error: {escape(str(message()).rstrip('.'))}{escape(where)}",
            highlight=False,
            soft_wrap=True,
        )
        return code
    return result if isinstance(result, int) else 0
