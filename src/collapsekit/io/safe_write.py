"""Writing output files without losing user data: atomic replacement, durable appends, and a
guard that refuses to write over an input file.

* :func:`write_text_atomic` writes a temporary file in the target's folder, flushes and fsyncs
  it, then renames it over the target (``os.replace``, atomic on POSIX and Windows): a write
  that fails midway (disk full, file-size limit, a kill) leaves the previous file intact.
* :func:`append_line` appends one line to a JSON-lines log; if the file ends in a torn line
  (a killed writer) it first ends that line, so the new record never merges with it.
* :func:`refuse_overwriting_inputs` raises when an output path is one of the input paths
  (after resolving symlinks, and by inode where the file exists) unless ``force``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


class OverwriteRefused(ValueError):
    """An output path names an input file (or another output); nothing was written."""


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically: all of it, or the previous file untouched.

    The temporary file lives in the same folder (``.<name>.*.tmp``, so the rename never
    crosses file systems) and is removed when anything fails. Keeps the permissions of an
    existing target. Returns the path written.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> write_text_atomic(folder / "a.json", "{}").read_text()
        '{}'
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if target.exists():
            with contextlib.suppress(OSError):
                os.chmod(tmp, target.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_folder(folder)
    return target


def append_line(path: str | Path, line: str, encoding: str = "utf-8") -> None:
    """Append ``line`` (without its newline) plus ``\\n`` to ``path``, durably (fsync).

    When the file does not end with a newline (a writer was killed mid-line), a newline is
    written first, so the torn line stays a line of its own (readers skip it with a warning)
    instead of swallowing this record.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "h.jsonl"
        >>> _ = p.write_text('{"epoch": 0}\\n{"epo')   # torn by a kill
        >>> append_line(p, '{"epoch": 1}')
        >>> p.read_text().splitlines()
        ['{"epoch": 0}', '{"epo', '{"epoch": 1}']
    """
    if "\n" in line or "\r" in line:
        raise ValueError("line: expected a single line, received text holding a line break")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("a+b") as f:
        f.seek(0, os.SEEK_END)
        prefix = b""
        if f.tell() > 0:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                prefix = b"\n"
        f.seek(0, os.SEEK_END)
        f.write(prefix + line.encode(encoding) + b"\n")
        f.flush()
        os.fsync(f.fileno())


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def refuse_overwriting_inputs(
    outputs: Iterable[tuple[str, str | Path | None]],
    inputs: Iterable[str | Path | None],
    force: bool = False,
) -> None:
    """Raise :class:`OverwriteRefused` if an output would replace an input file.

    ``outputs`` are ``(option name, path or None)`` pairs (e.g. ``("--json", path)``); two
    outputs naming the same file are refused too (the second would silently replace the
    first). Symlinks are resolved and existing files compared by inode
    (:func:`os.path.samefile`). ``force=True`` allows writing over inputs (never two outputs
    onto one file).

    Example:
        >>> try:
        ...     refuse_overwriting_inputs([("--json", "emb.npy")], ["emb.npy"])
        ... except OverwriteRefused as exc:
        ...     print(str(exc)[:56])
        --json: refusing to write over the input file emb.npy; c
    """
    ins = [Path(p) for p in inputs if p is not None]
    seen: list[tuple[str, Path]] = []
    for option, value in outputs:
        if value is None:
            continue
        out = Path(value)
        if not force:
            for src in ins:
                if _same_file(out, src):
                    raise OverwriteRefused(
                        f"{option}: refusing to write over the input file {src}; choose "
                        "another output path (or pass --force to overwrite it)"
                    )
        for other_option, other in seen:
            if _same_file(out, other):
                raise OverwriteRefused(
                    f"{option}: expected a different file than {other_option} ({other}); the "
                    "second report would replace the first"
                )
        seen.append((option, out))
