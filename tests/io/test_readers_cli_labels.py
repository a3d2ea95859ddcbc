"""Label files: fractional float labels are refused as the Python API refuses them."""

import numpy as np
import pytest
from typer.testing import CliRunner

from collapsekit import analyze
from collapsekit.cli.main import app
from collapsekit.io.readers import InputError, read_labels


def test_fractional_float_labels_refused(tmp_path):
    y = np.array([0.0, 1.0, 0.5, 2.0] * 5)
    path = tmp_path / "y.npy"
    np.save(path, y)
    with pytest.raises(InputError, match=r"expected integer class labels.*row 2"):
        read_labels(path, y.size)
    with pytest.raises(ValueError, match="expected integer class labels"):  # the Python API
        analyze(np.random.default_rng(0).standard_normal((20, 4)), y)
    emb = tmp_path / "x.npy"
    np.save(emb, np.random.default_rng(0).standard_normal((20, 4)).astype(np.float32))
    res = CliRunner().invoke(app, ["analyze", str(emb), "-l", str(path)])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "expected integer class labels" in lines[0]


def test_integral_float_labels_still_read(tmp_path):
    path = tmp_path / "y.npy"
    np.save(path, np.array([0.0, 2.0, 1.0]))
    codes, names = read_labels(path, 3)
    assert codes.tolist() == [0, 2, 1] and names is None
