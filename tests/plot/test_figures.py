"""matplotlib figures: what is drawn, axis labels and ticks as specified, export to files."""

import math
import sys

import pytest

pytest.importorskip("matplotlib")

from matplotlib.figure import Figure

from collapsekit import plot
from collapsekit.report.report import Report
from collapsekit.verdict import Verdict
from figure_fixtures import CLASS_NAMES, small_history, small_report


def _is_125(v: float) -> bool:
    e = math.floor(math.log10(v) + 1e-9)
    m = v / 10**e
    return any(abs(m - c) < 1e-6 for c in (1, 2, 5))


def _visible_ticks(axis, lo, hi):
    return [t for t in axis.get_majorticklocs() if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9)]


def test_report_figures_are_figures_with_titles():
    figs = small_report().figures()
    assert list(figs) == [
        "spectrum",
        "class_mean_cosine_centred",
        "centroid_cosine",
        "per_class_effective_rank",
    ]
    assert all(isinstance(f, Figure) for f in figs.values())
    assert [f.axes[0].get_title() for f in figs.values()] == [
        "Singular-value spectrum",
        "Centred class-mean cosine (neural-collapse view)",
        "Uncentred class-mean cosine",
        "Per-class effective rank",
    ]


def test_spectrum_log_axis_has_125_ticks_and_integer_index():
    ax = plot.plot_spectrum(small_report()).axes[0]
    assert ax.get_yscale() == "log"
    lo, hi = ax.get_ylim()
    yt = _visible_ticks(ax.yaxis, lo, hi)
    assert len(yt) >= 3 and all(_is_125(t) for t in yt)
    x0, x1 = ax.get_xlim()
    xt = [t for t in ax.get_xticks() if x0 <= t <= x1]
    assert xt and all(float(t).is_integer() for t in xt)
    assert ax.get_xlabel() == "singular-value index"
    assert ax.get_ylabel() == "share of singular-value mass"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "embeddings",
        "isotropic baseline",
    ]
    # labels are plain numbers, not 10^x mathtext
    fig = ax.figure
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert labels and all("$" not in s for s in labels)


def test_heatmap_labels_both_axes_with_class_names_and_has_colour_bar():
    fig = plot.plot_centroid_cosine(small_report())
    ax, bar = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == CLASS_NAMES
    assert [t.get_text() for t in ax.get_yticklabels()] == CLASS_NAMES
    assert ax.get_xlabel() == "class" and ax.get_ylabel() == "class"
    assert bar.get_ylabel() == "cos(μc, μc′)"
    assert ax.images[0].get_clim() == (-1.0, 1.0)
    assert len(ax.texts) == 16  # values written in the cells for K <= 10
    assert ax.images[0].get_array()[0, 1] == pytest.approx(0.15)  # the uncentred matrix


def test_centred_heatmap_marks_the_simplex_etf_value():
    fig = plot.plot_centroid_cosine(small_report(), centred=True)
    ax, bar = fig.axes
    assert ax.get_title() == "Centred class-mean cosine (neural-collapse view)"
    assert ax.images[0].get_array()[0, 1] == pytest.approx(-1 / 3 + 0.01)
    assert [list(line.get_ydata()) for line in bar.lines] == [[-1 / 3, -1 / 3]]  # K = 4
    assert [t.get_text() for t in bar.texts] == ["ETF"]
    with pytest.raises(ValueError, match="class_mean_cosine_centred"):
        plot.plot_centroid_cosine(Report({}, Verdict("healthy", "")), centred=True)


def test_per_class_rank_bars_named_by_class_with_overall_line():
    ax = plot.plot_per_class_rank(small_report()).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == CLASS_NAMES
    assert [p.get_height() for p in ax.patches] == [3.0, 4.0, 2.5, 5.0]
    assert ax.get_ylabel() == "effective rank"
    assert any(list(line.get_ydata()) == [9.5, 9.5] for line in ax.lines)


def test_tracking_one_quantity_per_axis_thresholds_and_terminal_phase_marker():
    fig = plot.plot_tracking(small_history(perfect_from=4))
    axes = [a for a in fig.axes if a.get_visible()]
    by_title = {a.get_title(): a for a in axes}
    assert {"Training loss", "Accuracy", "Within-class variability (NC1)"} <= set(by_title)
    for ax in axes:
        names = [t.get_text() for t in ax.get_legend().get_texts()]
        data_names = [n for n in names if not n.startswith(("threshold", "100%"))]
        assert not ({"train_loss"} & set(data_names) and {"train_accuracy"} & set(data_names))
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel()
        # epoch axis: integer ticks
        x0, x1 = ax.get_xlim()
        assert all(float(t).is_integer() for t in ax.get_xticks() if x0 <= t <= x1)
        # the start of the terminal phase: a vertical line at epoch 4 in every panel
        assert any(list(line.get_xdata()) == [4, 4] for line in ax.lines)
    nc1 = by_title["Within-class variability (NC1)"]
    assert nc1.get_yscale() == "log"  # 3 -> 0.05 spans decades
    assert all(_is_125(t) for t in _visible_ticks(nc1.yaxis, *nc1.get_ylim()))
    assert any(list(line.get_ydata()) == [0.1, 0.1] for line in nc1.lines)  # threshold
    assert by_title["Accuracy"].get_yscale() == "linear"
    assert by_title["Effective dimensions"].get_yscale() == "linear"  # 30 -> 19: no decade


def test_tracking_without_train_accuracy_has_no_marker():
    rows = [{"epoch": e, "nc1": 1.0 / (e + 1)} for e in range(5)]
    ax = plot.plot_tracking(rows).axes[0]
    assert not any(str(t.get_text()).startswith("100%") for t in ax.get_legend().get_texts())


def test_layer_profile_from_mapping_and_object():
    layers = {
        "stem": {"nc1": 20.0, "effective_rank": 40.0},
        "block1": {"nc1": 3.0, "effective_rank": 25.0},
        "block2": {"nc1": 0.4, "effective_rank": 12.0},
    }
    fig = plot.plot_layer_profile(layers)
    assert [a.get_ylabel() for a in fig.axes] == [
        "NC1  Tr(Σ_W Σ_B⁺) / K (log scale)",
        "effective rank",
    ]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list(layers)

    class Profile:  # duck-typed LayerProfile with the separation-law fit
        def __init__(self):
            self.layers = layers
            self.separation_law = {"slope": math.log(0.14), "intercept": math.log(20.0)}

    ax = plot.plot_layer_profile(Profile()).axes[0]
    assert len(ax.lines) == 2
    assert any("separation law" in t.get_text() for t in ax.get_legend().get_texts())
    with pytest.raises(TypeError, match="profile: expected a LayerProfile"):
        plot.plot_layer_profile([1, 2])


@pytest.mark.parametrize("fmt,magic", [("png", b"\x89PNG"), ("pdf", b"%PDF"), ("svg", b"<?xml")])
def test_save_figures_writes_non_empty_files(tmp_path, fmt, magic):
    paths = plot.save_figures(small_report(), tmp_path / "figs", formats=(fmt,), dpi=60)
    assert sorted(p.name for p in paths) == sorted(
        f"{n}.{fmt}"
        for n in (
            "spectrum",
            "class_mean_cosine_centred",
            "centroid_cosine",
            "per_class_effective_rank",
        )
    )
    for p in paths:
        data = p.read_bytes()
        assert len(data) > 1000 and data.startswith(magic)


def test_save_figures_takes_a_dict_and_checks_formats(tmp_path):
    figs = {"tracking": plot.plot_tracking(small_history())}
    (path,) = plot.save_figures(figs, tmp_path, formats="svg")
    assert path.name == "tracking.svg" and path.stat().st_size > 1000
    with pytest.raises(ValueError, match="formats: expected some of"):
        plot.save_figures(figs, tmp_path, formats=("jpg",))


def test_missing_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install 'collapsekit\[plot\]'"):
        plot.require_matplotlib()
