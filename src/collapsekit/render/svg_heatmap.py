"""The SVG heatmap of the HTML reports (the class-centroid cosine similarities): cells
coloured blue-white-red, row and column names, a colour bar with marked values, and outlined
cells (the verdict's merged class pairs). Dependency-free, like :mod:`collapsekit.render.svg`."""

from __future__ import annotations

import html
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from collapsekit.render.axes import as_float, format_tick, label_step, linear_ticks
from collapsekit.render.svg import CHART_WIDTH, LABEL_FONT, NAME_FONT, TICK_FONT, _svg_open


def diverging_color(v: float, vmin: float = -1.0, vmax: float = 1.0) -> str:
    """Blue (vmin) - white (midpoint) - red (vmax); grey for NaN."""
    if not math.isfinite(v):
        return "rgb(200,200,200)"
    t = (min(max(v, vmin), vmax) - vmin) / (vmax - vmin)
    if t < 0.5:
        a = t / 0.5
        r, g, b = int(33 + a * 222), int(102 + a * 153), int(172 + a * 83)
    else:
        a = (t - 0.5) / 0.5
        r, g, b = 255 - int(a * 77), int(255 - a * 231), int(255 - a * 212)
    return f"rgb({r},{g},{b})"


@dataclass(frozen=True)
class _Grid:
    """A heatmap's square grid of k x k cells (pixels) and its colour range."""

    left: float
    top: float
    grid: float
    k: int
    vmin: float
    vmax: float

    @property
    def cell(self) -> float:
        return self.grid / max(self.k, 1)


def _heatmap_cells(g: _Grid, matrix: Sequence[Sequence[float]], labels: Sequence[str]) -> list[str]:
    """One coloured cell per entry (its value written in it when k <= 10), and the frame."""
    out: list[str] = []
    left, top, cell, vmin, vmax = g.left, g.top, g.cell, g.vmin, g.vmax
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            fv = as_float(v)
            out.append(
                f'<rect class="cell" x="{left + j * cell:.1f}" y="{top + i * cell:.1f}" '
                f'width="{cell:.2f}" height="{cell:.2f}" fill="{diverging_color(fv, vmin, vmax)}">'
                f"<title>{html.escape(str(labels[i]))} vs {html.escape(str(labels[j]))}: "
                f"{fv:.3f}</title></rect>"
            )
            if g.k <= 10 and math.isfinite(fv):
                dark = abs((fv - (vmin + vmax) / 2) / ((vmax - vmin) / 2)) > 0.6
                out.append(
                    f'<text class="value" x="{left + (j + 0.5) * cell:.1f}" '
                    f'y="{top + (i + 0.5) * cell + 4:.1f}" text-anchor="middle" '
                    f'font-size="{NAME_FONT}" '
                    f'fill="{"#fff" if dark else "#222"}">{fv:.2f}</text>'
                )
    out.append(
        f'<rect x="{left:.1f}" y="{top:.1f}" width="{g.grid:.1f}" height="{g.grid:.1f}" '
        'fill="none" stroke="#888"/>'
    )
    return out


def _heatmap_outlines(
    g: _Grid, outlined: Sequence[tuple[int, int]], labels: Sequence[str]
) -> list[str]:
    """A thick dark outline on cells (i, j) and (j, i) of each pair in ``outlined``."""
    out: list[str] = []
    cell = g.cell
    for a, b in outlined:
        for i, j in ((a, b), (b, a)):
            if 0 <= i < g.k and 0 <= j < g.k:
                out.append(
                    f'<rect class="merged" x="{g.left + j * cell + 1:.1f}" '
                    f'y="{g.top + i * cell + 1:.1f}" width="{max(cell - 2, 1):.2f}" '
                    f'height="{max(cell - 2, 1):.2f}" fill="none" stroke="#111" '
                    f'stroke-width="2.5"><title>merged: {html.escape(str(labels[i]))} and '
                    f"{html.escape(str(labels[j]))}</title></rect>"
                )
    return out


def _heatmap_names(g: _Grid, names: Sequence[str], font: int, rotate: bool) -> list[str]:
    """Row names left of the grid and column names under it (rotated when ``rotate``), every
    :func:`label_step`-th one beyond 25 classes."""
    out: list[str] = []
    left, top, cell, grid = g.left, g.top, g.cell, g.grid
    step = label_step(len(names))
    for i, name in enumerate(names):
        if i % step:
            continue
        y = top + (i + 0.5) * cell + font * 0.35
        out.append(
            f'<text class="rowlabel" x="{left - 4:.1f}" y="{y:.1f}" text-anchor="end" '
            f'font-size="{font}">{html.escape(name)}</text>'
        )
        if rotate:
            cx, cy = left + (i + 0.5) * cell + font * 0.35, top + grid + 10
            out.append(
                f'<text class="collabel" x="{cx:.1f}" y="{cy:.1f}" text-anchor="end" '
                f'font-size="{font}" transform="rotate(-45 {cx:.1f} {cy:.1f})">'
                f"{html.escape(name)}</text>"
            )
        else:
            cx, cy = left + (i + 0.5) * cell, top + grid + 14
            out.append(
                f'<text class="collabel" x="{cx:.1f}" y="{cy:.1f}" text-anchor="middle" '
                f'font-size="{font}">{html.escape(name)}</text>'
            )
    return out


def _colorbar(g: _Grid, gid: str, marks: Mapping[str, float] | None, label: str) -> list[str]:
    """The colour bar right of the grid: one vertical gradient from vmax (top) to vmin
    (bottom), its ticks, the ``marks`` and its label."""
    top, grid, vmin, vmax = g.top, g.grid, g.vmin, g.vmax
    bx, bw = g.left + grid + 30, 14.0
    stops = "".join(
        f'<stop offset="{i / 10:.1f}" '
        f'stop-color="{diverging_color(vmax - i / 10 * (vmax - vmin), vmin, vmax)}"/>'
        for i in range(11)
    )
    out = [
        f'<g class="colorbar"><defs><linearGradient id="{gid}" x1="0" y1="0" x2="0" y2="1">'
        f'{stops}</linearGradient></defs><rect x="{bx:.1f}" y="{top:.1f}" width="{bw}" '
        f'height="{grid:.1f}" fill="url(#{gid})" stroke="#888"/>'
    ]

    def cy_of(v: float) -> float:
        return top + (vmax - v) / (vmax - vmin) * grid

    for t in linear_ticks(vmin, vmax, 4):
        y = cy_of(t)
        out.append(
            f'<line x1="{bx + bw:.1f}" x2="{bx + bw + 4:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#888"/><text class="tick" x="{bx + bw + 6:.1f}" y="{y + 4:.1f}" '
            f'font-size="{TICK_FONT}">{format_tick(t)}</text>'
        )
    for name, v in (marks or {}).items():
        if math.isfinite(v) and vmin <= v <= vmax:
            y = cy_of(v)
            out.append(
                f'<line class="mark" x1="{bx - 4:.1f}" x2="{bx + bw:.1f}" y1="{y:.1f}" '
                f'y2="{y:.1f}" stroke="#000" stroke-width="1.5"/><text x="{bx - 6:.1f}" '
                f'y="{y + 3:.1f}" text-anchor="end" font-size="{NAME_FONT}">'
                f"{html.escape(name)}</text>"
            )
    cx = bx + bw + 44
    out.append(
        f'<text class="cbarlabel" x="{cx:.1f}" y="{top + grid / 2:.1f}" text-anchor="middle" '
        f'font-size="{LABEL_FONT}" transform="rotate(-90 {cx:.1f} {top + grid / 2:.1f})">'
        f"{html.escape(label)}</text></g>"
    )
    return out


# size: chart options, each a documented keyword with a default
def heatmap(
    matrix: Sequence[Sequence[float]],
    labels: Sequence[str],
    title: str,
    vmin: float = -1.0,
    vmax: float = 1.0,
    size: int = CHART_WIDTH,
    colorbar_label: str = "cosine similarity",
    marks: Mapping[str, float] | None = None,
    outlined: Sequence[tuple[int, int]] = (),
) -> str:
    """An SVG heatmap with row and column labels and a colour bar (blue-white-red from
    ``vmin`` to ``vmax``). ``marks``: labelled values marked on the colour bar (such as the
    simplex-ETF cosine -1/(K-1)). ``outlined``: (row, column) cells drawn with a thick dark
    outline, both (i, j) and (j, i) (the verdict's merged class pairs)."""
    k = len(matrix)
    names = [str(s) if len(str(s)) <= 18 else str(s)[:17] + "…" for s in labels]
    shown = math.ceil(k / label_step(k))  # names written on each axis
    longest = max([len(s) for s in names] or [1])
    font = NAME_FONT if shown <= 20 else NAME_FONT - 2
    lab_w = longest * font * 0.6 + 8
    left = 22 + lab_w
    cbar_w = 86.0
    top = 30.0
    rotate = shown > 20 or longest > 3
    col_h = lab_w * 0.62 + 6 if rotate else 18
    grid = min(size - left - cbar_w - 10, size - top - col_h - 24)
    height = top + grid + col_h + 24
    g = _Grid(left, top, grid, k, vmin, vmax)

    out = _svg_open(size, height, title, "chart heatmap")
    out += _heatmap_cells(g, matrix, labels)
    out += _heatmap_outlines(g, outlined, labels)
    out += _heatmap_names(g, names, font, rotate)
    ylx = max(12.0, left - lab_w - 6)
    out.append(
        f'<text class="xlabel" x="{left + grid / 2:.1f}" y="{height - 6:.1f}" '
        f'text-anchor="middle" font-size="{LABEL_FONT}">class</text>'
        f'<text class="ylabel" x="{ylx:.1f}" '
        f'y="{top + grid / 2:.1f}" text-anchor="middle" font-size="{LABEL_FONT}" '
        f'transform="rotate(-90 {ylx:.1f} {top + grid / 2:.1f})">class</text>'
    )
    gid = f"cbar{zlib.crc32(repr((title, vmin, vmax, matrix)).encode()):08x}"  # deterministic
    out += _colorbar(g, gid, marks, colorbar_label)
    out.append("</svg>")
    return "".join(out)
