"""The three geometry figures of a :class:`Report`: spectrum, centroid cosines, class ranks."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from collapsekit.plot._matplotlib import (
    category_ticks,
    integer_axis,
    linear_axis,
    log_y_axis,
    new_figure,
)
from collapsekit.render.figure_data import class_names, per_class_ranks, spectrum_series

if TYPE_CHECKING:
    from collapsekit.report.report import Report

_COLORS = ("#1f77b4", "#d62728")


def _target(ax: Any, width: float, height: float) -> tuple[Any, Any]:
    if ax is not None:
        return ax.figure, ax
    fig, new_ax = new_figure(width, height)
    return fig, new_ax


def plot_spectrum(report: Report, ax: Any = None) -> Any:
    """Share of singular-value mass per index (log scale, ticks at 1, 2, 5 x 10^k) for the
    embeddings and for isotropic Gaussian data of the same N and D.

    How to read it: a healthy embedding stays near the flat isotropic curve for many indices;
    dimensional collapse shows as a cliff after a few indices (most mass in few directions).
    Neural collapse gives K-1 large values then a drop.

    Returns the Figure (``ax``'s figure when an Axes is given).
    """
    series = spectrum_series(report)
    if not series:
        raise ValueError(
            "report: expected a report with a spectrum (report.spectrum['data']), received one "
            "without; analyze() fills it whenever there are at least two rows"
        )
    fig, ax = _target(ax, 6.0, 4.0)
    values: list[float] = []
    for (name, (xs, ys)), color in zip(series.items(), _COLORS, strict=False):
        dashed = name != "embeddings"
        ax.plot(xs, ys, color=color, lw=1.8, ls="--" if dashed else "-", label=name)
        values += ys
    log_y_axis(ax, values)
    integer_axis(ax.xaxis)
    ax.set_xlim(1, max(len(xs) for xs, _ in series.values()))
    ax.set_xlabel("singular-value index")
    ax.set_ylabel("share of singular-value mass")
    ax.set_title("Singular-value spectrum")
    ax.grid(True, which="major", color="#e6e6e6", lw=0.8)
    ax.legend(loc="lower left", frameon=True, fontsize=9)
    return fig


def _annotate(ax: Any, matrix: list[list[float]]) -> None:
    """Each cell's value written in it (white on dark cells)."""
    k = len(matrix)
    for i in range(k):
        for j in range(k):
            v = float(matrix[i][j]) if matrix[i][j] is not None else math.nan
            if math.isfinite(v):
                ax.text(
                    j,
                    i,
                    f"{v:.2f}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if abs(v) > 0.6 else "#222",
                )


def plot_centroid_cosine(
    report: Report, ax: Any = None, annotate: bool | None = None, centred: bool = False
) -> Any:
    """Heatmap of the cosine similarity between class means, both axes labelled with the class
    names (every n-th name beyond 25 classes), colour bar from -1 to 1.

    ``centred=False``: the uncentred class means ``mu_c`` (``report.centroid_cosine``);
    ``centred=True``: the centred ones ``mu_c - mu_G`` (``report.class_mean_cosine_centred``),
    the neural-collapse view, with the simplex-ETF value -1/(K-1) marked on the colour bar.

    How to read it: centred, neural collapse shows every off-diagonal cell at -1/(K-1) and a
    healthy space spreads around it; merged classes show as off-diagonal cells near 1. The
    uncentred cells are all pulled toward +1 by the offset the classes share. ``annotate``:
    write the value in each cell (default: when there are at most 10 classes).
    """
    matrix = report.class_mean_cosine_centred if centred else report.centroid_cosine
    if not matrix:
        field = "class_mean_cosine_centred" if centred else "centroid_cosine"
        raise ValueError(
            f"report: expected class-mean cosines (report.{field}), received none; "
            "analyze() computes them for labelled data with 2 to 64 classes"
        )
    k = len(matrix)
    names = class_names(report, k)
    side = min(9.0, max(4.5, 2.5 + 0.3 * k))
    fig, ax = _target(ax, side + 1.2, side)
    image = ax.imshow(matrix, cmap="RdBu_r", vmin=-1.0, vmax=1.0, interpolation="nearest")
    category_ticks(ax.xaxis, names)
    category_ticks(ax.yaxis, names, x=False)
    ax.set_xlabel("class")
    ax.set_ylabel("class")
    ax.set_title(
        "Centred class-mean cosine (neural-collapse view)"
        if centred
        else "Uncentred class-mean cosine"
    )
    if annotate if annotate is not None else k <= 10:
        _annotate(ax, matrix)
    bar = fig.colorbar(image, ax=ax, shrink=0.85)
    bar.set_label("cos(μc − μG, μc′ − μG)" if centred else "cos(μc, μc′)")
    bar.set_ticks([-1.0, -0.5, 0.0, 0.5, 1.0])
    if centred and k >= 2:
        etf = -1.0 / (k - 1)
        bar.ax.axhline(etf, color="black", lw=1.5)
        bar.ax.text(
            -0.3,
            etf,
            "ETF",
            transform=bar.ax.get_yaxis_transform(),
            ha="right",
            va="center",
            fontsize=8,
        )
    return fig


def plot_per_class_rank(report: Report, ax: Any = None) -> Any:
    """Effective rank (Roy & Vetterli 2007) of each class's embeddings, one bar per class
    name, with the effective rank of all rows as a dashed line.

    How to read it: a class far below the others occupies few dimensions (that class has
    collapsed); under neural collapse every class is small.
    """
    names, ranks = per_class_ranks(report)
    if not ranks:
        raise ValueError(
            "report: expected per-class effective ranks (report.per_class_effective_rank), "
            "received none; analyze() computes them for labelled data"
        )
    own_figure = ax is None
    fig, ax = _target(ax, max(5.0, min(12.0, 2.0 + 0.35 * len(ranks))), 4.0)
    positions = list(range(len(ranks)))
    ax.bar(
        positions,
        [r if math.isfinite(r) else 0.0 for r in ranks],
        color=_COLORS[0],
        label="per class",
    )
    overall = report.metrics.get("effective_rank")
    if overall is not None and math.isfinite(overall):
        ax.axhline(overall, color="#555555", ls="--", lw=1.5, label="all rows together")
    category_ticks(ax.xaxis, names)
    if overall is not None and math.isfinite(overall):
        if own_figure:  # under the figure, in room that constrained layout makes for it
            fig.legend(loc="outside lower center", ncol=2, frameon=False, fontsize=9)
        else:
            ax.legend(loc="best", fontsize=9)
    linear_axis(ax.yaxis)
    ax.set_xlabel("class")
    ax.set_ylabel("effective rank")
    ax.set_title("Per-class effective rank")
    ax.grid(True, axis="y", color="#e6e6e6", lw=0.8)
    ax.set_axisbelow(True)
    return fig
