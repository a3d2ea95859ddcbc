"""Tiny dependency-free SVG charts for self-contained HTML reports (no network, no JS).

Axis conventions (shared with the matplotlib figures of :mod:`collapsekit.plot`):

* linear axes get "nice" ticks: steps of 1, 2 or 5 times a power of ten; index and epoch
  axes (``integer=True``) get integer ticks only;
* log axes get ticks at 1, 2 and 5 times powers of ten (fewer per decade, or every few
  decades, when the range is wide);
* legends, threshold lines and markers are listed in a legend strip above the plot area, so
  nothing is written over the data.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from collapsekit.render.axes import (
    as_float,
    format_tick,
    label_step,
    linear_ticks,
    log_bounds,
    log_ticks,
    nice_bounds,
    wants_log,
)

#: series colours; red is kept for threshold lines, grey for markers
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")
REFERENCE_COLOR = "#555555"
#: charts are drawn this many SVG units wide: as many pixels on a desktop, scaled to the screen
#: on a phone (358 / 420 = 0.85 at 390 px), where their text stays at 9.5 px or more (a 560-unit
#: chart shrank its 11-unit ticks to 7 px there)
CHART_WIDTH = 420
#: font sizes in SVG units: ticks and legends, axis labels, titles, names under bars
TICK_FONT, LABEL_FONT, TITLE_FONT, NAME_FONT = 12, 13, 15, 11
_CHAR_W = 0.565 * TICK_FONT  # approximate width of one character of tick text


def esc(v: Any) -> str:
    """Any value as HTML-escaped text (quotes included), whatever its type.

    Example:
        >>> esc("<b x='1'>"), esc(None)
        ('&lt;b x=&#x27;1&#x27;&gt;', 'None')
    """
    return html.escape(str(v))


@dataclass
class RefLine:
    """A horizontal (``axis="y"``) or vertical (``axis="x"``) dashed reference line; its label
    goes into the legend, never onto the plot."""

    value: float
    label: str
    axis: str = "y"
    color: str = REFERENCE_COLOR


def _svg_open(width: float, height: float, title: str, css_class: str = "chart") -> list[str]:
    return [
        f'<svg class="{css_class}" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="{html.escape(title)}" font-family="sans-serif">',
        f'<text class="title" x="{width / 2:.1f}" y="17" text-anchor="middle" '
        f'font-size="{TITLE_FONT}" font-weight="bold">{html.escape(title)}</text>',
    ]


def _legend_layout(
    items: Sequence[tuple[str, str, bool]], x0: float, width: float, y0: float
) -> tuple[list[str], float]:
    """Legend entries (label, colour, dashed) flowed into rows from ``(x0, y0)``; returns the
    SVG and the height used."""
    out: list[str] = []
    if not items:
        return out, 0.0
    x, y, row_h = x0, y0, TICK_FONT + 4.0
    for label, color, dashed in items:
        w = 26 + len(label) * _CHAR_W + 14
        if x > x0 and x + w > x0 + width:
            x, y = x0, y + row_h
        dash = ' stroke-dasharray="5,3"' if dashed else ""
        out.append(
            f'<g class="legend-item"><line x1="{x:.1f}" x2="{x + 20:.1f}" y1="{y - 4:.1f}" '
            f'y2="{y - 4:.1f}" stroke="{color}" stroke-width="2"{dash}/>'
            f'<text x="{x + 25:.1f}" y="{y:.1f}" font-size="{TICK_FONT}">'
            f"{html.escape(label)}</text></g>"
        )
        x += w
    return ["<g class='legend'>", *out, "</g>"], y - y0 + row_h


@dataclass(frozen=True)
class _Area:
    """The plot area (pixels) and the data ranges it shows; maps data to pixel coordinates."""

    left: float
    top: float
    pw: float
    ph: float
    x0: float = 0.0
    x1: float = 1.0
    y0: float = 0.0
    y1: float = 1.0
    log_y: bool = False
    #: room kept inside the frame above y1 and below y0 (a line at the axis bound, such as an
    #: accuracy of 1.0, is drawn clear of the frame instead of on it)
    pad: float = 0.0

    def sx(self, x: float) -> float:
        return self.left + (x - self.x0) / (self.x1 - self.x0) * self.pw

    def sy(self, y: float) -> float:
        v = math.log10(y) if self.log_y else y
        inner = self.ph - 2 * self.pad
        return self.top + self.ph - self.pad - (v - self.y0) / (self.y1 - self.y0) * inner


def _finite_points(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]], log_y: bool | None
) -> tuple[dict[str, list[tuple[float, float]]], bool]:
    """The finite (x, y) points of each series (positive y only on a log axis) and whether the
    y axis is logarithmic (``log_y=None`` decides from the values)."""
    raw: dict[str, list[tuple[float, float]]] = {}
    for name, (xs, ys) in series.items():
        raw[name] = [
            (as_float(x), as_float(y))
            for x, y in zip(xs, ys, strict=False)
            if math.isfinite(as_float(y)) and math.isfinite(as_float(x))
        ]
    if log_y is None:
        log_y = wants_log([y for p in raw.values() for _, y in p])
    return {n: [(x, y) for x, y in p if not log_y or y > 0] for n, p in raw.items()}, log_y


def _line_ranges(
    allx: list[float], ally: list[float], log_y: bool
) -> tuple[float, float, float, float, list[float]]:
    """x range, y range (log10 units on a log axis) and y ticks of a line chart."""
    if not allx:
        allx = [0.0, 1.0]
    if not ally:
        ally = [1.0, 10.0] if log_y else [0.0, 1.0]
    x0, x1 = min(allx), max(allx)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if log_y:
        ya, yb = log_bounds(min(ally), max(ally))
        yticks = log_ticks(ya, yb)
        y0, y1 = math.log10(ya), math.log10(yb)
    else:
        ya, yb = min(ally), max(ally)
        if ya == yb == 0.0:  # constantly zero (a count, a rate): the axis from 0, not -0.5
            ya, yb = 0.0, 1.0
        elif ya == yb:
            ya, yb = ya - 0.5 * abs(ya), yb + 0.5 * abs(yb)
        y0, y1 = nice_bounds(ya, yb)
        yticks = linear_ticks(y0, y1)
    return x0, x1, y0, y1, yticks


def _line_axes(
    a: _Area, yticks: Sequence[float], ylabels: Sequence[str], x_integer: bool
) -> list[str]:
    """The frame, the y grid and ticks and the x ticks of a line chart."""
    left, top, pw, ph = a.left, a.top, a.pw, a.ph
    out = [
        f'<rect class="frame" x="{left:.1f}" y="{top:.1f}" width="{pw:.1f}" height="{ph:.1f}" '
        'fill="none" stroke="#888"/>',
        "<g class='yticks'>",
    ]
    for t, lab in zip(yticks, ylabels, strict=True):
        y = a.sy(t)
        out.append(
            f'<line x1="{left:.1f}" x2="{left + pw:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#eee"/><line x1="{left - 4:.1f}" x2="{left:.1f}" y1="{y:.1f}" '
            f'y2="{y:.1f}" stroke="#888"/><text class="tick" x="{left - 6:.1f}" '
            f'y="{y + 4:.1f}" text-anchor="end" font-size="{TICK_FONT}">{lab}</text>'
        )
    out.append("</g><g class='xticks'>")
    for t in linear_ticks(a.x0, a.x1, 6, integer=x_integer):
        x = a.sx(t)
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + ph:.1f}" y2="{top + ph + 4:.1f}" '
            f'stroke="#888"/><text class="tick" x="{x:.1f}" y="{top + ph + 16:.1f}" '
            f'text-anchor="middle" font-size="{TICK_FONT}">{format_tick(t)}</text>'
        )
    out.append("</g>")
    return out


def _ref_lines(a: _Area, hrefs: Sequence[RefLine], vrefs: Sequence[RefLine]) -> list[str]:
    """Dashed horizontal and vertical reference lines (non-positive ones skipped on log y)."""
    out: list[str] = []
    for r in hrefs:
        if a.log_y and r.value <= 0:
            continue
        y = a.sy(r.value)
        out.append(
            f'<line class="ref" x1="{a.left:.1f}" x2="{a.left + a.pw:.1f}" y1="{y:.1f}" '
            f'y2="{y:.1f}" stroke="{r.color}" stroke-width="1.5" stroke-dasharray="5,3"/>'
        )
    for r in vrefs:
        x = a.sx(r.value)
        out.append(
            f'<line class="ref" x1="{x:.1f}" x2="{x:.1f}" y1="{a.top:.1f}" '
            f'y2="{a.top + a.ph:.1f}" stroke="{r.color}" stroke-width="1.5" '
            'stroke-dasharray="5,3"/>'
        )
    return out


def _polylines(a: _Area, pts: Mapping[str, list[tuple[float, float]]]) -> list[str]:
    """One polyline per series (dots too when it has at most 30 points)."""
    out: list[str] = []
    for i, (name, p) in enumerate(pts.items()):
        color = PALETTE[i % len(PALETTE)]
        if not p:
            continue
        path = " ".join(f"{a.sx(x):.1f},{a.sy(y):.1f}" for x, y in p)
        out.append(
            f'<polyline class="series" data-name="{html.escape(name)}" fill="none" '
            f'stroke="{color}" stroke-width="2" points="{path}"/>'
        )
        if len(p) <= 30:
            out.append(
                "".join(
                    f'<circle cx="{a.sx(x):.1f}" cy="{a.sy(y):.1f}" r="2.5" fill="{color}"/>'
                    for x, y in p
                )
            )
    return out


def _axis_labels(a: _Area, height: float, xlabel: str, ylabel: str) -> str:
    """The x label under the plot area and the rotated y label left of it."""
    return (
        f'<text class="xlabel" x="{a.left + a.pw / 2:.1f}" y="{height - 8}" '
        f'text-anchor="middle" font-size="{LABEL_FONT}">{html.escape(xlabel)}</text>'
        f'<text class="ylabel" x="14" y="{a.top + a.ph / 2:.1f}" text-anchor="middle" '
        f'font-size="{LABEL_FONT}" transform="rotate(-90 14 {a.top + a.ph / 2:.1f})">'
        f"{html.escape(ylabel)}</text>"
    )


# size: chart options, each a documented keyword with a default
def line_chart(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    title: str,
    xlabel: str,
    ylabel: str,
    log_y: bool | None = False,
    width: int = CHART_WIDTH,
    height: int = 320,
    css_class: str = "chart",
    x_integer: bool = True,
    refs: Sequence[RefLine] = (),
) -> str:
    """An SVG line chart of one quantity (``ylabel``): one line per series.

    ``log_y=None`` picks a log axis when the values are positive and span more than a decade.
    Non-positive values are dropped on a log axis. ``x_integer``: integer ticks (index, epoch).
    ``refs``: dashed reference lines (thresholds, the start of the terminal phase), labelled
    in the legend.
    """
    pts, log_y = _finite_points(series, log_y)
    hrefs = [r for r in refs if r.axis == "y" and math.isfinite(r.value)]
    vrefs = [r for r in refs if r.axis == "x" and math.isfinite(r.value)]
    allx = [x for p in pts.values() for x, _ in p] + [r.value for r in vrefs]
    ally = [y for p in pts.values() for _, y in p]
    ally += [r.value for r in hrefs if not log_y or r.value > 0]
    x0, x1, y0, y1, yticks = _line_ranges(allx, ally, log_y)
    ylabels = [format_tick(t) for t in yticks]

    legend = [(n, PALETTE[i % len(PALETTE)], False) for i, n in enumerate(pts)]
    legend += [(r.label, r.color, True) for r in [*hrefs, *vrefs]]
    left = 18 + 8 + max(len(s) for s in ylabels) * _CHAR_W + 6
    right, bottom = 14.0, 42.0
    pw = width - left - right
    legend_svg, legend_h = _legend_layout(legend, left, pw, 34)
    top = 26 + legend_h + 6
    area = _Area(left, top, pw, height - top - bottom, x0, x1, y0, y1, log_y, pad=6.0)

    out = _svg_open(width, height, title, css_class)
    out += legend_svg
    out += _line_axes(area, yticks, ylabels, x_integer)
    out.append(_axis_labels(area, height, xlabel, ylabel + (" (log scale)" if log_y else "")))
    out += _ref_lines(area, hrefs, vrefs)
    out += _polylines(area, pts)
    out.append("</svg>")
    return "".join(out)


def _bars(a: _Area, names: Sequence[str], vals: Sequence[float], rotate: bool) -> list[str]:
    """One bar per value on the area (y from 0 to ``a.y1``), with the name of every
    :func:`label_step`-th bar under it (rotated by 45 degrees when ``rotate``)."""
    out: list[str] = []
    bw = a.pw / max(1, len(vals))
    step = label_step(len(vals))
    for i, (lab, v) in enumerate(zip(names, vals, strict=True)):
        h = (v if math.isfinite(v) else 0.0) / a.y1 * a.ph
        x = a.left + i * bw + bw * 0.1
        out.append(
            f'<rect class="bar" x="{x:.1f}" y="{a.top + a.ph - h:.1f}" width="{bw * 0.8:.1f}" '
            f'height="{h:.1f}" fill="{PALETTE[0]}"><title>{html.escape(lab)}: '
            f"{v:.4g}</title></rect>"
        )
        if i % step:
            continue
        cx, cy = a.left + (i + 0.5) * bw, a.top + a.ph + 13
        short = lab if len(lab) <= 24 else lab[:23] + "…"
        if rotate:
            out.append(
                f'<text class="tick xname" x="{cx + 3:.1f}" y="{cy:.1f}" text-anchor="end" '
                f'font-size="{NAME_FONT}" transform="rotate(-45 {cx + 3:.1f} {cy:.1f})">'
                f"{html.escape(short)}</text>"
            )
        else:
            out.append(
                f'<text class="tick xname" x="{cx:.1f}" y="{cy:.1f}" text-anchor="middle" '
                f'font-size="{NAME_FONT}">{html.escape(short)}</text>'
            )
    return out


# size: chart options, each a documented keyword with a default
def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    title: str,
    ylabel: str,
    reference: float | None = None,
    reference_label: str = "",
    width: int = CHART_WIDTH,
    height: int = 320,
    xlabel: str = "class",
) -> str:
    """An SVG bar chart (one bar per named class) with an optional dashed reference line."""
    if reference is not None and not math.isfinite(as_float(reference)):
        reference = None
    reference = None if reference is None else as_float(reference)
    vals = [as_float(v) for v in values]
    shown = [v if math.isfinite(v) else 0.0 for v in vals]
    top_v = max([*shown, reference if reference and math.isfinite(reference) else 0.0, 1e-12])
    _, top_v = nice_bounds(0.0, top_v)
    yticks = linear_ticks(0.0, top_v)
    ylabels = [format_tick(t) for t in yticks]
    n = max(1, len(vals))
    names = [str(lab) for lab in labels]
    longest = max([len(s) for s in names] or [1])
    left = 18 + 8 + max(len(s) for s in ylabels) * _CHAR_W + 6
    pw = width - left - 14.0
    n_names = math.ceil(n / label_step(n))  # names written (every label_step-th)
    name_w = 0.6 * NAME_FONT  # one character of a name
    rotate = (longest > 3 or n_names > 20) and longest * name_w > pw / n_names * 0.95
    name_h = (min(longest, 24) * name_w * 0.72 + 10) if rotate else NAME_FONT + 6.0
    legend = [(reference_label or "reference", REFERENCE_COLOR, True)] if reference else []
    legend_svg, legend_h = _legend_layout(legend, left, pw, 34)
    top = 26 + legend_h + 6
    area = _Area(left, top, pw, height - top - (name_h + 26), y1=top_v)

    out = _svg_open(width, height, title)
    out += legend_svg
    out.append(
        f'<rect class="frame" x="{left:.1f}" y="{top:.1f}" width="{pw:.1f}" '
        f'height="{area.ph:.1f}" fill="none" stroke="#888"/><g class="yticks">'
    )
    for t, lab in zip(yticks, ylabels, strict=True):
        y = area.sy(t)
        out.append(
            f'<line x1="{left:.1f}" x2="{left + pw:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#eee"/><text class="tick" x="{left - 6:.1f}" y="{y + 4:.1f}" '
            f'text-anchor="end" font-size="{TICK_FONT}">{lab}</text>'
        )
    out.append("</g>")
    out += _bars(area, names, vals, rotate)
    if reference is not None and math.isfinite(reference):
        out += _ref_lines(area, [RefLine(reference, "")], [])
    out.append(_axis_labels(area, height, xlabel, ylabel) + "</svg>")
    return "".join(out)
