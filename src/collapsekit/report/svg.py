"""Tiny dependency-free SVG charts for self-contained HTML reports (no network, no JS)."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2")


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-2:
        return f"{v:.0e}"
    return f"{v:.3g}"


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    step = (hi - lo) / (count - 1)
    return [lo + i * step for i in range(count)]


def line_chart(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    title: str,
    xlabel: str,
    ylabel: str,
    log_y: bool = False,
    width: int = 560,
    height: int = 320,
    css_class: str = "chart",
) -> str:
    """An SVG line chart; non-positive values are dropped on a log axis."""
    left, right, top, bottom = 64, 16, 28, 44
    pw, ph = width - left - right, height - top - bottom
    pts: dict[str, list[tuple[float, float]]] = {}
    for name, (xs, ys) in series.items():
        kept = [
            (float(x), float(y))
            for x, y in zip(xs, ys, strict=False)
            if y is not None and math.isfinite(float(y)) and (not log_y or float(y) > 0)
        ]
        pts[name] = [(x, math.log10(y) if log_y else y) for x, y in kept]
    allx = [p[0] for v in pts.values() for p in v] or [0.0, 1.0]
    ally = [p[1] for v in pts.values() for p in v] or [0.0, 1.0]
    x0, x1 = min(allx), max(allx)
    y0, y1 = min(ally), max(ally)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return top + ph - (y - y0) / (y1 - y0) * ph

    out = [
        f'<svg class="{css_class}" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="14" '
        f'font-weight="bold">{html.escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>',
    ]
    for t in _ticks(y0, y1):
        label = _fmt(10**t) if log_y else _fmt(t)
        out.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" '
            f'stroke="#eee"/><text x="{left - 6}" y="{sy(t) + 4:.1f}" text-anchor="end" '
            f'font-size="11">{label}</text>'
        )
    for t in _ticks(x0, x1):
        out.append(
            f'<text x="{sx(t):.1f}" y="{top + ph + 16}" text-anchor="middle" '
            f'font-size="11">{_fmt(t)}</text>'
        )
    out.append(
        f'<text x="{left + pw / 2}" y="{height - 6}" text-anchor="middle" '
        f'font-size="12">{html.escape(xlabel)}</text>'
    )
    out.append(
        f'<text x="14" y="{top + ph / 2}" text-anchor="middle" font-size="12" '
        f'transform="rotate(-90 14 {top + ph / 2})">'
        f"{html.escape(ylabel + (' (log)' if log_y else ''))}</text>"
    )
    for i, (name, p) in enumerate(pts.items()):
        color = PALETTE[i % len(PALETTE)]
        if p:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in p)
            out.append(
                f'<polyline class="series" data-name="{html.escape(name)}" fill="none" '
                f'stroke="{color}" stroke-width="2" points="{path}"/>'
            )
        out.append(
            f'<rect x="{left + 10}" y="{top + 8 + 16 * i}" width="12" height="3" '
            f'fill="{color}"/><text x="{left + 27}" y="{top + 13 + 16 * i}" '
            f'font-size="11">{html.escape(name)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    title: str,
    ylabel: str,
    reference: float | None = None,
    reference_label: str = "",
    width: int = 560,
    height: int = 300,
) -> str:
    """An SVG bar chart with an optional horizontal reference line."""
    left, right, top, bottom = 56, 16, 28, 56
    pw, ph = width - left - right, height - top - bottom
    vals = [float(v) if math.isfinite(float(v)) else 0.0 for v in values]
    top_v = max([*vals, reference or 0.0, 1e-12])
    n = max(1, len(vals))
    bw = pw / n
    out = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="14" '
        f'font-weight="bold">{html.escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>',
    ]
    for t in _ticks(0.0, top_v):
        y = top + ph - t / top_v * ph
        out.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
            f"{_fmt(t)}</text>"
        )
    for i, (lab, v) in enumerate(zip(labels, vals, strict=True)):
        h = v / top_v * ph
        x = left + i * bw + bw * 0.1
        out.append(
            f'<rect class="bar" x="{x:.1f}" y="{top + ph - h:.1f}" width="{bw * 0.8:.1f}" '
            f'height="{h:.1f}" fill="{PALETTE[0]}"><title>{html.escape(str(lab))}: '
            f"{v:.4g}</title></rect>"
        )
        if n <= 40:
            out.append(
                f'<text x="{x + bw * 0.4:.1f}" y="{top + ph + 14}" text-anchor="middle" '
                f'font-size="10">{html.escape(str(lab))}</text>'
            )
    if reference is not None and math.isfinite(reference):
        y = top + ph - reference / top_v * ph
        out.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="{PALETTE[1]}" '
            f'stroke-dasharray="5,3"/><text x="{left + pw - 4}" y="{y - 4:.1f}" '
            f'text-anchor="end" font-size="11" fill="{PALETTE[1]}">'
            f"{html.escape(reference_label)}</text>"
        )
    out.append(
        f'<text x="14" y="{top + ph / 2}" text-anchor="middle" font-size="12" '
        f'transform="rotate(-90 14 {top + ph / 2})">{html.escape(ylabel)}</text></svg>'
    )
    return "".join(out)


def heatmap(
    matrix: Sequence[Sequence[float]],
    labels: Sequence[str],
    title: str,
    vmin: float = -1.0,
    vmax: float = 1.0,
    size: int = 420,
) -> str:
    """An SVG heatmap on a blue-white-red scale from vmin to vmax."""
    k = len(matrix)
    left, top = 48, 28
    cell = (size - left - 8) / max(k, 1)

    def color(v: float) -> str:
        t = 0.0 if not math.isfinite(v) else (min(max(v, vmin), vmax) - vmin) / (vmax - vmin)
        if t < 0.5:
            a = t / 0.5
            r, g, b = int(33 + a * 222), int(102 + a * 153), int(172 + a * 83)
        else:
            a = (t - 0.5) / 0.5
            r, g, b = 255, int(255 - a * 200), int(255 - a * 200)
        return f"rgb({r},{g},{b})"

    out = [
        f'<svg class="chart heatmap" xmlns="http://www.w3.org/2000/svg" width="{size}" '
        f'height="{size + 20}" viewBox="0 0 {size} {size + 20}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="{size / 2}" y="16" text-anchor="middle" font-size="14" '
        f'font-weight="bold">{html.escape(title)}</text>',
    ]
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            out.append(
                f'<rect class="cell" x="{left + j * cell:.1f}" y="{top + i * cell:.1f}" '
                f'width="{cell:.1f}" height="{cell:.1f}" fill="{color(float(v))}">'
                f"<title>{html.escape(str(labels[i]))} vs {html.escape(str(labels[j]))}: "
                f"{float(v):.3f}</title></rect>"
            )
        if k <= 32:
            out.append(
                f'<text x="{left - 4}" y="{top + (i + 0.6) * cell:.1f}" text-anchor="end" '
                f'font-size="10">{html.escape(str(labels[i]))}</text>'
            )
    out.append(
        f'<text x="{left}" y="{size + 14}" font-size="11">scale: {vmin:g} (blue) to '
        f"{vmax:g} (red)</text></svg>"
    )
    return "".join(out)
