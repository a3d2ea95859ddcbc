"""Output files: a killed write's temporary file is removed by the next write, a missing folder
is named as the user gave it, and concurrent history appends stay whole lines."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
from pathlib import Path

import pytest

from collapsekit.io.safe_write import append_line, write_text_atomic

KILLED_WRITE = """
import os, sys
from collapsekit.io import safe_write
os.replace = lambda *a: os._exit(9)  # killed between the temporary file and the rename
safe_write.write_text_atomic(sys.argv[1], "partial")
"""


def test_killed_write_leaves_a_temp_that_the_next_write_removes(tmp_path):
    target = tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITE, str(target)], env=env)
    assert proc.returncode == 9
    stray = [p.name for p in tmp_path.iterdir()]
    assert len(stray) == 1 and stray[0].endswith(".tmp")  # what a kill leaves
    running = tmp_path / f".report.json.{os.getpid()}.inflight.tmp"  # a live writer's file
    running.write_text("x")
    write_text_atomic(target, "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == [running.name, "report.json"]
    assert target.read_text() == "{}"


def test_missing_folder_names_the_users_path(tmp_path):
    target = tmp_path / "no-such-folder" / "report.html"
    with pytest.raises(FileNotFoundError) as err:
        write_text_atomic(target, "x")
    assert str(target) in str(err.value) and ".tmp" not in str(err.value)


def _append_many(path: str, writer: int, count: int) -> None:
    for i in range(count):
        append_line(path, json.dumps({"writer": writer, "i": i, "pad": "x" * (i % 7) * 60000}))


def test_concurrent_appends_stay_whole(tmp_path):
    path = tmp_path / "history.jsonl"
    writers, count = 4, 100
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    procs = [ctx.Process(target=_append_many, args=(str(path), w, count)) for w in range(writers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    lines = path.read_text().split("\n")
    assert lines[-1] == ""  # ends with a newline
    rows = [json.loads(line) for line in lines[:-1]]  # no blank, no torn, no merged line
    assert len(rows) == writers * count
    for w in range(writers):
        assert [r["i"] for r in rows if r["writer"] == w] == list(range(count))


def test_append_after_a_torn_line(tmp_path):
    path = Path(tmp_path / "h.jsonl")
    path.write_text('{"epoch": 0}\n{"epo')
    append_line(path, '{"epoch": 1}')
    assert path.read_text().splitlines() == ['{"epoch": 0}', '{"epo', '{"epoch": 1}']
