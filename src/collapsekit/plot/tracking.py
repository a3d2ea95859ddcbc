"""Papyan-style tracking curves of a training history (one quantity per axis)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from collapsekit.plot._matplotlib import (
    integer_axis,
    legend_below,
    linear_axis,
    log_y_axis,
    new_figure,
)
from collapsekit.render.figure_data import Panel, tracking_panels

_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")


def plot_tracking(history: Sequence[Mapping[str, Any]] | str | Path, ncols: int = 3) -> Any:
    """One panel per tracked quantity of a per-epoch history (rows, or a ``history.jsonl``
    path / folder as written by :class:`~collapsekit.integrations.CollapseMonitor`), after
    Papyan, Han & Donoho (2020), Figs. 2-7.

    * log y axis where the values span more than a decade (ticks at 1, 2, 5 x 10^k);
    * integer epoch axis;
    * the verdict's neural-collapse thresholds as red dashed lines (NC1, equinorm, ETF error,
      NCC agreement);
    * a grey dashed line at the first epoch of 100 % training accuracy, the start of the
      terminal phase of training, when the history has ``train_accuracy``;
    * legends under each panel, never over the curves.

    How to read it: in the terminal phase NC1, equinorm, equiangularity, ETF error and
    self-duality fall steadily (on log axes: straight lines down) and NCC agreement rises to 1.
    """
    if isinstance(history, str | Path):
        from collapsekit.report.history import read_history

        history = read_history(history)
    rows = list(history)
    if not rows:
        raise ValueError("history: expected at least one row (one epoch), received none")
    panels = tracking_panels(rows)
    if not panels:
        raise ValueError(
            "history: expected rows with numeric metrics (nc1, train_loss, ...), received "
            f"rows with keys {sorted(rows[0])}"
        )
    ncols = max(1, min(ncols, len(panels)))
    nrows = math.ceil(len(panels) / ncols)
    # legends sit under the panels, one entry per line: each row of panels grows by the
    # height of its longest legend, so no legend is clipped or squeezes its axes
    entries = max(
        len(p.series) + len(p.thresholds) + (p.terminal_phase is not None) for p in panels
    )
    height = (3.2 + 0.17 * entries) * nrows
    fig, axes = new_figure(4.3 * ncols, height, ncols=ncols, nrows=nrows, grid=True)
    flat = list(axes.flat)
    for ax, panel in zip(flat, panels, strict=False):
        _draw_panel(ax, panel)
    for ax in flat[len(panels) :]:
        ax.set_visible(False)
    return fig


def _draw_panel(ax: Any, panel: Panel) -> None:
    """One tracking panel on ``ax``: its series, threshold lines, the terminal-phase marker,
    axes, labels and the legend under it."""
    values: list[float] = []
    for (name, (xs, ys)), color in zip(panel.series.items(), _PALETTE * 4, strict=False):
        points = [(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(y)]
        if panel.log:
            points = [(x, y) for x, y in points if y > 0]
        ax.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            color=color,
            lw=1.8,
            marker="o" if len(points) <= 30 else None,
            ms=3,
            label=name,
        )
        values += [p[1] for p in points]
    for value, label in panel.thresholds:
        if not panel.log or value > 0:
            ax.axhline(value, color="#d62728", ls="--", lw=1.3, label=label)
            values.append(value)
    if panel.terminal_phase is not None:
        ax.axvline(
            panel.terminal_phase,
            color="#555555",
            ls="--",
            lw=1.3,
            label=f"100% train accuracy (epoch {panel.terminal_phase:g})",
        )
    if panel.log:
        log_y_axis(ax, values)
    else:
        linear_axis(ax.yaxis)
    integer_axis(ax.xaxis)
    ax.set_title(panel.title, fontsize=11)
    ax.set_xlabel("epoch")
    ax.set_ylabel(panel.ylabel + (" (log scale)" if panel.log else ""))
    ax.grid(True, which="major", color="#e6e6e6", lw=0.8)
    legend_below(ax)
