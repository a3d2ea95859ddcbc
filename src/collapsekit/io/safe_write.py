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
from collections.abc import Iterable, Iterator
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


def _temp_prefix(target: Path, pid: int | None = None) -> str:
    """``.<name>.<pid>.``: the temporary files of ``target`` written by process ``pid``."""
    return f".{target.name}.{os.getpid() if pid is None else pid}."


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's), or cannot tell: keep its file
    return True


def remove_stale_temps(target: str | Path, max_age_s: float = 3600.0) -> list[Path]:
    """Remove the temporary files a killed :func:`write_text_atomic` left beside ``target``
    (``.<name>.<pid>.*.tmp`` of a process no longer running; a name without a pid when older
    than ``max_age_s``). Files of running writers are kept. Returns the removed paths.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / ".a.json.999999999.x1.tmp").write_text("{")
        >>> [p.name for p in remove_stale_temps(folder / "a.json")]
        ['.a.json.999999999.x1.tmp']
    """
    import glob
    import time

    t = Path(target)
    folder = t.parent if str(t.parent) else Path(".")
    removed = []
    for name in glob.glob(glob.escape(f".{t.name}.") + "*.tmp", root_dir=folder):
        middle = name[len(t.name) + 2 : -len(".tmp")]
        pid_text = middle.split(".", 1)[0]
        path = folder / name
        try:
            if pid_text.isdigit() and "." in middle:
                stale = not _alive(int(pid_text))
            else:
                stale = time.time() - path.stat().st_mtime > max_age_s
            if stale:
                path.unlink()
                removed.append(path)
        except OSError:
            continue
    return removed


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically: all of it, or the previous file untouched.

    The temporary file lives in the same folder (``.<name>.<pid>.*.tmp``, so the rename
    never crosses file systems) and is removed when anything fails; those a killed writer
    left are removed on the next write to the same target (:func:`remove_stale_temps`). A
    missing folder is a FileNotFoundError naming ``path``. Keeps the permissions of an
    existing target. Returns the path written.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> write_text_atomic(folder / "a.json", "{}").read_text()
        '{}'
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{target}: the folder {folder} does not exist; create it first or choose "
            "another output path"
        )
    remove_stale_temps(target)
    fd, tmp_name = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=".tmp", dir=folder)
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
    """Append ``line`` (without its newline) plus ``\\n`` to ``path``, durably (fsync), whole
    under concurrency: one ``os.write`` on an ``O_APPEND`` descriptor, under an exclusive
    ``flock`` (POSIX) that also covers the torn-line check below.

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
    data = line.encode(encoding) + b"\n"
    fd = os.open(p, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        with _locked(fd):  # the torn-line check and the write, one writer at a time
            size = os.fstat(fd).st_size
            if size > 0 and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data
            written = os.write(fd, data)  # one write on an O_APPEND fd: never interleaved
            while written < len(data):  # pragma: no cover - only on a signal or a full disk
                written += os.write(fd, data[written:])
            os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _locked(fd: int) -> Iterator[None]:
    """An exclusive advisory lock on ``fd`` where the platform has ``fcntl.flock``."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: O_APPEND writes alone
        yield
        return
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


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
