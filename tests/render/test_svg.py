"""Inline SVG of the HTML reports: nice ticks, legends clear of the plot, one quantity per
chart, labelled heatmap with a colour bar, provenance and findings when the report has them."""

import math
import re
import xml.etree.ElementTree as ET

from collapsekit.render.html import render_history, render_report, render_summary
from collapsekit.render.svg import line_chart
from collapsekit.verdict import Finding
from figure_fixtures import CLASS_NAMES, many_class_report, small_history, small_report

NS = "{http://www.w3.org/2000/svg}"


def _svgs(page: str) -> dict[str, ET.Element]:
    out = {}
    for text in re.findall(r"<svg .*?</svg>", page, flags=re.S):
        root = ET.fromstring(text)  # every chart is well-formed XML
        out[root.get("aria-label")] = root
    return out


def _ticks(svg: ET.Element, group: str) -> list[str]:
    g = svg.find(f"{NS}g[@class='{group}']")
    return [t.text for t in g.iter(f"{NS}text")]


def _is_125(v: float) -> bool:
    e = math.floor(math.log10(v) + 1e-9)
    return any(abs(v / 10**e - c) < 1e-6 for c in (1, 2, 5))


def test_report_spectrum_has_integer_index_and_125_log_ticks():
    svg = _svgs(render_report(small_report()))["Singular-value spectrum"]
    xt = _ticks(svg, "xticks")
    assert xt and all(float(t).is_integer() for t in xt)
    yt = [float(t) for t in _ticks(svg, "yticks")]
    assert len(yt) >= 3 and all(_is_125(t) for t in yt)
    assert len(svg.findall(f".//{NS}polyline[@class='series']")) == 2


def test_legend_sits_above_the_plot_area():
    svg = _svgs(render_report(small_report()))["Singular-value spectrum"]
    frame_top = float(svg.find(f"{NS}rect[@class='frame']").get("y"))
    legend = svg.find(f"{NS}g[@class='legend']")
    ys = [float(t.get("y")) for t in legend.iter(f"{NS}text")]
    assert [t.text for t in legend.iter(f"{NS}text")] == ["embeddings", "isotropic baseline"]
    assert max(ys) < frame_top


def test_long_legends_wrap_and_stay_clear():
    series = {f"a rather long series name {i}": ([0, 1, 2], [1, 2, 3]) for i in range(6)}
    svg = ET.fromstring(line_chart(series, "t", "epoch", "v"))
    frame_top = float(svg.find(f"{NS}rect[@class='frame']").get("y"))
    ys = {float(t.get("y")) for t in svg.find(f"{NS}g[@class='legend']").iter(f"{NS}text")}
    assert len(ys) >= 2 and max(ys) < frame_top  # wrapped into rows, all above the plot


def test_heatmap_has_row_and_column_labels_and_a_colour_bar():
    svg = _svgs(render_report(small_report()))["Uncentred class-mean cosine"]
    rows = [t.text for t in svg.iter(f"{NS}text") if t.get("class") == "rowlabel"]
    cols = [t.text for t in svg.iter(f"{NS}text") if t.get("class") == "collabel"]
    assert rows == CLASS_NAMES and cols == CLASS_NAMES
    bar = svg.find(f"{NS}g[@class='colorbar']")
    assert bar is not None
    labels = [t.text for t in bar.iter(f"{NS}text")]
    assert {"-1", "-0.5", "0", "0.5", "1"} <= set(labels) and "cos(μc, μc′)" in labels
    assert len(svg.findall(f".//{NS}rect[@class='cell']")) == 16


def test_bar_chart_uses_class_names():
    svg = _svgs(render_report(small_report()))["Per-class effective rank"]
    names = [t.text for t in svg.iter(f"{NS}text") if "xname" in (t.get("class") or "")]
    assert names == CLASS_NAMES


def test_tracking_one_quantity_per_chart_with_thresholds_and_terminal_phase():
    charts = _svgs(render_history(small_history(perfect_from=4)))
    for title, svg in charts.items():
        names = {p.get("data-name") for p in svg.iter(f"{NS}polyline")}
        assert not (names & {"train_loss"} and names & {"train_accuracy", "test_accuracy"})
        xt = _ticks(svg, "xticks")
        assert all(float(t).is_integer() for t in xt), title
        legend = [t.text for t in svg.find(f"{NS}g[@class='legend']").iter(f"{NS}text")]
        assert "100% train accuracy (epoch 4)" in legend, title
    nc1 = charts["Within-class variability (NC1)"]
    assert "(log scale)" in nc1.find(f"{NS}text[@class='ylabel']").text
    assert all(_is_125(float(t)) for t in _ticks(nc1, "yticks"))
    legend = [t.text for t in nc1.find(f"{NS}g[@class='legend']").iter(f"{NS}text")]
    assert "threshold 0.1 (neural nc1)" in legend
    assert len(nc1.findall(f"{NS}line[@class='ref']")) == 2  # threshold + terminal phase
    assert "(log scale)" not in charts["Accuracy"].find(f"{NS}text[@class='ylabel']").text


def test_provenance_column_and_findings_render_when_present():
    report = small_report()
    report.provenance = {}
    report.verdict.findings, report.verdict.tests_not_run = [], []
    page = render_report(report)
    assert "how computed" not in page and "id='findings'" not in page
    report.provenance = {"nc1": "exact over all 400 rows", "effective_rank": "sample of 200 rows"}
    report.verdict.findings = [
        Finding(
            "merged classes",
            ("cat", "dog"),
            {"largest_statistic": 0.8, "threshold": 1.7, "null_mean": 1.0},
        )
    ]
    page = render_report(report)
    assert "how computed" in page and "exact over all 400 rows" in page
    assert "sample of 200 rows" in page
    assert "id='findings'" in page and "merged classes" in page
    assert "cat" in page and "dog" in page and "1.7" in page


def test_notebook_summary_is_compact_html_with_inline_svg():
    report = small_report()
    text = report._repr_html_()
    assert text == render_summary(report)
    assert "neural collapse" in text and "<svg" in text and "nc1" in text
    assert (
        "<script" not in text
        and "<html" not in text
        and "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    )


def test_many_classes_show_every_n_th_name_on_bars_and_heatmaps():
    for k, step in ((30, 2), (50, 2), (64, 3)):
        charts = _svgs(render_report(many_class_report(k)))
        bars = charts["Per-class effective rank"]
        names = [t.text for t in bars.iter(f"{NS}text") if "xname" in (t.get("class") or "")]
        assert names == [f"class_{i}" for i in range(0, k, step)]
        assert len(bars.findall(f".//{NS}rect[@class='bar']")) == k  # every bar is drawn
        for title in (
            "Centred class-mean cosine (neural-collapse view)",
            "Uncentred class-mean cosine",
        ):
            svg = charts[title]
            for kind in ("rowlabel", "collabel"):
                shown = [t.text for t in svg.iter(f"{NS}text") if t.get("class") == kind]
                assert shown == [f"class_{i}" for i in range(0, k, step)], (k, title, kind)
