"""What build_report puts in a Report besides the metrics: the whole spectrum and both
class-mean cosine matrices (centred: the neural-collapse view; uncentred)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from collapsekit import analyze
from collapsekit.report.report import Report


def _simplex(
    k: int, d: int, n_per: int, offset: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Rows at the K vertices of a simplex ETF (random rotation, tiny noise) plus a common
    offset: the centred class means are exactly at cosine -1/(K-1), the uncentred are not."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((d, k)))
    etf = (np.eye(k) - 1.0 / k) @ basis.T * 5.0
    y = np.repeat(np.arange(k), n_per)
    x = etf[y] + offset * rng.standard_normal(d) + 0.01 * rng.standard_normal((len(y), d))
    return x, y


def test_centred_cosines_of_a_simplex_are_minus_one_over_k_minus_one() -> None:
    k = 5
    x, y = _simplex(k, 24, 20, offset=3.0)
    report = analyze(x, y, bootstrap=0, seed=0)
    centred = np.array(report.class_mean_cosine_centred)
    off = centred[~np.eye(k, dtype=bool)]
    assert np.allclose(np.diag(centred), 1.0)
    assert np.allclose(off, -1.0 / (k - 1), atol=0.01)
    uncentred = np.array(report.centroid_cosine)
    assert report.class_mean_cosine_uncentred is report.centroid_cosine
    assert uncentred[~np.eye(k, dtype=bool)].min() > 0.3  # the shared offset pulls toward +1


def test_json_names_both_matrices_and_keeps_the_old_key(tmp_path) -> None:
    x, y = _simplex(3, 12, 10, offset=1.0)
    report = analyze(x, y, bootstrap=0, seed=0)
    data = json.loads(report.to_json())
    assert data["class_mean_cosine_uncentred"] == data["centroid_cosine"]
    assert data["class_mean_cosine_centred"][0][1] == pytest.approx(-0.5, abs=0.01)
    back = Report.from_json(report.to_json())
    assert np.allclose(back.class_mean_cosine_centred, report.class_mean_cosine_centred)
    assert np.allclose(back.centroid_cosine, report.centroid_cosine)
    # a report written before the centred matrix existed still reads
    del data["class_mean_cosine_centred"], data["class_mean_cosine_uncentred"]
    old = Report.from_json(json.dumps(data))
    assert old.class_mean_cosine_centred is None
    assert np.allclose(old.centroid_cosine, report.centroid_cosine)


def test_the_spectrum_keeps_every_value_past_512() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((700, 600))
    report = analyze(x, bootstrap=0, seed=0)
    assert len(report.spectrum["data"]) == 600
    assert len(report.spectrum["isotropic"]) == 600
    assert sum(report.spectrum["data"]) == pytest.approx(1.0)
    assert len(json.loads(report.to_json())["spectrum"]["data"]) == 600
    assert "all 600 singular values" in report.to_html()
