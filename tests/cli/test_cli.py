import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from collapsekit.cli.main import app
from references import blobs

runner = CliRunner()


@pytest.fixture(scope="module")
def data():
    X, y = blobs(240, 3, 12, seed=0, sep=2.0)
    return X.astype(np.float32), y.astype(np.int64)


def write_format(fmt, tmp_path, X, y):
    """Write X (and y where the format holds both) in one of the supported formats."""
    path = tmp_path / f"emb.{fmt}"
    if fmt == "npy":
        np.save(path, X)
        np.save(tmp_path / "labels.npy", y)
        return path, ["--labels", str(tmp_path / "labels.npy")]
    if fmt == "npz":
        np.savez(path, embeddings=X, labels=y)
    elif fmt == "pt":
        torch.save({"embeddings": torch.from_numpy(X), "labels": torch.from_numpy(y)}, path)
    elif fmt == "safetensors":
        from safetensors.torch import save_file

        save_file({"embeddings": torch.from_numpy(X), "labels": torch.from_numpy(y)}, str(path))
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({"embedding": list(X), "labels": [f"class-{v}" for v in y]})
        pq.write_table(table, path)
    elif fmt == "h5":
        import h5py

        with h5py.File(path, "w") as f:
            f["embeddings"] = X
            f["labels"] = y
    return path, []


@pytest.mark.parametrize("fmt", ["npy", "npz", "pt", "safetensors", "parquet", "h5"])
def test_analyze_every_format(fmt, tmp_path, data):
    X, y = data
    path, extra = write_format(fmt, tmp_path, X, y)
    out_json = tmp_path / "r.json"
    out_html = tmp_path / "r.html"
    res = runner.invoke(
        app,
        [
            "analyze",
            str(path),
            *extra,
            "--json",
            str(out_json),
            "--html",
            str(out_html),
            "--bootstrap",
            "0",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "Verdict:" in res.output
    report = json.loads(out_json.read_text())
    assert report["schema"] == "collapsekit-report/1"
    assert report["inputs"]["num_classes"] == 3  # labels found in the file or beside it
    assert report["metrics"]["linear_probe_accuracy"] > 0.9
    assert "<svg" in out_html.read_text()


@pytest.mark.parametrize("fmt", ["npy", "h5", "safetensors", "parquet"])
def test_cli_streams_files_and_equals_python(fmt, tmp_path, data):
    """Files stream batch by batch through the same engine as analyze(): every metric, its
    provenance and the verdict equal the in-memory Python call with the same sample size."""
    from collapsekit import analyze

    X, y = data
    path, extra = write_format(fmt, tmp_path, X, y)
    res = runner.invoke(
        app,
        [
            "analyze",
            str(path),
            *extra,
            "--sample-rows",
            "100",
            "--batch-size",
            "50",
            "--json",
            str(tmp_path / "r.json"),
            "--bootstrap",
            "0",
        ],
    )
    assert res.exit_code == 0, res.output
    streamed = json.loads((tmp_path / "r.json").read_text())
    labels = [f"class-{v}" for v in y] if fmt == "parquet" else y
    full = analyze(X, labels, bootstrap=0, sample_rows=100)
    assert set(streamed["metrics"]) == set(full.metrics)
    for key, value in full.metrics.items():
        # alpha-ReQ fits the smallest eigenvalues (ranks 11-12 of D = 12 here), where float32
        # products of different batch splits differ at 1e-6 of the largest eigenvalue
        rel = 1e-4 if key == "alpha_req" else 1e-6
        assert streamed["metrics"][key] == pytest.approx(value, rel=rel, abs=1e-12), key
    assert streamed["provenance"] == full.provenance
    assert streamed["provenance"]["nc1"].startswith("exact over all 240 rows")
    assert streamed["provenance"]["silhouette"].startswith("exact over all 240 rows")
    assert streamed["provenance"]["linear_probe_accuracy"].startswith("sample of 100 rows")
    assert streamed["verdict"]["label"] == full.verdict.label
    assert streamed["inputs"]["n"] == len(y)
    assert sum(streamed["inputs"]["class_counts"].values()) == len(y)


def test_compare_and_unpaired_refusal(tmp_path, data):
    X, y = data
    np.savez(tmp_path / "a.npz", embeddings=X, labels=y)
    Q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((12, 12)))
    np.savez(tmp_path / "b.npz", embeddings=(X @ Q).astype(np.float32), labels=y)
    res = runner.invoke(
        app,
        [
            "compare",
            str(tmp_path / "a.npz"),
            str(tmp_path / "b.npz"),
            "--json",
            str(tmp_path / "c.json"),
            "--html",
            str(tmp_path / "c.html"),
            "--bootstrap",
            "0",
        ],
    )
    assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "c.json").read_text())
    assert result["linear_cka"] == pytest.approx(1.0, abs=1e-5)  # a rotation is the same space
    assert result["verdict_a"] == result["verdict_b"]
    np.savez(tmp_path / "short.npz", embeddings=X[:100])
    res = runner.invoke(app, ["compare", str(tmp_path / "a.npz"), str(tmp_path / "short.npz")])
    assert res.exit_code == 2
    assert "unpaired" in res.output


def test_compare_reads_both_files_under_the_key(tmp_path, data):
    X, y = data
    np.savez(tmp_path / "a.npz", emb=X, labels=y)
    np.savez(tmp_path / "b.npz", emb=(2.0 * X).astype(np.float32), labels=y)
    out = tmp_path / "c.json"
    args = ["compare", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "--key", "emb"]
    res = runner.invoke(app, [*args, "--json", str(out), "--bootstrap", "0"])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["linear_cka"] == pytest.approx(1.0, abs=1e-5)
    # a second file without that key: the message names the file (and, for analyze, the option)
    np.savez(tmp_path / "other.npz", vectors=X)
    res = runner.invoke(app, [*args[:2], str(tmp_path / "other.npz"), "--key", "emb"])
    assert res.exit_code == 2 and "other.npz" in res.output
    analyze = ["analyze", str(tmp_path / "a.npz"), "--key", "emb", "--bootstrap", "0"]
    res = runner.invoke(app, [*analyze, "--reference", str(tmp_path / "b.npz")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, [*analyze, "--reference", str(tmp_path / "other.npz")])
    assert res.exit_code == 2
    assert res.output.startswith("collapsekit: error: --reference ") and "other.npz" in res.output


def test_unreadable_files_and_missing_folders_are_named_before_any_work(tmp_path, data):
    X, _ = data
    (tmp_path / "text.npy").write_text("1,2,3\n")
    res = runner.invoke(app, ["analyze", str(tmp_path / "text.npy")])
    assert res.exit_code == 2 and "not a NumPy .npy file" in res.output
    assert "pickled (object) data" not in res.output
    np.save(tmp_path / "e.npy", X)
    target = tmp_path / "missing" / "r.html"
    res = runner.invoke(app, ["analyze", str(tmp_path / "e.npy"), "--html", str(target)])
    assert res.exit_code == 2
    assert res.output.startswith(f"collapsekit: error: --html {target}: the folder")
    assert "verdict" not in res.output.lower()  # refused before the analysis ran


def test_track_writes_papyan_curves(tmp_path):
    from collapsekit.report.history import append_history

    for e in range(4):
        append_history(
            tmp_path / "history.jsonl", {"epoch": e, "nc1": 2.0**-e, "ncc_agreement": 0.9}
        )
    res = runner.invoke(app, ["track", str(tmp_path)])
    assert res.exit_code == 0, res.output
    page = (tmp_path / "tracking.html").read_text()
    assert "Within-class variability (NC1)" in page and "polyline" in page


def _bad_inputs(tmp_path, X, y):
    cases = {}
    (tmp_path / "corrupt.npy").write_bytes(b"\x93NUMPY garbage")
    cases["corrupt"] = (["analyze", str(tmp_path / "corrupt.npy")], "cannot read")
    np.save(tmp_path / "cube.npy", np.zeros((4, 3, 2), np.float32))
    cases["shape"] = (["analyze", str(tmp_path / "cube.npy")], "2-D")
    np.savez(tmp_path / "nokey.npz", feats=X)
    cases["key"] = (["analyze", str(tmp_path / "nokey.npz")], "key 'embeddings'")
    np.save(tmp_path / "e.npy", X)
    np.save(tmp_path / "short.npy", y[:10])
    cases["labels"] = (
        ["analyze", str(tmp_path / "e.npy"), "--labels", str(tmp_path / "short.npy")],
        "expected 240 labels",
    )
    bad = X.copy()
    bad[7, 3] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    cases["nan"] = (["analyze", str(tmp_path / "nan.npy")], "NaN or Inf")
    cases["missing"] = (["analyze", str(tmp_path / "absent.npy")], "no such file")
    (tmp_path / "e.txt").write_text("1 2 3")
    cases["suffix"] = (["analyze", str(tmp_path / "e.txt")], "expected one of")
    cases["track"] = (["track", str(tmp_path / "absent")], "no such file")
    return cases


@pytest.mark.parametrize(
    "case", ["corrupt", "shape", "key", "labels", "nan", "missing", "suffix", "track"]
)
def test_bad_inputs_one_line_exit_2(case, tmp_path, data):
    args, expected = _bad_inputs(tmp_path, *data)[case]
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert expected in res.output
    assert "Traceback" not in res.output
    assert res.output.strip().count("\n") == 0 or len(res.output.strip().splitlines()) <= 3


def test_subprocess_error_is_one_line_on_stderr(tmp_path, data):
    X, _ = data
    bad = X.copy()
    bad[0] = np.inf
    np.save(tmp_path / "inf.npy", bad)
    proc = subprocess.run(
        [sys.executable, "-m", "collapsekit", "analyze", str(tmp_path / "inf.npy")],
        capture_output=True,
        text=True,
        env={"COLUMNS": "400", "PATH": "", "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    # the rows' problem named by the file it is in, in the file's terms
    first = f"collapsekit: error: {tmp_path / 'inf.npy'}: expected finite values"
    assert len(lines) == 1 and lines[0].startswith(first), proc.stderr
    assert "(row indices 0)" in lines[0] and "before calling" not in lines[0]
    assert proc.stdout == ""
    debug = subprocess.run(
        [sys.executable, "-m", "collapsekit", "--debug", "analyze", str(tmp_path / "inf.npy")],
        capture_output=True,
        text=True,
    )
    assert "Traceback" in debug.stderr


def test_subprocess_analyze_succeeds(tmp_path, data):
    X, y = data
    np.savez(tmp_path / "e.npz", embeddings=X, labels=y)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "collapsekit",
            "analyze",
            str(tmp_path / "e.npz"),
            "--json",
            str(tmp_path / "r.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "r.json").read_text())["verdict"]["label"]


def test_progress_counts_name_their_unit_and_never_show_none():
    from collapsekit.cli.main import progress_bar, progress_count

    assert progress_count("baseline", 2, 4) == "2/4 steps"
    assert progress_count("bootstrap", 25, 200) == "25/200 resamples"
    assert progress_count("pass 1", 300, None) == "300 rows"
    with progress_bar("x") as update:  # no terminal: the display is off, updates still work
        update("pass 1", 10, None)
        update("bootstrap", 200, 200)
