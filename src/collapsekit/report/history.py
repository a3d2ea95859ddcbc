"""Per-epoch history files (JSON lines) written by the monitor and read by ``track``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

HISTORY_NAME = "history.jsonl"


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def append_history(path: str | Path, row: dict[str, Any]) -> None:
    """Append one epoch's row (flat dict) as a JSON line; non-finite numbers become null."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("a", encoding="utf-8") as f:
        f.write(json.dumps({k: _clean(v) for k, v in row.items()}, allow_nan=False) + "\n")


def read_history(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a history file, or of every ``*.jsonl`` in a folder (sorted by epoch).

    Raises ValueError with the file and line number on a malformed line.
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
    for f in files:
        for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{f}:{i}: expected one JSON object per line ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise ValueError(f"{f}:{i}: expected a JSON object, found {type(row).__name__}")
            rows.append(row)
    if not rows:
        raise ValueError(f"{p}: the history is empty")
    rows.sort(key=lambda r: (r.get("epoch") is None, r.get("epoch", 0)))
    return rows
