"""Ctrl-C at any moment of the command, start-up imports included: one line, exit 130."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _wait_for_numpy(pid: int, limit: float = 60.0) -> None:
    """Until numpy's extension is mapped in the child: its heavy imports are under way (the
    interpreter's own start-up, before any collapsekit code, cannot be answered)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if "_multiarray_umath" in Path(f"/proc/{pid}/maps").read_text():
            return
        time.sleep(0.005)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("delay", [0.0, 0.3, 1.5])
def test_sigint_during_startup_prints_one_line(delay, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, *sys.path])}
    # the demo runs for 15 s or more: at every delay the signal finds it running (a command
    # that fails at once, on a missing file, had sometimes finished before a 1.5 s signal)
    proc = subprocess.Popen(
        [sys.executable, "-m", "collapsekit", "demo", "--out", str(tmp_path / "demo")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        # a run launched in the background (nohup, &) ignores SIGINT, and children inherit it:
        # give the command the default disposition a terminal would
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _wait_for_numpy(proc.pid)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    text = err.decode()
    if proc.returncode == 0:
        pytest.skip("the command finished before the signal")
    assert proc.returncode == 130, text
    assert text.strip().splitlines() == ["collapsekit: interrupted"], text
    assert "Traceback" not in text + out.decode()
