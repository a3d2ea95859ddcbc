"""A :class:`~collapsekit.report.report.Report` in plain text and as rows: the short summary of
``str(report)``, the one-line ``repr(report)`` and the per-metric rows of ``report.rows()`` /
``report.to_pandas()``."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from collapsekit.verdict.text import clip, short_number, verdict_lines

if TYPE_CHECKING:
    from collapsekit.report.report import Report

#: most lines of ``str(report)``
MAX_LINES = 40


def furthest_from_baseline(report: Report, top: int = 3) -> list[tuple[str, float, float]]:
    """The ``top`` metrics furthest from their isotropic baseline, as ``(metric, value,
    baseline)``, ranked by ``|log(value / baseline)|`` (only metrics whose value and baseline are
    both positive and finite: a ratio of signed values means nothing).

    Example:
        >>> from collapsekit.report.report import Report
        >>> from collapsekit.verdict import Verdict
        >>> r = Report({"a": 2.0, "b": 50.0, "c": -1.0}, Verdict("healthy", ""),
        ...            baseline={"a": 1.0, "b": 100.0, "c": 0.5})
        >>> furthest_from_baseline(r)
        [('a', 2.0, 1.0), ('b', 50.0, 100.0)]
    """
    scored = []
    for key, value in report.metrics.items():
        v, b = float(value), float(report.baseline.get(key, math.nan))
        if math.isfinite(v) and math.isfinite(b) and v > 0 and b > 0:
            scored.append((abs(math.log(v / b)), key, v, b))
    scored.sort(key=lambda s: -s[0])
    return [(key, value, base) for _, key, value, base in scored[:top]]


def _header(report: Report) -> str:
    inp = report.inputs or {}
    return clip(
        f"collapsekit report: N = {inp.get('n', '-')}, D = {inp.get('d', '-')}, classes = "
        f"{inp.get('num_classes', '-')}, {len(report.metrics)} metrics"
    )


def report_lines(report: Report) -> list[str]:
    """``str(report)``: the input sizes, the verdict (label, summary, deciding tests, findings,
    tests not run) and where to look next (the metrics furthest from their isotropic baseline,
    the HTML page, the table of every metric); at most :data:`MAX_LINES` lines of at most 120
    characters.

    Example:
        >>> from collapsekit.report.report import Report
        >>> from collapsekit.verdict import Verdict
        >>> print(report_lines(Report({"x": 1.0}, Verdict("healthy", "ok")))[1])
        Verdict: healthy
    """
    lines = [_header(report), *verdict_lines(report.verdict, max_items=6)]
    lines.append("Where to look next:")
    for key, value, base in furthest_from_baseline(report):
        ratio = value / base
        lines.append(
            clip(
                f"  {key} = {short_number(value)} vs isotropic {short_number(base)} "
                f"({short_number(ratio)}x the baseline)"
            )
        )
    lines.append("  report.to_html('report.html'): the full page (plots, evidence, reference)")
    lines.append("  report.to_pandas() / report.rows(): every metric with interval and baseline")
    if len(lines) > MAX_LINES:
        lines = [*lines[: MAX_LINES - 1], f"(+{len(lines) - MAX_LINES + 1} more lines)"]
    return lines


def report_repr(report: Report) -> str:
    """``repr(report)`` on one line: verdict label, N, D, classes and the number of metrics.

    Example:
        >>> from collapsekit.report.report import Report
        >>> from collapsekit.verdict import Verdict
        >>> report_repr(Report({"x": 1.0}, Verdict("healthy", ""), inputs={"n": 10, "d": 4}))
        "Report(verdict='healthy', n=10, d=4, classes=None, metrics=<1 keys>)"
    """
    inp = report.inputs or {}
    return (
        f"Report(verdict={report.verdict.label!r}, n={inp.get('n')!r}, d={inp.get('d')!r}, "
        f"classes={inp.get('num_classes')!r}, metrics=<{len(report.metrics)} keys>)"
    )


def metric_rows(report: Report) -> list[dict[str, Any]]:
    """One dict per metric: ``metric``, ``value``, ``low`` / ``high`` (the bootstrap interval,
    NaN where none was computed), ``isotropic`` (the baseline, NaN where none) and
    ``provenance`` (how it was computed, None where the report does not say).

    Example:
        >>> from collapsekit.report.report import Report
        >>> from collapsekit.verdict import Verdict
        >>> r = Report({"x": 1.0}, Verdict("healthy", ""), intervals={"x": (0.5, 1.5)},
        ...            provenance={"x": "exact"})
        >>> [(k, v) for k, v in metric_rows(r)[0].items() if k != "isotropic"]
        [('metric', 'x'), ('value', 1.0), ('low', 0.5), ('high', 1.5), ('provenance', 'exact')]
    """
    rows = []
    for key, value in report.metrics.items():
        low, high = report.intervals.get(key, (math.nan, math.nan))
        rows.append(
            {
                "metric": key,
                "value": float(value),
                "low": float(low),
                "high": float(high),
                "isotropic": float(report.baseline.get(key, math.nan)),
                "provenance": report.provenance.get(key),
            }
        )
    return rows


def metric_frame(report: Report) -> Any:
    """:func:`metric_rows` as a ``pandas.DataFrame`` (pandas imported here, so collapsekit does
    not need it); ImportError naming ``pip install pandas`` when it is missing."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(
            "Report.to_pandas needs pandas, which is not installed: run `pip install pandas`, "
            "or use report.rows() (the same rows as a list of dicts) without it"
        ) from None
    return pd.DataFrame(
        metric_rows(report), columns=["metric", "value", "low", "high", "isotropic", "provenance"]
    )


__all__ = [
    "MAX_LINES",
    "furthest_from_baseline",
    "metric_frame",
    "metric_rows",
    "report_lines",
    "report_repr",
]
