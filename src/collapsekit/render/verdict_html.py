"""HTML of a :class:`~collapsekit.verdict.Verdict`: the evidence table (the report and compare
pages embed it) and the notebook fragment of ``Verdict._repr_html_`` (label, summary, evidence,
findings). Verdict is imported for type checking only: the verdict imports this module."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from collapsekit.render.axes import is_number
from collapsekit.render.findings_html import render_findings
from collapsekit.render.svg import esc

if TYPE_CHECKING:  # at run time the verdict imports this module (Verdict._repr_html_)
    from collapsekit.verdict import Evidence, Verdict

_COLORS = {"healthy": "#e3f6e3", "neural collapse": "#e4ecfb"}


def number_text(v: Any) -> str:
    """A number as short text (5 significant digits); "–" for None and for anything that is not
    a number (a report file may hold any JSON in a number's place: nothing of it reaches the
    page).

    Example:
        >>> number_text(0.123456), number_text(None), number_text("x")
        ('0.12346', '–', '–')
    """
    if not is_number(v):
        return "–"
    v = float(v)
    if not math.isfinite(v):
        return str(v)
    return f"{v:.5g}"


def _outcome_cell(e: Evidence, label: str) -> str:
    """The outcome of one test. Emphasis (bold on a light highlight, class ``fired``; not red:
    a test can support neural collapse, no fault in a classifier) only on a test that fired
    for the label the verdict decided; a test that fired for another label (two of the four
    neural-collapse tests under a healthy verdict) says so in plain text."""
    if e.fired is not True:
        return "<td>no</td>"
    supports = "supports " + esc(e.indicates) if e.indicates else "fired"
    if e.indicates == label:
        return f"<td class='fired' style='font-weight:bold;background:#e8eefc'>{supports}</td>"
    return f"<td>{supports} <span class='muted' style='color:#777'>(not the verdict)</span></td>"


def evidence_table(verdict: Verdict, table_id: str = "evidence") -> str:
    """The verdict's tests as a table: the test, whether it fired, its value, threshold, null
    and rule; only the tests that fired for the decided label are highlighted.

    Example:
        >>> from collapsekit.verdict import Evidence, Verdict
        >>> e = Evidence("nc1", 0.01, 0.1, "below", True, 1.0, "neural collapse")
        >>> "class='fired'" in evidence_table(Verdict("healthy", "", evidence=[e]))
        False
        >>> "class='fired'" in evidence_table(Verdict("neural collapse", "", evidence=[e]))
        True
    """
    # the outcome next to the test's name: on a phone both are in view without scrolling
    rows = [
        f"<table id='{esc(table_id)}' class='evidence'><tr><th>test</th><th>outcome</th>"
        "<th>value</th><th>threshold</th><th>isotropic / chance</th><th class='rule'>rule</th>"
        "</tr>"
    ]
    for e in verdict.evidence:
        rows.append(
            f"<tr><td class='test'>{esc(e.metric)}</td>{_outcome_cell(e, verdict.label)}"
            f"<td>{number_text(e.value)}</td><td>{number_text(e.threshold)}</td>"
            f"<td>{number_text(e.baseline)}</td><td class='rule'>{esc(e.rule)}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def _check_text(check: dict[str, Any], key: str) -> str:
    """One number of a neural-collapse check; a check without an absolute limit (judged by
    its z-score alone, such as equiangularity) says so instead of showing NaN."""
    v: Any = check.get(key)
    # NaN in memory, null once written to JSON
    if key == "limit" and (v is None or (is_number(v) and not math.isfinite(float(v)))):
        return "none (z only)"
    return number_text(v)


def nc_properties_table(verdict: Verdict) -> str:
    """The neural-collapse properties as a table (status, each check's value, limit, null mean
    and sd, z); empty without them.

    Example:
        >>> from collapsekit.verdict import Verdict
        >>> nc_properties_table(Verdict("healthy", ""))
        ''
    """
    if not verdict.neural_collapse:
        return ""
    rows = [
        "<table class='nc-properties'><tr><th>property</th><th>status</th><th>metric</th>"
        "<th>value</th><th>limit</th><th>null mean</th><th>null sd</th><th>z</th></tr>"
    ]
    for prop, entry in verdict.neural_collapse.items():
        entry = entry if isinstance(entry, dict) else {}  # a report file may hold any JSON
        checks: list[dict[str, Any] | None] = [
            c for c in entry.get("checks") or [] if isinstance(c, dict)
        ]
        checks = checks or [None]
        for c in checks:
            cells = (
                "<td colspan='6'>" + esc(str(entry.get("reason", ""))) + "</td>"
                if c is None
                else f"<td>{esc(str(c.get('metric', '')))}</td>"
                + "".join(
                    f"<td>{_check_text(c, key)}</td>"
                    for key in ("value", "limit", "null_mean", "null_sd", "z")
                )
            )
            rows.append(
                f"<tr><td>{esc(str(prop).upper())}</td>"
                f"<td>{esc(str(entry.get('status', '')))}</td>{cells}</tr>"
            )
    rows.append("</table>")
    return "<div style='overflow-x:auto;max-width:100%'>" + "".join(rows) + "</div>"


def render_verdict(verdict: Verdict) -> str:
    """A self-contained fragment (inline styles, no script, every text escaped): the label on
    its colour, the summary, the tests behind the verdict (scrolling sideways inside their box
    on a narrow screen) and the findings with the tests not run.

    Example:
        >>> from collapsekit.verdict import Verdict
        >>> "<b>healthy</b>" in render_verdict(Verdict("healthy", "No collapse."))
        True
    """
    color = _COLORS.get(verdict.label, "#fde2e2")
    findings = render_findings(verdict) if verdict.findings or verdict.tests_not_run else ""
    return (
        "<div class='collapsekit-verdict' style='font-family:sans-serif;font-size:13px'>"
        f"<div style='background:{color};padding:.4em .8em;border-radius:4px;"
        f"display:inline-block;font-size:1.15em'>collapsekit verdict: <b>{esc(verdict.label)}"
        f"</b></div><p style='margin:.4em 0'>{esc(verdict.summary)}</p>"
        f"<div style='overflow-x:auto;max-width:100%'>{evidence_table(verdict)}</div>"
        f"{nc_properties_table(verdict)}{findings}</div>"
    )


__all__ = ["evidence_table", "nc_properties_table", "number_text", "render_verdict"]
