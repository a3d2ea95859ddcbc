"""The result of :func:`collapsekit.analyze`: metrics, intervals, baseline, verdict."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collapsekit._version import __version__
from collapsekit.io.safe_write import write_text_atomic
from collapsekit.verdict import Verdict

REPORT_SCHEMA = "collapsekit-report/1"


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf become None (JSON has no such numbers), tuples become lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


@dataclass
class Report:
    """Everything :func:`collapsekit.analyze` found.

    Attributes:
        metrics: flat ``dict[str, float]`` with every metric the inputs allow.
        intervals: bootstrap percentile intervals ``{key: (low, high)}`` where computed.
        baseline: the same metrics on isotropic Gaussian data of the same N, D and class sizes.
        verdict: label, summary and the evidence with its thresholds.
        inputs: shapes, class counts and what was given.
        spectrum: normalised singular values of the data and of the isotropic baseline.
        centroid_cosine: K x K cosine similarities of the class centroids (K <= 64).
        per_class_effective_rank: effective rank of each class.
        provenance: for every key of ``metrics``, how it was computed: a string starting
            with ``exact`` (over every row) or ``sample`` (from a seeded sample of rows).
    """

    metrics: dict[str, float]
    verdict: Verdict
    inputs: dict[str, Any] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    interval_level: float = 0.95
    baseline: dict[str, float] = field(default_factory=dict)
    spectrum: dict[str, list[float]] = field(default_factory=dict)
    centroid_cosine: list[list[float]] | None = None
    per_class_effective_rank: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, str] = field(default_factory=dict)
    schema: str = REPORT_SCHEMA

    def to_dict(self) -> dict[str, Any]:
        return _clean(
            {
                "schema": self.schema,
                "collapsekit_version": __version__,
                "inputs": self.inputs,
                "metrics": self.metrics,
                "provenance": self.provenance,
                "intervals": {k: list(v) for k, v in self.intervals.items()},
                "interval_level": self.interval_level,
                "baseline": self.baseline,
                "verdict": self.verdict.to_dict(),
                "spectrum": self.spectrum,
                "centroid_cosine": self.centroid_cosine,
                "per_class_effective_rank": self.per_class_effective_rank,
            }
        )

    def to_json(self, path: str | Path | None = None, indent: int = 2) -> str:
        """The versioned JSON text (schema ``collapsekit-report/1``); written to ``path`` if
        given (atomically: a failed write leaves the previous file intact). Non-finite numbers are
        written as null."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            write_text_atomic(path, text + "\n")
        return text

    @classmethod
    def from_json(cls, source: str | Path) -> Report:
        """Read a report written by :meth:`to_json` (a path or the JSON text)."""
        text = str(source)
        if not text.lstrip().startswith("{"):
            text = Path(source).read_text(encoding="utf-8")
        data = json.loads(text)
        if data.get("schema") != REPORT_SCHEMA:
            raise ValueError(
                f"report: expected schema {REPORT_SCHEMA!r}, received {data.get('schema')!r}"
            )
        v = data["verdict"]

        def num(x: Any) -> float:
            return math.nan if x is None else float(x)

        verdict = Verdict.from_dict(v)
        return cls(
            metrics={k: num(x) for k, x in data["metrics"].items()},
            verdict=verdict,
            inputs=data["inputs"],
            intervals={k: (num(a), num(b)) for k, (a, b) in data["intervals"].items()},
            interval_level=data["interval_level"],
            baseline={k: num(x) for k, x in data["baseline"].items()},
            spectrum=data["spectrum"],
            centroid_cosine=data["centroid_cosine"],
            per_class_effective_rank=data["per_class_effective_rank"],
            provenance=data.get("provenance", {}),
        )

    def to_html(self, path: str | Path | None = None, title: str = "collapsekit report") -> str:
        """A self-contained HTML report (inline SVG plots, no network); written to ``path``."""
        from collapsekit.render.html import render_report

        html = render_report(self, title)
        if path is not None:
            write_text_atomic(path, html)
        return html

    def _repr_html_(self) -> str:
        """Jupyter display: the verdict, key metrics and the spectrum as inline SVG."""
        from collapsekit.render.html import render_summary

        return render_summary(self)

    def figures(self) -> dict[str, Any]:
        """matplotlib figures of this report: ``{"spectrum", "centroid_cosine",
        "per_class_effective_rank"}`` (those the report has data for). Needs the ``plot``
        extra (``pip install 'collapsekit[plot]'``); see :mod:`collapsekit.plot`."""
        from collapsekit.plot import report_figures

        return report_figures(self)

    def summary_rows(self) -> list[tuple[str, str, str]]:
        """(metric, value, interval) rows for a text table."""
        rows = []
        for key, value in self.metrics.items():
            ci = self.intervals.get(key)
            interval = f"[{ci[0]:.4g}, {ci[1]:.4g}]" if ci else ""
            rows.append((key, f"{value:.4g}", interval))
        return rows
