"""CLI details: --version, --debug anywhere, a help text for every option, no hard wrap when
piped, one number format, classifier weights and bias from a checkpoint, --class-names."""

import json
import re
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
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    X, y = blobs(300, 3, 8, seed=1, sep=2.0)
    X = X.astype(np.float32)
    np.save(tmp / "emb.npy", X)
    np.save(tmp / "y.npy", y)
    means = np.stack([X[y == c].mean(0) for c in range(3)])
    W = (means - means.mean(0) + 0.5 * np.random.default_rng(2).standard_normal((3, 8))).astype(
        np.float32
    )
    torch.save(
        {"fc.weight": torch.from_numpy(W), "fc.bias": torch.zeros(3), "other": torch.ones(2)},
        tmp / "ckpt.pt",
    )
    names = np.array(["zebra", "ant", "moth"])[y]
    (tmp / "names.txt").write_text("\n".join(names) + "\n")
    (tmp / "order.txt").write_text("zebra\nant\nmoth\n")
    return tmp, X, y, W


def test_version_and_debug_anywhere(files):
    from collapsekit import __version__

    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and __version__ in res.output
    tmp = files[0]
    proc = subprocess.run(
        [sys.executable, "-m", "collapsekit", "analyze", str(tmp / "absent.npy"), "--debug"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "Traceback" in proc.stderr


@pytest.mark.parametrize("command", ["analyze", "compare", "track", "demo"])
def test_every_option_has_help_and_no_bool_placeholders(command):
    res = runner.invoke(app, [command, "--help"])
    assert res.exit_code == 0
    assert "<bool>" not in res.output
    options = re.findall(r"^\s+(?:-\w, )?(--[\w-]+)(.*)$", res.output, flags=re.M)
    assert options
    for name, rest in options:
        if name == "--help":
            continue
        # the description follows on the same line or the next ones
        assert rest.strip() or name in res.output, name
    import click
    from typer.main import get_command

    cmd = get_command(app).commands[command]  # type: ignore[attr-defined]
    for param in cmd.params:
        if isinstance(param, click.Option):
            assert param.help, f"{command} {param.opts} has no help text"


def test_piped_output_is_not_wrapped_and_numbers_have_four_digits(files):
    tmp = files[0]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "collapsekit",
            "analyze",
            str(tmp / "emb.npy"),
            "--labels",
            str(tmp / "y.npy"),
            "--bootstrap",
            "0",
        ],
        capture_output=True,
        text=True,
        env={"COLUMNS": "80", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(len(line) > 80 for line in lines)  # the verdict summary is one line
    summary = next(line for line in lines if line.startswith("Terminal-phase") or len(line) > 100)
    assert summary
    table_numbers = re.findall(r"│\s*(-?[0-9.]+(?:e[+-]\d+)?)\s*│", proc.stdout)
    for text in table_numbers:
        digits = re.sub(r"e[+-]\d+$", "", text).replace("-", "").replace(".", "").lstrip("0")
        assert len(digits) <= 4, text


def test_weights_and_bias_from_a_checkpoint(files):
    tmp, X, y, W = files
    out = tmp / "ck.json"
    res = runner.invoke(
        app,
        [
            "analyze",
            str(tmp / "emb.npy"),
            "--labels",
            str(tmp / "y.npy"),
            "--weights",
            str(tmp / "ckpt.pt"),
            "--weights-key",
            "fc.weight",
            "--bias",
            "fc.bias",
            "--json",
            str(out),
            "--bootstrap",
            "0",
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 0, res.output
    metrics = json.loads(out.read_text())["metrics"]
    from collapsekit import neural_collapse

    ref = neural_collapse(X, y, weights=W, bias=np.zeros(3))
    assert metrics["ncc_agreement"] == pytest.approx(ref["ncc_agreement"])
    assert metrics["self_duality"] == pytest.approx(ref["self_duality"], rel=1e-6)
    res = runner.invoke(
        app,
        [
            "analyze",
            str(tmp / "emb.npy"),
            "--weights",
            str(tmp / "ckpt.pt"),
            "--weights-key",
            "nope",
        ],
    )
    assert res.exit_code == 2 and "nope" in res.output


def test_named_labels_with_weights_need_class_names(files):
    tmp, X, y, W = files
    args = [
        "analyze",
        str(tmp / "emb.npy"),
        "--labels",
        str(tmp / "names.txt"),
        "--weights",
        str(tmp / "ckpt.pt"),
        "--weights-key",
        "fc.weight",
        "--bootstrap",
        "0",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "--class-names" in res.output
    out = tmp / "named.json"
    res = runner.invoke(app, [*args, "--class-names", str(tmp / "order.txt"), "--json", str(out)])
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text())
    assert report["inputs"]["class_names"] == ["zebra", "ant", "moth"]
    from collapsekit import neural_collapse

    ref = neural_collapse(X, y, weights=W)
    assert report["metrics"]["ncc_agreement"] == pytest.approx(ref["ncc_agreement"])
