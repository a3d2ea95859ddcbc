"""Per-epoch history files (JSON lines) written by the monitor and read by ``track``."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

from collapsekit.io.safe_write import append_line

HISTORY_NAME = "history.jsonl"


class TornHistoryWarning(UserWarning):
    """Lines of a history file that are not complete JSON (a run killed mid-write) were skipped."""


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def append_history(path: str | Path, row: dict[str, Any]) -> None:
    """Append one epoch's row (flat dict) as a JSON line; non-finite numbers become null.

    The line is written and fsynced in one append; if the file ends in a torn line (a run
    killed mid-write, then resumed), that line is ended first so this row stays readable.
    """
    append_line(path, json.dumps({k: _clean(v) for k, v in row.items()}, allow_nan=False))


def _epoch_order(row: dict[str, Any]) -> tuple[bool, float]:
    """Sort key: rows by epoch, rows without a numeric epoch last (in file order)."""
    epoch = row.get("epoch")
    if isinstance(epoch, int | float) and not isinstance(epoch, bool) and math.isfinite(epoch):
        return (False, float(epoch))
    return (True, 0.0)


def read_history(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a history file, or of every ``*.jsonl`` in a folder (sorted by epoch).

    Lines that are not complete JSON (a run killed mid-write leaves a torn last line, and a
    resumed run writes after it) are skipped with one :class:`TornHistoryWarning` giving
    their count and places. A line that is valid JSON but not an object raises ValueError
    with the file and line number (this is not a history file).
    """
    p = Path(path)
    if p.is_dir():
        files = sorted(p.glob("*.jsonl"))
        if not files:
            raise ValueError(f"{p}: expected history files (*.jsonl) in this folder, found none")
    elif p.exists():
        files = [p]
    else:
        raise ValueError(f"{p}: no such file or folder")
    rows: list[dict[str, Any]] = []
    torn: list[str] = []
    for f in files:
        text = f.read_bytes().decode("utf-8", errors="replace")
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                torn.append(f"{f.name}:{i}")
                continue
            if not isinstance(row, dict):
                raise ValueError(f"{f}:{i}: expected a JSON object, found {type(row).__name__}")
            rows.append(row)
    if torn:
        shown = ", ".join(torn[:5]) + (", ..." if len(torn) > 5 else "")
        warnings.warn(
            f"{p}: skipped {len(torn)} incomplete line(s) ({shown}), e.g. from a run killed "
            "while writing",
            TornHistoryWarning,
            stacklevel=2,
        )
    if not rows:
        raise ValueError(f"{p}: the history is empty")
    rows.sort(key=_epoch_order)
    return rows
