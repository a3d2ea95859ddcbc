"""Self-contained HTML rendering of a :class:`Report` and of a training history."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

from collapsekit.functional.neural_collapse import NC_KEYS
from collapsekit.report.svg import bar_chart, heatmap, line_chart

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
.fired{color:#b00;font-weight:bold}.grid{display:flex;flex-wrap:wrap;gap:1em}
.muted{color:#777;font-size:12px}
"""


def _num(v: Any) -> str:
    if v is None:
        return "–"
    v = float(v)
    if not math.isfinite(v):
        return str(v)
    return f"{v:.5g}"


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def _class_labels(inputs: dict[str, Any], k: int) -> list[str]:
    """Class names when the labels were strings, else the label values."""
    names = inputs.get("class_names")
    if names and len(names) == k:
        return [str(n) for n in names]
    return list(inputs.get("class_counts", {}).keys()) or [str(i) for i in range(k)]


def _verdict_class(label: str) -> str:
    if label == "healthy":
        return "v-healthy"
    if label == "neural collapse":
        return "v-neural"
    return "v-collapse"


def render_report(report: Report, title: str = "collapsekit report") -> str:
    """The report as one HTML page: verdict, evidence, spectrum, centroid heatmap, per-class
    ranks, the NC table with intervals and every other metric."""
    v = report.verdict
    inp = report.inputs
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='muted'>N = {inp.get('n')}, D = {inp.get('d')}, classes = "
        f"{inp.get('num_classes')}, dtype {html.escape(str(inp.get('dtype')))}; schema "
        f"{html.escape(report.schema)}</p>",
        f"<div id='verdict' class='verdict {_verdict_class(v.label)}'>Verdict: "
        f"<b>{html.escape(v.label)}</b></div><p>{html.escape(v.summary)}</p>",
        "<h2>Evidence</h2><table id='evidence'><tr><th>test</th><th>value</th>"
        "<th>threshold</th><th>isotropic / chance</th><th>rule</th><th>outcome</th></tr>",
    ]
    for e in v.evidence:
        parts.append(
            f"<tr><td>{html.escape(e.metric)}</td><td>{_num(e.value)}</td>"
            f"<td>{_num(e.threshold)}</td><td>{_num(e.baseline)}</td>"
            f"<td>{html.escape(e.rule)}</td>"
            f"<td class='{'fired' if e.fired else ''}'>"
            f"{'supports ' + html.escape(e.indicates) if e.fired else 'no'}</td></tr>"
        )
    parts.append("</table>")
    for note in inp.get("notes", []):
        parts.append(f"<p class='muted'>Note: {html.escape(str(note))}</p>")
    parts.append("<h2>Geometry</h2><div class='grid'>")
    spec = report.spectrum
    if spec.get("data"):
        series = {"embeddings": (range(1, len(spec["data"]) + 1), spec["data"])}
        if spec.get("isotropic"):
            series["isotropic baseline"] = (
                range(1, len(spec["isotropic"]) + 1),
                spec["isotropic"],
            )
        parts.append(
            line_chart(
                series,
                "Singular-value spectrum",
                "index",
                "share of singular-value mass",
                log_y=True,
            )
        )
    if report.centroid_cosine:
        labels = _class_labels(inp, len(report.centroid_cosine))
        parts.append(heatmap(report.centroid_cosine, labels, "Class-centroid cosine similarity"))
    if report.per_class_effective_rank:
        keys = list(report.per_class_effective_rank)  # class names
        parts.append(
            bar_chart(
                keys,
                [report.per_class_effective_rank[k] for k in keys],
                "Per-class effective rank",
                "effective rank",
                reference=report.metrics.get("effective_rank"),
                reference_label="all rows",
            )
        )
    parts.append("</div>")
    nc_keys = [k for k in NC_KEYS if k in report.metrics]
    if nc_keys:
        parts.append(
            "<h2>Neural collapse</h2><table id='nc-table'><tr><th>metric</th><th>value</th>"
            f"<th>{int(report.interval_level * 100)}% interval</th><th>isotropic</th></tr>"
        )
        for k in nc_keys:
            ci = report.intervals.get(k)
            parts.append(
                f"<tr><td>{k}</td><td>{_num(report.metrics[k])}</td>"
                f"<td>{'[' + _num(ci[0]) + ', ' + _num(ci[1]) + ']' if ci else '–'}</td>"
                f"<td>{_num(report.baseline.get(k))}</td></tr>"
            )
        parts.append("</table>")
    parts.append(
        "<h2>All metrics</h2><table id='metrics-table'><tr><th>metric</th><th>value</th>"
        "<th>interval</th><th>isotropic</th></tr>"
    )
    for k, val in report.metrics.items():
        if k in nc_keys:
            continue
        ci = report.intervals.get(k)
        parts.append(
            f"<tr><td>{html.escape(k)}</td><td>{_num(val)}</td>"
            f"<td>{'[' + _num(ci[0]) + ', ' + _num(ci[1]) + ']' if ci else '–'}</td>"
            f"<td>{_num(report.baseline.get(k))}</td></tr>"
        )
    parts.append("</table>")
    parts.append(
        "<h2>Thresholds</h2><table><tr><th>name</th><th>value</th></tr>"
        + "".join(f"<tr><td>{k}</td><td>{_num(t)}</td></tr>" for k, t in v.thresholds.items())
        + "</table>"
    )
    return _page(title, "".join(parts))


TRACK_PANELS = (
    ("Within-class variability (NC1)", ("nc1", "nc1_quotient", "cdnv"), True),
    ("Equinorm / equiangularity (NC2)", ("equinorm", "equiangularity", "max_angle"), True),
    ("Distance to simplex ETF (NC2)", ("etf_error",), True),
    ("Self-duality (NC3)", ("self_duality",), True),
    ("NCC agreement (NC4)", ("ncc_agreement",), False),
    ("Effective rank / RankMe", ("effective_rank", "rankme"), False),
    ("Std of L2-normalised embeddings", ("std_of_l2_normalized",), False),
    ("Training", ("train_loss", "train_accuracy", "test_accuracy"), False),
)


def render_history(rows: list[dict[str, Any]], title: str = "collapsekit tracking") -> str:
    """Papyan-style curves (log scale for NC metrics) of per-epoch history rows."""
    epochs = [float(r.get("epoch", i)) for i, r in enumerate(rows)]
    charts = []
    for panel, keys, log_y in TRACK_PANELS:
        series = {}
        for key in keys:
            ys = [r.get(key) for r in rows]
            if any(isinstance(y, int | float) for y in ys):
                series[key] = (epochs, [float(y) if y is not None else math.nan for y in ys])
        if series:
            charts.append(line_chart(series, panel, "epoch", "value", log_y=log_y))
    warnings = [r for r in rows if r.get("warnings")]
    warn_html = "".join(
        f"<li>epoch {html.escape(str(r.get('epoch')))}: "
        f"{html.escape('; '.join(map(str, r['warnings'])))}</li>"
        for r in warnings
    )
    body = (
        f"<h1>{html.escape(title)}</h1><p class='muted'>{len(rows)} epochs</p>"
        + (f"<h2>Warnings</h2><ul id='warnings'>{warn_html}</ul>" if warn_html else "")
        + f"<div class='grid'>{''.join(charts)}</div>"
    )
    return _page(title, body)


def render_compare(result: dict[str, Any], a: Report, b: Report) -> str:
    """Side-by-side page for ``collapsekit compare``."""
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{_num(result['metrics_a'].get(k))}</td>"
        f"<td>{_num(result['metrics_b'].get(k))}</td></tr>"
        for k in result["metrics_a"]
    )
    series = {}
    if a.spectrum.get("data"):
        series["A: " + str(result["a"])] = (
            range(1, len(a.spectrum["data"]) + 1),
            a.spectrum["data"],
        )
    if b.spectrum.get("data"):
        series["B: " + str(result["b"])] = (
            range(1, len(b.spectrum["data"]) + 1),
            b.spectrum["data"],
        )
    body = (
        "<h1>collapsekit compare</h1>"
        f"<p>A = {html.escape(str(result['a']))}<br>B = {html.escape(str(result['b']))}</p>"
        f"<div id='verdict' class='verdict {_verdict_class(b.verdict.label)}'>Verdict: "
        f"{html.escape(a.verdict.label)} &rarr; <b>{html.escape(b.verdict.label)}</b></div>"
        f"<p>Linear CKA (A vs B): <b>{_num(result['linear_cka'])}</b>; debiased: "
        f"{_num(result['linear_cka_debiased'])}</p>"
        "<table id='compare-table'><tr><th>metric</th><th>A</th><th>B</th></tr>"
        + rows
        + "</table><div class='grid'>"
        + (
            line_chart(series, "Singular-value spectra", "index", "share", log_y=True)
            if series
            else ""
        )
        + "</div>"
    )
    return _page("collapsekit compare", body)
