"""The geometry section of the HTML report: the centred class-mean cosine heatmap (the
neural-collapse view, the simplex-ETF value marked) next to the uncentred one, titled as such,
and a line saying how much of the spectrum the chart holds."""

from __future__ import annotations

import re

from collapsekit.render.html import render_report
from figure_fixtures import small_report


def _heatmap_titles(page: str) -> list[str]:
    return re.findall(r'<svg class="chart heatmap"[^>]*aria-label="([^"]+)"', page)


def test_both_heatmaps_titled_centred_first() -> None:
    page = render_report(small_report())
    assert _heatmap_titles(page) == [
        "Centred class-mean cosine (neural-collapse view)",
        "Uncentred class-mean cosine",
    ]
    centred = page[page.index("id='centred-cosine'") : page.index("id='uncentred-cosine'")]
    # K = 4: the simplex ETF value -1/3 is marked on the colour bar and named in the caption
    assert re.search(r'<line class="mark"[^>]*/><text[^>]*>ETF</text>', centred)
    assert "−1/(K−1) = -0.33333" in centred
    assert "Class-centroid cosine similarity" not in page


def test_a_report_without_the_centred_matrix_shows_the_uncentred_one_only() -> None:
    report = small_report()
    report.class_mean_cosine_centred = None
    page = render_report(report)
    assert _heatmap_titles(page) == ["Uncentred class-mean cosine"]
    assert "id='centred-cosine'" not in page


def test_the_spectrum_line_states_a_cut() -> None:
    report = small_report()  # d = 40, n = 400: 40 values
    assert "Spectrum: all 40 singular values." in render_report(report)
    report.spectrum = {k: v[:25] for k, v in report.spectrum.items()}
    assert "Spectrum: the first 25 of 40 singular values" in render_report(report)
