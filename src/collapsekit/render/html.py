"""Self-contained HTML rendering of a :class:`Report` and of a training history."""

from __future__ import annotations

import html
import math
import re
from typing import TYPE_CHECKING, Any, cast

from collapsekit.metrics import keys
from collapsekit.render.axes import is_number
from collapsekit.render.figure_data import (
    class_names,
    per_class_ranks,
    spectrum_series,
    tracking_panels,
)
from collapsekit.render.findings_html import render_findings
from collapsekit.render.markdown import markdown_html
from collapsekit.render.metric_docs import doc_anchor, doc_section
from collapsekit.render.svg import RefLine, bar_chart, esc, line_chart
from collapsekit.render.svg_heatmap import heatmap
from collapsekit.render.verdict_html import evidence_table, nc_properties_table
from collapsekit.render.verdict_html import number_text as _num
from collapsekit.verdict import merged_pairs

if TYPE_CHECKING:
    from collapsekit.report.report import Report

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1180px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;
font-size:13px;text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.verdict{font-size:1.3em;padding:.6em 1em;border-radius:6px;display:inline-block}
.v-healthy{background:#e3f6e3}.v-collapse{background:#fde2e2}.v-neural{background:#e4ecfb}
.fired{font-weight:bold;background:#e8eefc}.tag{background:#fff1c2;color:#6b4a00;
border-radius:3px;padding:0 .35em;font-size:11px;white-space:nowrap}td.toward{background:#fffbea}
.grid{display:flex;flex-wrap:wrap;gap:1em}
.muted{color:#777;font-size:12px}.how{color:#555;font-size:12px;text-align:left}th.how{text-align:left}
#findings li{margin:.2em 0}figure{margin:0}figcaption{max-width:420px}.cls{font-weight:600}
.scroll{overflow-x:auto;max-width:100%;background:linear-gradient(to right,#fff 30%,#fff0),
linear-gradient(to right,#fff0,#fff 70%) 100% 0,radial-gradient(farthest-side at 0 50%,#0003,#0000),
radial-gradient(farthest-side at 100% 50%,#0003,#0000) 100% 0;background-repeat:no-repeat;
background-size:40px 100%,40px 100%,12px 100%,12px 100%;
background-attachment:local,local,scroll,scroll}
svg{max-width:100%;height:auto}pre{overflow-x:auto}
.grid>*{min-width:0;max-width:100%}p,li,h1,h2,h3{overflow-wrap:anywhere}
td{white-space:nowrap}td.rule,td.how,table.md td{white-space:normal}td.rule{min-width:24em}
table.evidence td:nth-child(2),table.evidence th:nth-child(2){text-align:left}
td.how{min-width:12em}td.test{white-space:normal;min-width:12em;max-width:16em;
overflow-wrap:anywhere}@media (max-width:600px){td.test{min-width:8em}}
table.md td{min-width:8em}.grid{align-items:flex-start}.ref{max-width:52em}
td.rule,th.rule,table.md td,table.md th{text-align:left}code{background:#f4f4f4;padding:0 .2em;
border-radius:3px;font-size:.92em}pre{background:#f7f7f7;padding:.5em}.ref h3{margin-bottom:.2em}
"""

#: the viewport meta: phones lay the page out at their own width instead of shrinking a desktop one
VIEWPORT = "<meta name='viewport' content='width=device-width, initial-scale=1'>"


def scroll_tables(body: str) -> str:
    """Every ``<table>`` of ``body`` inside a ``<div class='scroll'>`` (``overflow-x:auto``), so a
    wide table scrolls sideways in its box and the page itself never overflows a narrow screen.

    Example:
        >>> scroll_tables("<p>x</p><table id='t'><tr><td>1</td></tr></table>")
        "<p>x</p><div class='scroll'><table id='t'><tr><td>1</td></tr></table></div>"
    """
    body = re.sub(r"<table(?=[\s>])", "<div class='scroll'><table", body)
    return body.replace("</table>", "</table></div>")


def _count(v: Any) -> str:
    """A count (N, D, K) from a report's inputs: the integer, or "–" when it is not one."""
    if is_number(v) and math.isfinite(float(v)) and float(v) == int(v):
        return str(int(v))
    return "–"


def _level(v: Any) -> str:
    """The interval level (0.95) as a percentage ("95%"), or "–" when it is not a number."""
    return f"{float(v) * 100:g}%" if is_number(v) and math.isfinite(float(v)) else "–"


def _page(title: str, body: str) -> str:
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>{VIEWPORT}"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{scroll_tables(body)}</body></html>"
    )


def _verdict_class(label: str) -> str:
    if label == "healthy":
        return "v-healthy"
    if label == "neural collapse":
        return "v-neural"
    return "v-collapse"


def _how(report: Report, key: str) -> str:
    """How a metric was computed ("exact ..." / "sample of N rows"), when the report says."""
    prov = getattr(report, "provenance", None) or {}
    return esc(prov.get(key, "") if isinstance(prov, dict) else "")


def spectrum_svg(report: Report, title: str = "Singular-value spectrum") -> str:
    """The spectrum (share of singular-value mass per index) against the isotropic
    baseline, log y axis, integer index axis; empty when the report has no spectrum."""
    series = spectrum_series(report)
    if not series:
        return ""
    return line_chart(
        series, title, "singular-value index", "share of singular-value mass", log_y=True
    )


def _header(report: Report, title: str) -> list[str]:
    """Title, input summary, verdict, evidence, notes and findings."""
    v = report.verdict
    inp = report.inputs
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='muted'>N = {_count(inp.get('n'))}, D = {_count(inp.get('d'))}, classes = "
        f"{_count(inp.get('num_classes'))}, dtype {esc(inp.get('dtype'))}; schema "
        f"{esc(report.schema)}</p>",
        f"<div id='verdict' class='verdict {_verdict_class(v.label)}'>Verdict: "
        f"<b>{esc(v.label)}</b></div><p>{esc(v.summary)}</p>",
        "<h2>Evidence</h2>",
        evidence_table(v),
        nc_properties_table(v),
    ]
    notes = inp.get("notes") or []
    for note in notes if isinstance(notes, list) else [notes]:
        parts.append(f"<p class='muted'>Note: {esc(note)}</p>")
    if getattr(v, "findings", None) or getattr(v, "tests_not_run", None):
        parts.append(render_findings(v))
    return parts


def cosine_heatmaps(report: Report) -> list[str]:
    """The class-mean cosine heatmaps, each in a captioned figure: the centred one (class means
    minus the global mean, the neural-collapse view, with the simplex-ETF value -1/(K-1) marked
    on its colour bar) and the uncentred one, titled as such. The verdict's merged class pairs
    are outlined on both."""
    merged = merged_pairs(report.verdict)
    out = []
    centred = report.class_mean_cosine_centred
    if centred and len(centred) >= 2:
        k = len(centred)
        etf = -1.0 / (k - 1)
        svg = heatmap(
            centred,
            class_names(report, k),
            "Centred class-mean cosine (neural-collapse view)",
            colorbar_label="cos(μc − μG, μc′ − μG)",
            marks={"ETF": etf},
            outlined=merged,
        )
        out.append(
            f"<figure id='centred-cosine'>{svg}<figcaption class='muted'>Class means minus the "
            f"global mean. At a simplex ETF (neural collapse) every off-diagonal cell is "
            f"−1/(K−1) = {_num(etf)} (marked ETF on the colour bar).</figcaption></figure>"
        )
    if report.centroid_cosine:
        k = len(report.centroid_cosine)
        svg = heatmap(
            report.centroid_cosine,
            class_names(report, k),
            "Uncentred class-mean cosine",
            colorbar_label="cos(μc, μc′)",
            outlined=merged,
        )
        out.append(
            f"<figure id='uncentred-cosine'>{svg}<figcaption class='muted'>Raw class means, "
            "no centring: an offset shared by every class pulls all cells toward +1, so this "
            "is not the neural-collapse geometry.</figcaption></figure>"
        )
    return out


def _spectrum_note(report: Report) -> str:
    """What the spectrum chart holds: every one of the min(N, D) values, or the cut when a
    report (from an older version) holds fewer."""
    data = (report.spectrum or {}).get("data") or []
    inp = report.inputs or {}
    n, d = inp.get("n"), inp.get("d")
    sizes = [float(cast(float, v)) for v in (n, d) if is_number(v)]
    if not data or len(sizes) != 2 or not all(map(math.isfinite, sizes)):
        return ""
    full = int(min(sizes))
    if len(data) < full:
        return (
            f"<figcaption class='muted' id='spectrum-note'>Spectrum: the first {len(data)} of "
            f"{full} singular values (cut in the report file).</figcaption>"
        )
    return (
        f"<figcaption class='muted' id='spectrum-note'>Spectrum: all {len(data)} singular "
        "values.</figcaption>"
    )


def _geometry(report: Report) -> list[str]:
    """The geometry charts: spectrum, class-mean cosine heatmaps and per-class ranks."""
    parts = ["<h2>Geometry</h2><div class='grid'>"]
    spectrum = spectrum_svg(report)
    if spectrum:
        parts.append(f"<figure id='spectrum'>{spectrum}{_spectrum_note(report)}</figure>")
    parts += cosine_heatmaps(report)
    if report.per_class_effective_rank:
        names, ranks = per_class_ranks(report)
        parts.append(
            bar_chart(
                names,
                ranks,
                "Per-class effective rank",
                "effective rank",
                reference=report.metrics.get("effective_rank"),
                reference_label="all rows together",
            )
        )
    parts.append("</div>")
    return parts


def _metric_row(report: Report, key: str, value: Any, has_how: bool) -> str:
    """One table row: linked name, value, interval, isotropic baseline (and how computed)."""
    ci = report.intervals.get(key)
    how = f"<td class='how'>{_how(report, key)}</td>" if has_how else ""
    return (
        f"<tr><td>{_metric_link(key)}</td><td>{_num(value)}</td>"
        f"<td>{'[' + _num(ci[0]) + ', ' + _num(ci[1]) + ']' if ci else '–'}</td>"
        f"<td>{_num(report.baseline.get(key))}</td>{how}</tr>"
    )


def _metric_tables(report: Report) -> list[str]:
    """The neural-collapse table (when there are NC metrics) and the table of all others."""
    nc_keys = [k for k in keys("neural collapse", by="section") if k in report.metrics]
    has_how = bool(getattr(report, "provenance", None))
    how_th = "<th class='how'>how computed</th>" if has_how else ""
    parts: list[str] = []
    if nc_keys:
        parts.append(
            "<h2>Neural collapse</h2><table id='nc-table'><tr><th>metric</th><th>value</th>"
            f"<th>{_level(report.interval_level)} interval</th><th>isotropic</th>"
            + how_th
            + "</tr>"
        )
        parts += [_metric_row(report, k, report.metrics[k], has_how) for k in nc_keys]
        parts.append("</table>")
    parts.append(
        "<h2>All metrics</h2><table id='metrics-table'><tr><th>metric</th><th>value</th>"
        "<th>interval</th><th>isotropic</th>" + how_th + "</tr>"
    )
    parts += [
        _metric_row(report, k, val, has_how)
        for k, val in report.metrics.items()
        if k not in nc_keys
    ]
    parts.append("</table>")
    return parts


def render_report(report: Report, title: str = "collapsekit report") -> str:
    """The report as one HTML page: verdict, evidence, spectrum, centroid heatmap, per-class
    ranks, the NC table with intervals and every other metric."""
    parts = [*_header(report, title), *_geometry(report), *_metric_tables(report)]
    parts.append(
        "<h2>Thresholds</h2><table><tr><th>name</th><th>value</th></tr>"
        + "".join(
            f"<tr><td>{esc(k)}</td><td>{_num(t)}</td></tr>"
            for k, t in report.verdict.thresholds.items()
        )
        + "</table>"
    )
    parts.append(_reference_section(report.metrics))
    return _page(title, "".join(parts))


def _metric_link(key: str) -> str:
    """The metric name, linked to its entry in the page's metric reference."""
    anchor = doc_anchor(key)
    name = esc(key)
    return f"<a href='#ref-{anchor}'>{name}</a>" if anchor else name


def _reference_section(metrics: dict[str, float]) -> str:
    """Each reported metric's entry of docs/metrics.md (formula, range, bad direction, healthy
    and collapsed values, paper), so every name in the tables links to its meaning offline."""
    anchors: list[str] = []
    for key in metrics:
        anchor = doc_anchor(key)
        if anchor and anchor not in anchors:
            anchors.append(anchor)
    bodies = {a: body for a in anchors if (body := doc_section(a))}

    def resolve(anchor: str) -> str | None:  # links to entries not on the page become text
        return f"ref-{anchor}" if anchor in bodies else None

    entries = [
        f"<div class='ref' id='ref-{html.escape(anchor)}'><h3>{html.escape(anchor)}</h3>"
        f"{markdown_html(body, resolve)}</div>"
        for anchor, body in bodies.items()
    ]
    if not entries:
        return ""
    return "<h2 id='metric-reference'>Metric reference</h2>" + "".join(entries)


def tracking_charts(rows: list[dict[str, Any]]) -> list[str]:
    """One SVG chart per tracked quantity (see :func:`figure_data.tracking_panels`): log
    axes where the values span decades, threshold lines, and a dashed marker at the first
    epoch of 100 % training accuracy (the start of the terminal phase)."""
    charts = []
    for p in tracking_panels(rows):
        refs = [RefLine(value, label, "y", "#d62728") for value, label in p.thresholds]
        if p.terminal_phase is not None:
            refs.append(
                RefLine(p.terminal_phase, f"100% train accuracy (epoch {p.terminal_phase:g})", "x")
            )
        charts.append(line_chart(p.series, p.title, "epoch", p.ylabel, log_y=p.log, refs=refs))
    return charts


def _joined(items: Any) -> str:
    """A list of messages as one "; "-separated line (any other value as its text)."""
    return "; ".join(map(str, items)) if isinstance(items, list) else str(items)


def render_history(rows: list[dict[str, Any]], title: str = "collapsekit tracking") -> str:
    """Papyan-style curves of per-epoch history rows, one quantity per chart."""
    charts = tracking_charts(rows)
    warnings = [r for r in rows if r.get("warnings")]
    warn_html = "".join(
        f"<li>epoch {esc(r.get('epoch'))}: {esc(_joined(r['warnings']))}</li>" for r in warnings
    )
    body = (
        f"<h1>{html.escape(title)}</h1><p class='muted'>{len(rows)} epochs</p>"
        + (f"<h2>Warnings</h2><ul id='warnings'>{warn_html}</ul>" if warn_html else "")
        + f"<div class='grid'>{''.join(charts)}</div>"
    )
    return _page(title, body)


#: metrics shown in the notebook summary, when present (the registry's ``in_summary``)
SUMMARY_KEYS = keys("in_summary")

_VERDICT_COLORS = {"healthy": "#e3f6e3", "neural collapse": "#e4ecfb"}


def render_summary(report: Report) -> str:
    """A compact HTML fragment for notebooks (``Report._repr_html_``): the verdict, the key
    metrics against the isotropic baseline and the spectrum as inline SVG. No script, no
    external resource; inline styles only, so the notebook's own CSS is left alone."""
    v = report.verdict
    inp = report.inputs or {}
    color = _VERDICT_COLORS.get(v.label, "#fde2e2")
    rows = "".join(
        f"<tr><td style='text-align:left;padding:1px 8px'>{esc(k)}</td>"
        f"<td style='text-align:right;padding:1px 8px'>{_num(report.metrics[k])}</td>"
        f"<td style='text-align:right;padding:1px 8px;color:#777'>"
        f"{_num(report.baseline.get(k))}</td></tr>"
        for k in SUMMARY_KEYS
        if k in report.metrics
    )
    spectrum = spectrum_svg(report)
    return (
        "<div class='collapsekit-report' style='font-family:sans-serif;font-size:13px'>"
        f"<div style='background:{color};padding:.4em .8em;border-radius:4px;"
        f"display:inline-block;font-size:1.15em'>collapsekit verdict: <b>"
        f"{esc(v.label)}</b></div>"
        f"<p style='margin:.4em 0'>{esc(v.summary)}</p>"
        f"<p style='color:#777;margin:.2em 0'>N = {_count(inp.get('n'))}, "
        f"D = {_count(inp.get('d'))}, classes = {_count(inp.get('num_classes'))}</p>"
        "<div style='display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start'>"
        "<div style='overflow-x:auto;max-width:100%'>"
        "<table style='border-collapse:collapse'><tr><th style='text-align:left;"
        "padding:1px 8px'>metric</th><th style='padding:1px 8px'>value</th>"
        f"<th style='padding:1px 8px'>isotropic</th></tr>{rows}</table></div>"
        f"{spectrum}</div></div>"
    )
