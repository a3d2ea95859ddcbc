"""Lazy matplotlib: imported on first use, Agg canvas, never pyplot's global state."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from collapsekit.render.axes import (
    MAX_CATEGORY_LABELS,
    format_tick,
    label_step,
    log_bounds,
    log_ticks,
)

INSTALL_HINT = "pip install 'collapsekit[plot]'"


def require_matplotlib() -> Any:
    """The ``matplotlib`` module, or ImportError saying how to install it."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(
            "collapsekit.plot: expected matplotlib >= 3.7 to draw figures, but it is not "
            f"installed; install the plot extra: {INSTALL_HINT}"
        ) from exc
    return matplotlib


def new_figure(
    width: float, height: float, ncols: int = 1, nrows: int = 1, grid: bool = False
) -> tuple[Any, Any]:
    """A constrained-layout Figure on an Agg canvas (no window, no ``plt.show()``) and its
    axes (a single Axes when ``nrows == ncols == 1`` and not ``grid``, else a 2-D array)."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=(nrows == 1 and ncols == 1 and not grid))
    return fig, axes


def integer_axis(axis: Any, nbins: int = 6) -> None:
    """Integer ticks in 1-2-5 steps (index and epoch axes)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(nbins=nbins, integer=True, steps=[1, 2, 5, 10]))


def linear_axis(axis: Any, nbins: int = 5) -> None:
    """Ticks in 1-2-5 steps (no 2.5 steps)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(nbins=nbins, steps=[1, 2, 5, 10]))


def log_y_axis(ax: Any, values: Sequence[float]) -> None:
    """Log y axis from the enclosing 1-2-5 bounds of the positive ``values`` with ticks at
    1, 2, 5 x 10^k (the same ticks as the HTML report's SVG), labelled in plain numbers."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    pos = [v for v in values if math.isfinite(v) and v > 0]
    ax.set_yscale("log")
    if not pos:
        return
    lo, hi = log_bounds(min(pos) / 1.02, max(pos) * 1.02)  # markers stay inside
    ax.set_ylim(lo, hi)
    ax.yaxis.set_major_locator(FixedLocator(log_ticks(lo, hi)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_tick(v)))
    ax.yaxis.set_minor_formatter(NullFormatter())


def category_ticks(
    axis: Any, names: Sequence[str], max_labels: int = MAX_CATEGORY_LABELS, x: bool = True
) -> None:
    """Label the categories 0..K-1 of ``axis`` with ``names``, every ``ceil(K / max_labels)``-th
    one when there are more than ``max_labels`` (K = 50 classes: every second name), so the
    labels never crowd; long or many names are rotated 45 degrees on the x axis.

    Example:
        >>> fig, ax = new_figure(3, 3)
        >>> category_ticks(ax.xaxis, [f"c{i}" for i in range(50)])
        >>> len(ax.get_xticks()), ax.get_xticklabels()[1].get_text()
        (25, 'c2')
    """
    k = len(names)
    step = label_step(k, max_labels)
    positions = list(range(0, k, step))
    shown = len(positions)
    font = 9 if shown <= 12 else 8 if shown <= 20 else 7
    axis.set_ticks(positions)
    labels = [names[i] for i in positions]
    longest = max((len(n) for n in labels), default=0)
    rotate = x and (longest > 3 or (shown > 12 and longest > 2))
    if rotate:
        axis.set_ticklabels(labels, rotation=45, ha="right", rotation_mode="anchor", fontsize=font)
    else:
        axis.set_ticklabels(labels, fontsize=font)


def legend_below(ax: Any, ncol: int = 1, fontsize: int = 8) -> None:
    """The axes' legend under it, one entry per row by default (a wide multi-column legend
    can stretch past the figure's edge, and constrained layout only makes room vertically)."""
    ax.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=ncol, frameon=False, fontsize=fontsize
    )
