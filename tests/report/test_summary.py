"""A report in plain text and as rows: ``str(report)`` (a short summary), the one-line
``repr(report)``, ``report.rows()`` and ``report.to_pandas()`` (pandas optional)."""

from __future__ import annotations

import math
import sys

import pytest

import collapsekit as ck
from collapsekit.report.report import Report
from collapsekit.report.summary import MAX_LINES, furthest_from_baseline
from collapsekit.verdict import Evidence, Finding, Verdict
from collapsekit.verdict.text import WIDTH
from references import blobs


@pytest.fixture(scope="module")
def report() -> Report:
    X, y = blobs(240, 6, 16, seed=0)
    return ck.analyze(X, y, bootstrap=8, seed=0)


def test_str_is_a_short_summary_of_the_verdict_and_where_to_look(report: Report) -> None:
    lines = str(report).splitlines()
    assert len(lines) <= MAX_LINES
    assert max(map(len, lines)) <= WIDTH
    assert f"Verdict: {report.verdict.label}" in lines
    for e in report.verdict.evidence[:6]:
        assert any(line.strip().startswith(f"{e.metric} =") for line in lines), e.metric
    nxt = lines.index("Where to look next:")
    assert any("to_html" in line for line in lines[nxt:])
    top = furthest_from_baseline(report)
    assert top, "blobs give metrics with a positive baseline"
    assert lines[nxt + 1].startswith(f"  {top[0][0]} = ")


def test_str_stays_short_with_many_findings_and_long_class_names(report: Report) -> None:
    names = tuple("class_" + "x" * 60 + str(i) for i in range(500))
    crowded = Verdict(
        "class collapse",
        "s " * 400,
        evidence=[Evidence("t" * 150, 1.0, 2.0, "r", True, 1.0, "class collapse")] * 30,
        findings=[Finding("collapsed class", names, {"reason": "r" * 300})] * 30,
        tests_not_run=["n" * 200] * 30,
    )
    r = Report(report.metrics, crowded, inputs=report.inputs, baseline=report.baseline)
    lines = str(r).splitlines()
    assert len(lines) <= MAX_LINES
    assert max(map(len, lines)) <= WIDTH


def test_repr_is_one_short_line(report: Report) -> None:
    text = repr(report)
    assert "\n" not in text and len(text) < 160
    assert text == (
        f"Report(verdict={report.verdict.label!r}, n={report.inputs['n']!r}, "
        f"d={report.inputs['d']!r}, classes={report.inputs['num_classes']!r}, "
        f"metrics=<{len(report.metrics)} keys>)"
    )


def test_furthest_from_baseline_ranks_by_log_ratio(report: Report) -> None:
    top = furthest_from_baseline(report, top=3)
    scores = [abs(math.log(v / b)) for _, v, b in top]
    assert scores == sorted(scores, reverse=True)
    shown = {k for k, _, _ in top}
    for key, value in report.metrics.items():
        base = report.baseline.get(key, math.nan)
        if key not in shown and value > 0 and base > 0 and math.isfinite(value * base):
            assert abs(math.log(value / base)) <= scores[-1]


def test_rows_hold_every_metric_with_its_interval_baseline_and_provenance(report: Report) -> None:
    rows = report.rows()
    assert [r["metric"] for r in rows] == list(report.metrics)
    assert set(rows[0]) == {"metric", "value", "low", "high", "isotropic", "provenance"}
    for r in rows:
        key = r["metric"]
        assert r["value"] == report.metrics[key] or math.isnan(r["value"])
        if key in report.intervals:
            assert (r["low"], r["high"]) == tuple(report.intervals[key])
        else:
            assert math.isnan(r["low"]) and math.isnan(r["high"])
        if key in report.baseline:
            assert r["isotropic"] == report.baseline[key] or math.isnan(r["isotropic"])
        else:
            assert math.isnan(r["isotropic"])
        assert r["provenance"] == report.provenance.get(key)
    assert any(r["metric"] in report.intervals for r in rows)


def test_to_pandas_without_pandas_says_how_to_install_it(
    report: Report, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    with pytest.raises(ImportError, match="pip install pandas"):
        report.to_pandas()


def test_to_pandas_is_the_rows_as_a_frame(report: Report) -> None:
    pd = pytest.importorskip("pandas")
    frame = report.to_pandas()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["metric", "value", "low", "high", "isotropic", "provenance"]
    assert frame["metric"].tolist() == list(report.metrics)
