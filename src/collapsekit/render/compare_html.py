"""The HTML page of a :class:`~collapsekit.report.compare.Comparison`: both verdicts with their
evidence, the metric table with a change column, the paired CKA and both spectra."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from collapsekit.render.html import _num, _page, _verdict_class, evidence_table
from collapsekit.render.svg import esc, line_chart
from collapsekit.render.verdict_html import nc_properties_table

if TYPE_CHECKING:
    from collapsekit.report.compare import Comparison, MetricChange
    from collapsekit.report.report import Report


def _interval(ci: tuple[float, float] | None) -> str:
    return f"[{_num(ci[0])}, {_num(ci[1])}]" if ci else "–"


def _change_cell(c: MetricChange) -> str:
    """The delta and relative change, with an arrow for its sign (rose, fell) and, when it
    moved in the metric's collapse direction, a "toward collapse" tag: an amber mark, not red,
    since moving toward neural collapse is what training a classifier is expected to do."""
    relative = "" if c.relative is None else f" ({_num(100 * c.relative)}%)"
    sign = "+" if c.delta > 0 else ""
    arrow = " &#9650;" if c.delta > 0 else " &#9660;" if c.delta < 0 else ""
    text = f"{sign}{_num(c.delta)}{relative}{arrow}"
    if c.toward_collapse:
        return f"<td class='toward'>{text} <span class='tag'>toward collapse</span></td>"
    return f"<td>{text}</td>"


def _table(changes: list[MetricChange]) -> str:
    """The metric table: metric, the change, A, B, then both intervals when either report
    has any (the change next to the metric's name: in view on a phone)."""
    intervals = any(c.interval_before or c.interval_after for c in changes)
    head = "<th>metric</th><th>change (B &minus; A)</th><th>A</th><th>B</th>"
    if intervals:
        head += "<th>A interval</th><th>B interval</th>"
    rows = "".join(
        f"<tr><td>{esc(c.key)}</td>{_change_cell(c)}<td>{_num(c.before)}</td>"
        f"<td>{_num(c.after)}</td>"
        + (
            f"<td>{_interval(c.interval_before)}</td><td>{_interval(c.interval_after)}</td>"
            if intervals
            else ""
        )
        + "</tr>"
        for c in changes
    )
    note = (
        "&#9650; / &#9660;: the value rose / fell. <i>toward collapse</i>: it moved in the "
        "metric's collapse direction (docs/metrics.md). For the neural-collapse metrics that "
        "is toward the terminal-phase geometry, expected late in training a classifier."
    )
    if not intervals:
        note += " No bootstrap intervals: neither report has them (bootstrap=0, or N > 500)."
    return f"<table id='compare-table'><tr>{head}</tr>{rows}</table><p class='muted'>{note}</p>"


def _cka_line(c: Comparison) -> str:
    if c.linear_cka is None:
        return (
            "<p>Linear CKA (A vs B): not computed. It needs both embeddings of the same rows: "
            "<code>collapsekit compare</code> computes it from the two files; in Python pass "
            "<code>linear_cka=</code> to <code>compare</code>.</p>"
        )
    return (
        f"<p>Linear CKA (A vs B): <b>{_num(c.linear_cka)}</b>; debiased: "
        f"{_num(c.linear_cka_debiased)}</p>"
    )


def _spectra(names: tuple[str, str], reports: tuple[Report, Report]) -> str:
    series: dict[str, Any] = {}
    for tag, name, report in zip(("A", "B"), names, reports, strict=True):
        data = report.spectrum.get("data")
        if data:
            series[f"{tag}: {name}"] = (range(1, len(data) + 1), data)
    if not series:
        return ""
    return line_chart(
        series,
        "Singular-value spectra",
        "singular-value index",
        "share of singular-value mass",
        log_y=True,
    )


def _verdict_section(tag: str, name: str, report: Report) -> str:
    v = report.verdict
    return (
        f"<div><h2>{tag}: {esc(name)}</h2>"
        f"<div class='verdict {_verdict_class(v.label)}'>{esc(v.label)}</div>"
        f"<p>{esc(v.summary)}</p>{evidence_table(v, f'evidence-{tag.lower()}')}"
        f"{nc_properties_table(v)}</div>"
    )


def render_compare(comparison: Comparison) -> str:
    """Side-by-side page of a comparison (``Comparison.to_html``, ``collapsekit compare``).

    Every name and label is escaped; a change toward collapse (the registry's ``bad``
    direction) carries a "toward collapse" tag, and an arrow gives each change's sign.
    """
    c = comparison
    state = "changed" if c.verdict_changed else "unchanged"
    body = (
        "<h1>collapsekit compare</h1>"
        f"<p>A = {esc(c.name_before)}<br>B = {esc(c.name_after)}</p>"
        f"<div id='verdict' class='verdict {_verdict_class(c.verdict_after)}'>Verdict: "
        f"{esc(c.verdict_before)} &rarr; <b>{esc(c.verdict_after)}</b> ({state})</div>"
        + _cka_line(c)
        + _table(c.changes)
        + "<div class='grid'>"
        + _verdict_section("A", c.name_before, c.before)
        + _verdict_section("B", c.name_after, c.after)
        + "</div><div class='grid'>"
        + _spectra((c.name_before, c.name_after), (c.before, c.after))
        + "</div>"
    )
    return _page("collapsekit compare", body)


__all__ = ["render_compare"]
