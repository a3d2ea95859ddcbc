"""The result of :func:`collapsekit.analyze`: metrics, intervals, baseline, verdict."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collapsekit._version import __version__
from collapsekit.io.safe_write import write_text_atomic
from collapsekit.report.summary import metric_frame, metric_rows, report_lines, report_repr
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


def _expect(ok: bool, key: str, expected: str, value: Any) -> None:
    if not ok:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise ValueError(
            f"report: {key}: expected {expected}, received {type(value).__name__} {shown}; "
            "the file was edited or is not a collapsekit report"
        )


def _number(x: Any, key: str) -> float:
    """A number of a report file (null is NaN); bool, str and the rest are refused."""
    _expect(
        x is None or (isinstance(x, int | float) and not isinstance(x, bool)),
        key,
        "a number or null",
        x,
    )
    return math.nan if x is None else float(x)


def _list(x: Any, key: str) -> list[Any]:
    _expect(isinstance(x, list), key, "a list", x)
    return list(x)


def _numbers(d: Any, key: str) -> dict[str, float]:
    _expect(isinstance(d, dict), key, "an object", d)
    return {str(k): _number(x, f"{key}[{k!r}]") for k, x in d.items()}


def _pair(x: Any, key: str) -> tuple[float, float]:
    _expect(isinstance(x, list) and len(x) == 2, key, "a [low, high] pair", x)
    return _number(x[0], key), _number(x[1], key)


def _matrix(x: Any, key: str) -> list[list[float]] | None:
    if x is None:
        return None
    return [[_number(v, key) for v in _list(row, key)] for row in _list(x, key)]


def _check_findings(findings: Any) -> None:
    """The shape the renderers rely on: a list of objects whose ``evidence`` is an object, whose
    ``classes`` is a list and whose ``pair_ids`` / ``pairs`` hold integer pairs / triples."""
    _list(findings, "verdict.findings")
    for i, f in enumerate(findings):
        key = f"verdict.findings[{i}]"
        _expect(isinstance(f, dict), key, "an object", f)
        _expect(
            isinstance(f.get("kind"), str), f"{key}.kind", "a finding kind (text)", f.get("kind")
        )
        ev = f.setdefault("evidence", {})
        _expect(isinstance(ev, dict), f"{key}.evidence", "an object", ev)
        _list(f.get("classes", []), f"{key}.classes")
        for a, b in (_pair_list(p, 2, f"{key}.evidence.pair_ids") for p in ev.get("pair_ids", [])):
            _expect(
                all(isinstance(x, int) and not isinstance(x, bool) for x in (a, b)),
                f"{key}.evidence.pair_ids",
                "integer class ids",
                [a, b],
            )
        for p in ev.get("pairs", []):
            _pair_list(p, 3, f"{key}.evidence.pairs")


def _pair_list(x: Any, size: int, key: str) -> list[Any]:
    _expect(isinstance(x, list) and len(x) == size, key, f"lists of {size} items", x)
    return list(x)


@dataclass
class Report:
    """Everything :func:`collapsekit.analyze` found.

    Attributes:
        metrics: flat ``dict[str, float]`` with every metric the inputs allow.
        intervals: bootstrap percentile intervals ``{key: (low, high)}`` where computed.
        baseline: the same metrics on isotropic Gaussian data of the same N, D and class sizes.
        verdict: label, summary and the evidence with its thresholds.
        inputs: shapes, class counts and what was given.
        spectrum: normalised singular values of the data and of the isotropic baseline, all
            min(N, D) of them.
        centroid_cosine: K x K cosine similarities of the uncentred class means ``mu_c``
            (K <= 64); also :attr:`class_mean_cosine_uncentred`.
        class_mean_cosine_centred: K x K cosines of the centred class means ``mu_c - mu_G``
            (the neural-collapse view: -1/(K-1) off the diagonal at a simplex ETF; K <= 64).
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
    #: after the older fields, so positional construction keeps its meaning
    class_mean_cosine_centred: list[list[float]] | None = None

    def __str__(self) -> str:
        """A short summary (at most 40 lines of at most 120 characters): the input sizes, the
        verdict, the tests that decided it, the findings, the tests not run and where to look
        next (see :func:`collapsekit.report.summary.report_lines`)."""
        return "\n".join(report_lines(self))

    def __repr__(self) -> str:
        """One line: ``Report(verdict=..., n=..., d=..., classes=..., metrics=<k keys>)``."""
        return report_repr(self)

    @property
    def class_mean_cosine_uncentred(self) -> list[list[float]] | None:
        """:attr:`centroid_cosine` under the name that says what it is: the cosines of the
        uncentred class means."""
        return self.centroid_cosine

    def rows(self) -> list[dict[str, Any]]:
        """One dict per metric: ``metric``, ``value``, ``low``, ``high`` (the interval, NaN where
        none), ``isotropic`` (the baseline, NaN where none) and ``provenance``; no pandas needed.

        Example:
            >>> r = Report({"x": 1.0}, Verdict("healthy", ""), baseline={"x": 2.0})
            >>> r.rows()[0]["isotropic"]
            2.0
        """
        return metric_rows(self)

    def to_pandas(self) -> Any:
        """:meth:`rows` as a ``pandas.DataFrame`` with the columns metric, value, low, high,
        isotropic and provenance. Needs pandas (``pip install pandas``); without it an
        ImportError says so."""
        return metric_frame(self)

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
                "class_mean_cosine_centred": self.class_mean_cosine_centred,
                "class_mean_cosine_uncentred": self.centroid_cosine,
                # the uncentred matrix under its first name, for readers of older reports
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
        for key in ("inputs", "metrics", "intervals", "baseline", "verdict"):
            _expect(isinstance(data.get(key), dict), key, "an object", data.get(key))
        _check_findings(data["verdict"].get("findings", []))
        try:
            verdict = Verdict.from_dict(data["verdict"])
        except (KeyError, TypeError) as err:
            raise ValueError(
                f"report: verdict: expected the fields of a verdict, received {err}; the file "
                "was edited or is not a collapsekit report"
            ) from None
        return cls(
            metrics=_numbers(data["metrics"], "metrics"),
            verdict=verdict,
            inputs=data["inputs"],
            intervals={k: _pair(x, f"intervals[{k!r}]") for k, x in data["intervals"].items()},
            interval_level=_number(data.get("interval_level", 0.95), "interval_level"),
            baseline=_numbers(data["baseline"], "baseline"),
            spectrum={
                str(k): [_number(x, f"spectrum[{k!r}]") for x in _list(v, f"spectrum[{k!r}]")]
                for k, v in (data.get("spectrum") or {}).items()
            },
            centroid_cosine=_matrix(
                data.get("class_mean_cosine_uncentred", data.get("centroid_cosine")),
                "class_mean_cosine_uncentred",
            ),
            class_mean_cosine_centred=_matrix(
                data.get("class_mean_cosine_centred"), "class_mean_cosine_centred"
            ),
            per_class_effective_rank=_numbers(
                data.get("per_class_effective_rank") or {}, "per_class_effective_rank"
            ),
            provenance={str(k): str(v) for k, v in (data.get("provenance") or {}).items()},
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
        """matplotlib figures of this report: ``{"spectrum", "class_mean_cosine_centred",
        "centroid_cosine", "per_class_effective_rank"}`` (those the report has data for).
        Needs the ``plot`` extra (``pip install 'collapsekit[plot]'``); see
        :mod:`collapsekit.plot`."""
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
