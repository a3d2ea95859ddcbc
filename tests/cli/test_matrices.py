"""The matrices the command reads whole: --ood adds NC5 and NECO as in Python, --no-probe skips
the probe, and every mistyped weights / bias / OoD option gives one line naming the option."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import collapsekit as ck
from collapsekit.cli.main import app
from collapsekit.cli.matrices import check_weights_width, describe_matrices
from references import blobs

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("matrices")
    X, y = blobs(240, 3, 8, seed=4, sep=2.0)
    X = X.astype(np.float32)
    rng = np.random.default_rng(5)
    W = rng.standard_normal((3, 8)).astype(np.float32)
    O = rng.standard_normal((40, 8)).astype(np.float32)
    np.save(tmp / "emb.npy", X)
    np.save(tmp / "y.npy", y)
    np.save(tmp / "WT.npy", W.T.copy())
    np.save(tmp / "W5.npy", W[:, :5].copy())
    np.save(tmp / "ood.npy", O)
    np.save(tmp / "ood5.npy", O[:, :5].copy())
    np.savez(tmp / "ood.npz", feats=O)
    np.savez(tmp / "two.npz", a=O, b=O)
    state = {"fc.weight": torch.from_numpy(W), "fc.bias": torch.zeros(3), "step": torch.ones(1)}
    torch.save(state, tmp / "ckpt.pt")
    return tmp, X, y, W, O


def _analyze(tmp, *args):
    return runner.invoke(app, ["analyze", str(tmp / "emb.npy"), "--bootstrap", "0", *args])


def test_ood_gives_nc5_and_neco_as_python(files):
    tmp, X, y, _, O = files
    out = tmp / "ood.json"
    ood = str(tmp / "ood.npz")
    res = _analyze(tmp, "-l", str(tmp / "y.npy"), "--ood", ood, "--no-probe", "--json", str(out))
    assert res.exit_code == 0, res.output
    assert "ood_orthogonality" in res.output and "neco_ood_mean" in res.output
    metrics = json.loads(out.read_text())["metrics"]
    ref = ck.analyze(X, y, ood_features=O, bootstrap=0, probe=False).metrics
    for key in ("ood_orthogonality", "neco_ood_mean", "neco_id_mean"):
        assert metrics[key] == pytest.approx(ref[key], rel=1e-9, abs=1e-12), key


def test_no_probe_skips_the_probe_and_says_so(files):
    tmp = files[0]
    out = tmp / "no-probe.json"
    res = _analyze(tmp, "-l", str(tmp / "y.npy"), "--json", str(out), "--no-probe")
    assert res.exit_code == 0, res.output
    assert "linear probe skipped: turned off" in res.output
    report = json.loads(out.read_text())
    assert "linear_probe_accuracy" not in report["metrics"] and "nc1" in report["metrics"]
    assert any("turned off" in note for note in report["inputs"]["notes"])


def _mistakes(tmp):
    y = ["-l", str(tmp / "y.npy")]
    ckpt = ["-w", str(tmp / "ckpt.pt")]
    return {
        "checkpoint without --weights-key": (ckpt, ["--weights-key", "fc.weight (3 x 8)"]),
        "misspelt --weights-key": (
            [*ckpt, "--weights-key", "fc.wieght"],
            ["--weights-key", "'fc.wieght'", "fc.weight (3 x 8)"],
        ),
        "transposed weights": (["-w", str(tmp / "WT.npy")], ["received shape 8 x 3", "transpose"]),
        "weights of another width": (["-w", str(tmp / "W5.npy")], ["D = 8 columns", "3 x 5"]),
        "misspelt --bias entry": (
            [*ckpt, "--weights-key", "fc.weight", "--bias", "fc.bais"],
            ["--bias", "'fc.bais'", "fc.bias"],
        ),
        "OoD of another width": ([*y, "--ood", str(tmp / "ood5.npy")], ["--ood", "8 columns"]),
        "OoD without labels": (["--ood", str(tmp / "ood.npy")], ["--ood", "--labels"]),
        "OoD file missing": ([*y, "--ood", str(tmp / "gone.npy")], ["--ood", "no such file"]),
        "OoD file with two arrays": ([*y, "--ood", str(tmp / "two.npz")], ["--ood", "--key"]),
    }


@pytest.mark.parametrize(
    "case",
    [
        "checkpoint without --weights-key",
        "misspelt --weights-key",
        "transposed weights",
        "weights of another width",
        "misspelt --bias entry",
        "OoD of another width",
        "OoD without labels",
        "OoD file missing",
        "OoD file with two arrays",
    ],
)
def test_a_mistyped_option_gives_one_line_naming_it(files, case):
    args, expected = _mistakes(files[0])[case]
    res = _analyze(files[0], *args)
    assert res.exit_code == 2, res.output
    text = res.output.strip()
    assert len(text.splitlines()) == 1 and "Traceback" not in text, text
    assert text.startswith("collapsekit: error:")
    for fragment in expected:
        assert fragment in text, (fragment, text)
    assert "--key / --labels-key" not in text and "given at construction" not in text


def test_weights_width_check_and_entry_listing():
    check_weights_width((10, 64), 64, "W.npy")
    with pytest.raises(ValueError, match="looks transposed"):
        check_weights_width((64, 10), 64, "W.npy")
    with pytest.raises(ValueError, match="another layer") as info:
        check_weights_width((10, 32), 64, "W.npy")
    assert "looks transposed" not in str(info.value)
    many = {f"layer{i}.weight": np.zeros((2, i + 1)) for i in range(10)}
    listed = describe_matrices({**many, "bias": np.zeros(3)})
    assert listed.startswith("layer0.weight (2 x 1)") and listed.endswith("and 2 more")
    assert describe_matrices({"bias": np.zeros(3)}) == "none"
