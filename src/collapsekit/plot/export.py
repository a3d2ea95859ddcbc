"""All figures of a report at once, and their export to PNG, PDF and SVG."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from collapsekit.plot.report_figures import (
    plot_centroid_cosine,
    plot_per_class_rank,
    plot_spectrum,
)

if TYPE_CHECKING:
    from collapsekit.report.report import Report

FORMATS = ("png", "pdf", "svg")


def report_figures(report: Report) -> dict[str, Any]:
    """``{"spectrum", "class_mean_cosine_centred", "centroid_cosine",
    "per_class_effective_rank"}`` -> Figure, for those the report has data for (the same
    figures as :meth:`Report.figures`); ``centroid_cosine`` is the uncentred class-mean
    cosine, ``class_mean_cosine_centred`` the neural-collapse view."""
    figures: dict[str, Any] = {}
    if report.spectrum and report.spectrum.get("data"):
        figures["spectrum"] = plot_spectrum(report)
    if report.class_mean_cosine_centred:
        figures["class_mean_cosine_centred"] = plot_centroid_cosine(report, centred=True)
    if report.centroid_cosine:
        figures["centroid_cosine"] = plot_centroid_cosine(report)
    if report.per_class_effective_rank:
        figures["per_class_effective_rank"] = plot_per_class_rank(report)
    return figures


def save_figures(
    source: Report | Mapping[str, Any],
    folder: str | Path,
    formats: Sequence[str] = FORMATS,
    dpi: int = 200,
) -> list[Path]:
    """Write every figure of ``source`` (a :class:`Report`, or ``{name: Figure}`` such as
    ``{"tracking": plot_tracking(rows)}``) to ``folder/<name>.<format>``; returns the paths.

    ``formats``: any of ``"png"`` (raster, ``dpi``), ``"pdf"`` and ``"svg"`` (vector, for
    papers). The folder is created if needed.
    """
    if isinstance(formats, str):
        formats = (formats,)
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(
            f"formats: expected some of {FORMATS}, received {tuple(formats)!r}; "
            "for example formats=('png', 'pdf')"
        )
    figures = source if isinstance(source, Mapping) else report_figures(source)
    if not figures:
        raise ValueError(
            "source: expected a report with a spectrum, centroid cosines or per-class ranks "
            "(or a dict of figures), received nothing to draw"
        )
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figures.items():
        for fmt in formats:
            path = out / f"{name}.{fmt}"
            fig.savefig(path, format=fmt, dpi=dpi)
            paths.append(path)
    return paths
