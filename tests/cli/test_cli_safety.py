"""Issue 11: the CLI never writes over an input, writes atomically, prints one error line."""

from __future__ import annotations

import json
import os
import sys
import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

from collapsekit.cli import main as cli
from collapsekit.cli.main import app
from collapsekit.io.safe_write import write_text_atomic
from collapsekit.report.history import TornHistoryWarning, append_history, read_history

runner = CliRunner()


@pytest.fixture
def files(tmp_path):
    g = np.random.default_rng(0)
    y = np.arange(60) % 3
    x = (g.standard_normal((60, 6)) + 3 * np.eye(6)[y]).astype(np.float32)
    emb, lab = tmp_path / "emb.npy", tmp_path / "y.npy"
    np.save(emb, x)
    np.save(lab, y)
    return emb, lab


def _one_error_line(res) -> str:
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1, res.output
    assert lines[0].startswith("collapsekit: error:"), res.output
    assert "Traceback" not in res.output
    return lines[0]


@pytest.mark.parametrize("option,target", [("--json", "emb"), ("--html", "lab")])
def test_analyze_refuses_to_overwrite_an_input(files, option, target) -> None:
    emb, lab = files
    victim = emb if target == "emb" else lab
    before = victim.read_bytes()
    res = runner.invoke(app, ["analyze", str(emb), "--labels", str(lab), option, str(victim)])
    assert "refusing to write over the input file" in _one_error_line(res)
    assert victim.read_bytes() == before


def test_analyze_refuses_an_output_that_is_a_symlink_to_an_input(files, tmp_path) -> None:
    emb, lab = files
    link = tmp_path / "link.json"
    link.symlink_to(emb)
    before = emb.read_bytes()
    res = runner.invoke(app, ["analyze", str(emb), "--labels", str(lab), "--json", str(link)])
    _one_error_line(res)
    assert emb.read_bytes() == before


def test_analyze_refuses_json_and_html_onto_one_file(files, tmp_path) -> None:
    emb, lab = files
    same = tmp_path / "r.out"
    res = runner.invoke(
        app, ["analyze", str(emb), "-l", str(lab), "--json", str(same), "--html", str(same)]
    )
    assert "--html" in _one_error_line(res)


def test_force_allows_overwriting_an_input(files, tmp_path) -> None:
    emb, lab = files
    copy = tmp_path / "copy.npy"
    copy.write_bytes(lab.read_bytes())
    res = runner.invoke(
        app, ["analyze", str(emb), "-l", str(copy), "--json", str(copy), "--bootstrap", "0"]
    )
    _one_error_line(res)
    res = runner.invoke(
        app,
        ["analyze", str(emb), "-l", str(copy), "--json", str(copy), "--force", "--bootstrap", "0"],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(copy.read_text())["schema"].startswith("collapsekit-report")


def test_compare_refuses_to_overwrite_an_input(files) -> None:
    emb, lab = files
    before = lab.read_bytes()
    res = runner.invoke(app, ["compare", str(emb), str(emb), "-l", str(lab), "--html", str(lab)])
    _one_error_line(res)
    assert lab.read_bytes() == before


def test_track_refuses_to_overwrite_the_history(tmp_path) -> None:
    run = tmp_path / "run"
    for e in range(3):
        append_history(run / "history.jsonl", {"epoch": e, "nc1": 1.0 / (e + 1)})
    before = (run / "history.jsonl").read_bytes()
    hist = str(run / "history.jsonl")
    res = runner.invoke(app, ["track", hist, "--html", hist])
    _one_error_line(res)
    assert (run / "history.jsonl").read_bytes() == before


def test_torn_history_line_is_skipped_with_a_note_and_resuming_does_not_merge(tmp_path) -> None:
    hist = tmp_path / "history.jsonl"
    append_history(hist, {"epoch": 0, "nc1": 1.0})
    with hist.open("a") as f:
        f.write('{"epoch": 1, "nc')  # killed mid-write
    with pytest.warns(TornHistoryWarning, match="skipped 1 incomplete line"):
        assert [r["epoch"] for r in read_history(hist)] == [0]
    append_history(hist, {"epoch": 2, "nc1": 0.5})  # a resumed run
    with pytest.warns(TornHistoryWarning):
        assert [r["epoch"] for r in read_history(hist)] == [0, 2]
    res = runner.invoke(app, ["track", str(hist)])
    assert res.exit_code == 0, res.output
    assert "skipped 1 incomplete line" in res.output
    assert (tmp_path / "tracking.html").exists()


def test_atomic_write_keeps_the_previous_file_when_the_write_fails(tmp_path, monkeypatch) -> None:
    target = tmp_path / "report.json"
    target.write_text("previous good report")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_text_atomic(target, "x" * 10_000)
    assert target.read_text() == "previous good report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]  # no temp left


def test_report_to_json_is_atomic(tmp_path, monkeypatch) -> None:
    from collapsekit.report.report import Report
    from collapsekit.verdict import Verdict

    report = Report(metrics={"nc1": 0.5}, verdict=Verdict("healthy", "ok", [], {}))
    target = tmp_path / "r.json"
    report.to_json(target)
    good = target.read_text()

    def fail_replace(src, dst) -> None:
        raise OSError(27, "File too large")

    monkeypatch.setattr(os, "replace", fail_replace)
    report.metrics["nc1"] = 0.25
    with pytest.raises(OSError):
        report.to_json(target)
    assert target.read_text() == good
    with pytest.raises(OSError):
        report.to_html(tmp_path / "r.html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


@pytest.mark.parametrize(
    "args,option",
    [
        (["--batch-size", "0"], "--batch-size"),
        (["--batch-size", "-5"], "--batch-size"),
        (["--sample-rows", "0"], "--sample-rows"),
        (["--bootstrap", "-1"], "--bootstrap"),
        (["--max-memory-mb", "-1"], "--max-memory-mb"),
        (["--precision", "half"], "--precision: expected float64"),
    ],
)
def test_bad_numeric_options_give_one_error_line(files, args, option) -> None:
    emb, lab = files
    line = _one_error_line(runner.invoke(app, ["analyze", str(emb), "-l", str(lab), *args]))
    assert option in line


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "-0.5"])
def test_max_memory_mb_one_rule(files, value) -> None:
    """0, negatives and non-finite budgets get the same message, before any work."""
    emb, lab = files
    res = runner.invoke(app, ["analyze", str(emb), "-l", str(lab), "--max-memory-mb", value])
    line = _one_error_line(res)
    assert "--max-memory-mb: expected a positive number of MB" in line


def test_max_memory_mb_fraction_is_a_budget(files) -> None:
    emb, lab = files
    res = runner.invoke(app, ["analyze", str(emb), "-l", str(lab), "--max-memory-mb", "0.5"])
    assert res.exit_code == 0, res.output


def test_precision_float32_reaches_the_report(files, tmp_path) -> None:
    emb, lab = files
    out = tmp_path / "r.json"
    res = runner.invoke(
        app, ["analyze", str(emb), "-l", str(lab), "--precision", "float32", "--json", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "float32 products" in json.loads(out.read_text())["provenance"]["nc1"]


def test_demo_epochs_zero_is_refused(tmp_path) -> None:
    line = _one_error_line(
        runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "--epochs", "0"])
    )
    assert "--epochs" in line


def test_demo_refuses_an_existing_run_without_force(tmp_path) -> None:
    out = tmp_path / "run"
    append_history(out / "history.jsonl", {"epoch": 0, "nc1": 1.0})
    before = (out / "history.jsonl").read_bytes()
    line = _one_error_line(runner.invoke(app, ["demo", "--out", str(out), "--epochs", "1"]))
    assert "--force" in line
    assert (out / "history.jsonl").read_bytes() == before


def test_rich_markup_in_paths_is_printed_literally(files, tmp_path) -> None:
    emb, lab = files
    odd = tmp_path / "x[/].npy"
    res = runner.invoke(app, ["analyze", str(odd)])
    assert "x[/].npy" in _one_error_line(res)
    target = tmp_path / "[red]o.json"
    res = runner.invoke(
        app, ["analyze", str(emb), "-l", str(lab), "--json", str(target), "--bootstrap", "0"]
    )
    assert res.exit_code == 0, res.output
    assert target.exists()
    assert "[red]o.json" in res.output


def test_missing_extra_hint_keeps_brackets(tmp_path, monkeypatch) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "e.parquet"
    pq.write_table(pa.table({"embedding": [[1.0, 2.0], [3.0, 4.0]]}), path)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    line = _one_error_line(runner.invoke(app, ["analyze", str(path)]))
    assert "collapsekit[formats]" in line


def test_warnings_before_an_error_are_not_printed(capsys) -> None:
    def noisy() -> None:
        warnings.warn("something odd", UserWarning, stacklevel=1)
        raise ValueError("features: the real problem")

    with pytest.raises(cli.typer.Exit):
        cli.guarded(noisy)
    captured = capsys.readouterr()
    assert "something odd" not in captured.err + captured.out
    assert "the real problem" in captured.err
