"""The verdict as a few short lines of plain text (``repr(verdict)``, ``str(report)``): the label,
the summary, one line per test that decided it (the outcome before the rule, so a
cut long rule keeps it), the neural-collapse properties, the findings and the tests not run."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collapsekit.verdict.evidence import Evidence
    from collapsekit.verdict.verdict import Verdict

#: widest line of the text forms
WIDTH = 120


def clip(line: str, width: int = WIDTH) -> str:
    """``line`` cut to ``width`` characters, the cut marked by ``...``.

    Example:
        >>> clip("abcdefgh", 6)
        'abc...'
        >>> clip("abc", 6)
        'abc'
    """
    return line if len(line) <= width else line[: width - 3] + "..."


def short_number(value: object) -> str:
    """A number as 4 significant digits ("nan" / "inf" kept); anything else as ``-``.

    Example:
        >>> short_number(0.123456), short_number(None), short_number(float("nan"))
        ('0.1235', '-', 'nan')
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"{value:.4g}" if math.isfinite(value) else str(float(value))


def evidence_line(e: Evidence) -> str:
    """One test of the verdict: name, value, threshold, isotropic null, rule and outcome.

    Example:
        >>> from collapsekit.verdict.evidence import Evidence
        >>> evidence_line(Evidence("r", 0.05, 0.1, "bad if below", True, 1.0, "collapse"))
        'r = 0.05 (threshold 0.1, isotropic 1) -> supports collapse; bad if below'
    """
    null = "" if e.baseline is None else f", isotropic {short_number(e.baseline)}"
    if e.fired is True:
        outcome = f"supports {e.indicates}" if e.indicates else "fired"
    else:
        outcome = "no"
    return (
        f"{e.metric} = {short_number(e.value)} (threshold {short_number(e.threshold)}{null}) "
        f"-> {outcome}; {e.rule}"
    )


def nc_property_lines(props: dict[str, Any]) -> list[str]:
    """One line per neural-collapse property: its status and each check's value, limit, null
    mean and sd and z (``verdict.neural_collapse``).

    Example:
        >>> nc_property_lines({"nc1": {"status": "reached", "reason": "", "checks": [
        ...     {"metric": "nc1", "value": 0.01, "limit": 0.1, "null_mean": 15.0,
        ...      "null_sd": 0.9, "z": 7.2, "required": True, "reached": True}]}})
        ['NC1 reached: nc1 = 0.01 (limit 0.1, null 15 sd 0.9, z 7.2)']
    """
    out = []
    for prop, entry in props.items():
        entry = entry if isinstance(entry, dict) else {}  # a report file may hold any JSON
        checks = ", ".join(
            f"{c.get('metric', '?')} = {short_number(c.get('value'))} (limit "
            f"{short_number(c.get('limit'))}, null {short_number(c.get('null_mean'))} sd "
            f"{short_number(c.get('null_sd'))}, z {short_number(c.get('z'))})"
            for c in entry.get("checks") or []
            if isinstance(c, dict)
        )
        detail = checks or str(entry.get("reason", ""))
        status = entry.get("status", "?")
        out.append(f"{str(prop).upper()} {status}" + (f": {detail}" if detail else ""))
    return out


def _section(title: str, lines: list[str], limit: int) -> list[str]:
    """``title`` and at most ``limit`` indented ``lines`` (then ``(+n more)``); none if empty."""
    if not lines:
        return []
    out = [title] + [clip("  " + line) for line in lines[:limit]]
    if len(lines) > limit:
        out.append(f"  (+{len(lines) - limit} more)")
    return out


def verdict_lines(verdict: Verdict, max_items: int = 8) -> list[str]:
    """The verdict as text lines, each at most :data:`WIDTH` characters: ``Verdict: <label>``,
    the summary, the evidence (one line per test), the findings and the tests not run, at most
    ``max_items`` lines per section (the rest counted as ``(+n more)``).

    Example:
        >>> from collapsekit.verdict.verdict import Verdict
        >>> verdict_lines(Verdict("healthy", "No collapse.", tests_not_run=["nc5 (no OOD)"]))
        ['Verdict: healthy', '  No collapse.', 'Not tested:', '  nc5 (no OOD)']
    """
    lines = [clip(f"Verdict: {verdict.label}")]
    if verdict.summary:
        lines.append(clip("  " + " ".join(str(verdict.summary).split())))
    lines += _section(
        "Evidence (test = value (threshold, isotropic) -> outcome; rule):",
        [evidence_line(e) for e in verdict.evidence],
        max_items,
    )
    lines += _section(
        "Neural collapse (each property against the random-label null):",
        nc_property_lines(verdict.neural_collapse),
        max_items,
    )
    lines += _section("Findings:", [f.line() for f in verdict.findings], max_items)
    lines += _section("Not tested:", [str(t) for t in verdict.tests_not_run], max_items)
    return lines


__all__ = [
    "WIDTH",
    "clip",
    "evidence_line",
    "nc_property_lines",
    "short_number",
    "verdict_lines",
]
