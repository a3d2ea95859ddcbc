"""matplotlib figures keep what they draw on the canvas: legends inside the figure, and at
most 25 category tick labels however many classes."""

from __future__ import annotations

import math
from typing import Any

import pytest

pytest.importorskip("matplotlib")

from collapsekit import plot
from collapsekit.plot._matplotlib import MAX_CATEGORY_LABELS
from figure_fixtures import many_class_report, small_history, small_report


def _legends_outside(fig: Any) -> list[str]:
    """Titles of the axes (or "figure") whose legend reaches past the figure's edge, after a
    draw; fails when the figure has no legend at all."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    legends = [(ax.get_title(), ax.get_legend()) for ax in fig.axes if ax.get_visible()]
    legends = [(t, lg) for t, lg in legends if lg is not None]
    legends += [("figure", lg) for lg in fig.legends]
    assert legends, "no legend drawn"
    out = []
    for title, legend in legends:
        x0, y0, x1, y1 = legend.get_window_extent(renderer).extents
        if x0 < box.x0 - 0.5 or y0 < box.y0 - 0.5 or x1 > box.x1 + 0.5 or y1 > box.y1 + 0.5:
            out.append(title)
    return out


HISTORIES = {
    "twelve epochs, terminal phase": small_history(12, 4),
    "three epochs": small_history(3, 1),
    "NC1 and accuracy only": [
        {"epoch": e, "nc1": 1 / (e + 1), "train_accuracy": min(1.0, 0.5 + 0.2 * e)}
        for e in range(6)
    ],
}


@pytest.mark.parametrize("name", list(HISTORIES))
@pytest.mark.parametrize("ncols", [2, 3])
def test_tracking_legends_stay_inside_the_figure(name: str, ncols: int) -> None:
    fig = plot.plot_tracking(HISTORIES[name], ncols=ncols)
    assert sum(ax.get_legend() is not None for ax in fig.axes) >= 2
    assert _legends_outside(fig) == []


def test_report_and_profile_legends_stay_inside_the_figure() -> None:
    class Profile:
        def __init__(self) -> None:
            self.layers = {
                f"block{i}": {"nc1": 10 * 0.4**i, "effective_rank": 30.0 - i} for i in range(6)
            }
            self.separation_law = {"slope": math.log(0.4), "intercept": math.log(10.0)}
            self.separation_metric = "nc1"

    figures = [
        plot.plot_spectrum(small_report()),
        plot.plot_per_class_rank(small_report()),
        plot.plot_per_class_rank(many_class_report(50)),
        plot.plot_layer_profile(Profile()),
    ]
    for fig in figures:
        assert _legends_outside(fig) == [], fig.axes[0].get_title()


@pytest.mark.parametrize("k", [30, 50, 64])
def test_category_ticks_are_thinned_at_many_classes(k: int) -> None:
    report = many_class_report(k)
    heat = plot.plot_centroid_cosine(report, centred=True).axes[0]
    bars = plot.plot_per_class_rank(report).axes[0]
    for axis in (heat.xaxis, heat.yaxis, bars.xaxis):
        labels = [t.get_text() for t in axis.get_ticklabels()]
        assert 10 <= len(labels) <= MAX_CATEGORY_LABELS
        step = math.ceil(k / MAX_CATEGORY_LABELS)
        assert labels[:2] == ["class_0", f"class_{step}"]  # every step-th name, in order


def test_few_classes_keep_every_label(tmp_path: Any) -> None:
    fig = plot.plot_centroid_cosine(many_class_report(12))
    assert len(fig.axes[0].get_xticklabels()) == 12
    paths = plot.save_figures({"heatmap": fig}, tmp_path, formats=("png",))
    assert paths[0].stat().st_size > 1000
