"""Thresholds: frozen, validated, parsed from the CLI, echoed in the report."""

from __future__ import annotations

import dataclasses

import pytest

from collapsekit import analyze
from collapsekit.report.report import Report
from collapsekit.verdict import (
    THRESHOLDS,
    Thresholds,
    Verdict,
)
from references import blobs


def test_thresholds_are_frozen_and_replace_validates():
    with pytest.raises(dataclasses.FrozenInstanceError):
        THRESHOLDS.neural_nc1 = 0.5  # type: ignore[misc]
    t = THRESHOLDS.replace(neural_nc1=0.05)
    assert t.neural_nc1 == 0.05 and THRESHOLDS.neural_nc1 == 0.1
    with pytest.raises(TypeError, match="unknown name"):
        THRESHOLDS.replace(bogus=1.0)
    with pytest.raises(ValueError, match="merged_alpha"):
        Thresholds(merged_alpha=1.5)
    with pytest.raises(ValueError, match="complete_spread_ratio"):
        Thresholds(complete_spread_ratio=-1.0)


def test_thresholds_from_strings_parses_and_names_errors():
    t = Thresholds.from_strings(["neural_nc1=0.05", "merged-alpha = 1e-3"])
    assert (t.neural_nc1, t.merged_alpha) == (0.05, 1e-3)
    assert Thresholds.from_strings("dimensional_rank_ratio=0.2").dimensional_rank_ratio == 0.2
    with pytest.raises(ValueError, match=r"--threshold: expected name=value"):
        Thresholds.from_strings(["neural_nc1"])
    with pytest.raises(ValueError, match=r"--threshold: unknown name 'nc1'"):
        Thresholds.from_strings(["nc1=0.1"])
    with pytest.raises(ValueError, match=r"--threshold neural_nc1: expected a number"):
        Thresholds.from_strings(["neural_nc1=low"])
    with pytest.raises(ValueError, match=r"--threshold: .*merged_alpha"):
        Thresholds.from_strings(["merged_alpha=2"])


def test_thresholds_echoed_in_report_and_change_the_verdict(tmp_path):
    X, y = blobs(200, 4, 16, seed=1, sep=0.6)
    strict = Thresholds(class_silhouette_margin=0.99)  # any silhouette short of 1 "collapses"
    report = analyze(X, y, bootstrap=0, probe=False, thresholds=strict)
    assert report.verdict.thresholds["class_silhouette_margin"] == 0.99
    assert report.verdict.label == "class collapse"
    back = Report.from_json(report.to_json())
    assert back.verdict.thresholds == strict.to_dict()
    assert Verdict.from_dict(report.verdict.to_dict()) == report.verdict
