"""Two reports of the same inputs side by side (:func:`compare`): the verdict change, per-metric
deltas with their intervals and direction, and the paired CKA; JSON ``collapsekit-compare/1``."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from collapsekit.io.safe_write import write_text_atomic
from collapsekit.metrics import keys, spec
from collapsekit.report.report import Report, _clean

COMPARE_SCHEMA = "collapsekit-compare/1"


@dataclass(frozen=True)
class MetricChange:
    """One metric before and after.

    ``delta = after - before``; ``relative = delta / |before|`` (None when ``before`` is 0 or
    either value is not finite). ``bad`` is the registry's collapse direction
    (:attr:`collapsekit.metrics.MetricSpec.bad`); ``toward_collapse`` is True when the value moved
    that way, False when it moved the other way or not at all, None when the metric has no
    collapse direction or a value is not finite.
    """

    key: str
    before: float
    after: float
    delta: float
    relative: float | None
    interval_before: tuple[float, float] | None
    interval_after: tuple[float, float] | None
    bad: Literal["low", "high"] | None
    toward_collapse: bool | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (intervals as ``[low, high]`` lists, non-finite numbers as null)."""
        return _clean(
            {
                "before": self.before,
                "after": self.after,
                "delta": self.delta,
                "relative": self.relative,
                "interval_before": self.interval_before,
                "interval_after": self.interval_after,
                "bad": self.bad,
                "toward_collapse": self.toward_collapse,
            }
        )


def _change(key: str, before: Report, after: Report) -> MetricChange:
    """The row of ``key`` (present in both reports)."""
    va, vb = float(before.metrics[key]), float(after.metrics[key])
    finite = math.isfinite(va) and math.isfinite(vb)
    delta = vb - va
    bad = spec(key).bad
    toward: bool | None = None
    if finite and bad is not None:
        toward = delta < 0 if bad == "low" else delta > 0
    ia, ib = before.intervals.get(key), after.intervals.get(key)
    return MetricChange(
        key=key,
        before=va,
        after=vb,
        delta=delta,
        relative=delta / abs(va) if finite and va != 0 else None,
        interval_before=(float(ia[0]), float(ia[1])) if ia else None,
        interval_after=(float(ib[0]), float(ib[1])) if ib else None,
        bad=bad,
        toward_collapse=toward,
    )


def _optional(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(
            f"{name}: expected a number or None, received {type(value).__name__} {value!r}; "
            "pass the CKA of the paired rows (Report.metrics['linear_cka'] of a report "
            "computed with reference=the other embeddings)"
        )
    return float(value)


@dataclass
class Comparison:
    """The result of :func:`compare`.

    Attributes:
        before, after: the two reports.
        changes: one :class:`MetricChange` per compare metric of the registry present in both.
        linear_cka, linear_cka_debiased: CKA between the two embeddings of the same rows, when
            the caller computed it (None otherwise).
        name_before, name_after: what the two sets are called (file names in the CLI).
    """

    before: Report
    after: Report
    changes: list[MetricChange] = field(default_factory=list)
    linear_cka: float | None = None
    linear_cka_debiased: float | None = None
    name_before: str = "before"
    name_after: str = "after"
    schema: str = COMPARE_SCHEMA

    @property
    def verdict_before(self) -> str:
        """The label of the first report's verdict."""
        return self.before.verdict.label

    @property
    def verdict_after(self) -> str:
        """The label of the second report's verdict."""
        return self.after.verdict.label

    @property
    def verdict_changed(self) -> bool:
        """Whether the verdict label differs between the two reports."""
        return self.verdict_before != self.verdict_after

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: the keys of the 0.2 CLI (``a``, ``b``, ``linear_cka``,
        ``linear_cka_debiased``, ``verdict_a``, ``verdict_b``, ``metrics_a``, ``metrics_b``,
        ``report_a``, ``report_b``) plus ``verdict_changed`` and ``changes``."""
        shown = keys("compare")
        return _clean(
            {
                "schema": self.schema,
                "a": self.name_before,
                "b": self.name_after,
                "linear_cka": self.linear_cka,
                "linear_cka_debiased": self.linear_cka_debiased,
                "verdict_a": self.verdict_before,
                "verdict_b": self.verdict_after,
                "verdict_changed": self.verdict_changed,
                "metrics_a": {k: self.before.metrics[k] for k in shown if k in self.before.metrics},
                "metrics_b": {k: self.after.metrics[k] for k in shown if k in self.after.metrics},
                "changes": {c.key: c.to_dict() for c in self.changes},
                "report_a": self.before.to_dict(),
                "report_b": self.after.to_dict(),
            }
        )

    def to_json(self, path: str | Path | None = None, indent: int = 2) -> str:
        """The JSON text (schema ``collapsekit-compare/1``); written atomically to ``path`` if
        given. Non-finite numbers are written as null."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            write_text_atomic(path, text + "\n")
        return text

    @classmethod
    def from_json(cls, source: str | Path) -> Comparison:
        """Read a comparison written by :meth:`to_json` (a path or the JSON text); the rows are
        recomputed from the two embedded reports."""
        text = str(source)
        if not text.lstrip().startswith("{"):
            text = Path(source).read_text(encoding="utf-8")
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("schema") != COMPARE_SCHEMA:
            got = data.get("schema") if isinstance(data, dict) else type(data).__name__
            raise ValueError(
                f"comparison: expected schema {COMPARE_SCHEMA!r}, received {got!r}; "
                "read a single report with Report.from_json"
            )
        for key in ("report_a", "report_b"):
            if not isinstance(data.get(key), dict):
                raise ValueError(
                    f"comparison: {key}: expected an object (a report), received "
                    f"{type(data.get(key)).__name__}; the file was edited or is not a comparison"
                )
        return compare(
            Report.from_json(json.dumps(data["report_a"])),
            Report.from_json(json.dumps(data["report_b"])),
            linear_cka=_optional(data.get("linear_cka"), "comparison: linear_cka"),
            linear_cka_debiased=_optional(
                data.get("linear_cka_debiased"), "comparison: linear_cka_debiased"
            ),
            names=(str(data.get("a", "before")), str(data.get("b", "after"))),
        )

    def to_html(self, path: str | Path | None = None) -> str:
        """A self-contained HTML page (verdicts, change column, both verdicts' evidence,
        spectra); written atomically to ``path`` if given."""
        from collapsekit.render.compare_html import render_compare

        page = render_compare(self)
        if path is not None:
            write_text_atomic(path, page)
        return page

    def __str__(self) -> str:
        width = max([len("metric"), *(len(c.key) for c in self.changes)])
        lines = [f"{'metric':<{width}}  {'before':>10}  {'after':>10}  {'change':>10}"]
        for c in self.changes:
            mark = "  toward collapse" if c.toward_collapse else ""
            lines.append(
                f"{c.key:<{width}}  {c.before:>10.4g}  {c.after:>10.4g}  {c.delta:>+10.4g}{mark}"
            )
        if self.linear_cka is not None:
            lines.append(f"linear CKA (before vs after): {self.linear_cka:.4f}")
        state = "changed" if self.verdict_changed else "unchanged"
        lines.append(f"verdict: {self.verdict_before} -> {self.verdict_after} ({state})")
        return "\n".join(lines)


def compare(
    before: Report,
    after: Report,
    *,
    linear_cka: float | None = None,
    linear_cka_debiased: float | None = None,
    names: tuple[str, str] | None = None,
) -> Comparison:
    """Compare two reports of the same inputs (e.g. a model before and after fine-tuning).

    For every metric the registry marks for comparison (``keys("compare")``) that both reports
    hold: ``delta = after - before``, ``relative = delta / |before|``, both bootstrap intervals,
    and ``toward_collapse``: whether the value moved in the registry's collapse direction
    (``spec(key).bad``: down for ``"low"``, up for ``"high"``). Read the deltas against the
    intervals: a delta inside either interval is within resampling noise. ``linear_cka`` is the
    CKA between the two embeddings of the same rows (1: the same space up to rotation and
    scale); pass it when computed (``analyze(before_rows, reference=after_rows)``), it is not
    derivable from the reports alone. Metrics present in only one report are left out; a
    non-finite value gives ``relative`` and ``toward_collapse`` None. ``names`` defaults to each
    report's ``inputs["source"]``, else "before" / "after".

    Reference: Kornblith et al., "Similarity of Neural Network Representations Revisited",
    ICML 2019 (CKA); the per-metric references are in docs/metrics.md.

    Example:
        >>> from collapsekit.verdict import Verdict
        >>> a = Report({"effective_rank": 10.0}, Verdict("healthy", ""))
        >>> b = Report({"effective_rank": 4.0}, Verdict("dimensional collapse", ""))
        >>> c = compare(a, b)
        >>> c.changes[0].delta, c.changes[0].toward_collapse, c.verdict_changed
        (-6.0, True, True)
    """
    for name, report in (("before", before), ("after", after)):
        if not isinstance(report, Report):
            raise ValueError(
                f"{name}: expected a Report, received {type(report).__name__}; "
                "pass the result of ck.analyze (or Report.from_json)"
            )
    if names is None:
        names = (
            str(before.inputs.get("source", "before")),
            str(after.inputs.get("source", "after")),
        )
    changes = [
        _change(k, before, after)
        for k in keys("compare")
        if k in before.metrics and k in after.metrics
    ]
    return Comparison(
        before=before,
        after=after,
        changes=changes,
        linear_cka=_optional(linear_cka, "linear_cka"),
        linear_cka_debiased=_optional(linear_cka_debiased, "linear_cka_debiased"),
        name_before=names[0],
        name_after=names[1],
    )


__all__ = ["COMPARE_SCHEMA", "Comparison", "MetricChange", "compare"]
