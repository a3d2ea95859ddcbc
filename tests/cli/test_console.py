"""The one-line error path of the command (``cli/console.py``): usage errors, failures inside a
command, and warnings turned into notes."""

import subprocess
import sys
import warnings

import pytest
import typer

from collapsekit.cli.console import guarded


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["analyze", "--bogus"], "No such option: --bogus"),
        (["analyze"], "Missing argument 'embeddings'"),
        (["analyze", "e.npy", "--max-memory-mb", "abc"], "Invalid value for '--max-memory-mb'"),
        (["bogus"], "No such command 'bogus'"),
    ],
)
def test_usage_errors_are_one_line_too(args, expected):
    proc = subprocess.run(
        [sys.executable, "-m", "collapsekit", *args],
        capture_output=True,
        text=True,
        env={"COLUMNS": "400", "PATH": "", "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("collapsekit: error: "), proc.stderr
    assert expected in lines[0] and "--help'" in lines[0]


def test_guarded_turns_a_failure_into_exit_2_and_warnings_into_notes(capsys) -> None:
    def warns() -> int:
        warnings.warn("a thing to know\nsecond line", stacklevel=1)
        return 7

    assert guarded(warns) == 7
    assert "collapsekit: note: a thing to know" in capsys.readouterr().err

    def fails() -> None:
        raise ValueError("labels: expected 10 values, received 9\ntraceback-ish detail")

    with pytest.raises(typer.Exit) as exc:
        guarded(fails)
    assert exc.value.exit_code == 2
    text = capsys.readouterr().err
    assert "collapsekit: error: labels: expected 10 values, received 9" in text
    assert "traceback-ish" not in text
