"""HTML snippet listing a verdict's findings (class names, statistic, threshold, null) and the
tests that could not run; the report page embeds it under the verdict."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # at run time the verdict imports this module (Verdict._repr_html_)
    from collapsekit.verdict import Verdict

_EVIDENCE_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    "merged classes": (
        ("largest_statistic", "largest T in the group"),
        ("threshold", "threshold"),
        ("null_mean", "null mean of T"),
        ("null_spread", "null sd of T"),
        ("alpha", "family-wise level"),
        ("effective_dim", "effective dimension"),
    ),
    "collapsed class": (
        ("variance_ratio", "variance / median class"),
        ("variance_ratio_threshold", "threshold"),
        ("variance_ratio_null", "null"),
        ("effective_rank", "effective rank"),
        ("effective_rank_null", "isotropic null"),
        ("rank_ratio_to_median", "rank / median class (null-relative)"),
    ),
    "minority collapse": (
        ("minority_mean_cos", "minority rows' mean cosine"),
        ("threshold_cos", "threshold"),
        ("majority_mean_cos", "majority rows' mean cosine"),
        ("etf_cos", "simplex ETF cosine"),
        ("null_cos", "null (random rows)"),
        ("imbalance", "largest / smallest class"),
    ),
}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def render_findings(verdict: Verdict, max_classes: int = 40) -> str:
    """``<section id='findings'>`` with one item per finding and the tests not run.

    Example:
        >>> from collapsekit.verdict import Verdict
        >>> render_findings(Verdict("healthy", "ok"))
        "<section id='findings'><h2>Findings</h2><p>No per-class findings.</p></section>"
    """
    parts = ["<section id='findings'><h2>Findings</h2>"]
    if not verdict.findings:
        parts.append("<p>No per-class findings.</p>")
    else:
        parts.append("<ul class='findings'>")
        for f in verdict.findings:
            kind = str(f.kind)
            classes = [str(c) for c in f.classes]
            shown = ", ".join(html.escape(c) for c in classes[:max_classes])
            if len(classes) > max_classes:
                shown += f" (+{len(classes) - max_classes} more)"
            ev = f.evidence
            cells = "".join(
                f"<tr><td>{html.escape(title)}</td><td>{_fmt(ev[key])}</td></tr>"
                for key, title in _EVIDENCE_KEYS.get(kind, ())
                if key in ev and ev[key] is not None
            )
            extra = ""
            if kind == "merged classes" and ev.get("pairs"):
                pairs = ", ".join(
                    f"{html.escape(str(a))}&ndash;{html.escape(str(b))} (T {_fmt(t)})"
                    for a, b, t in ev["pairs"][:10]
                )
                extra = f"<div class='pairs'>closest pairs: {pairs}</div>"
            if kind == "collapsed class" and ev.get("reason"):
                extra = f"<div class='reason'>{html.escape(str(ev['reason']))}</div>"
            parts.append(
                f"<li><b>{html.escape(kind)}</b>: {shown}{extra}"
                f"<table class='evidence'>{cells}</table></li>"
            )
        parts.append("</ul>")
    if verdict.tests_not_run:
        items = "".join(f"<li>{html.escape(t)}</li>" for t in verdict.tests_not_run)
        parts.append(f"<p>Not tested:</p><ul class='not-run'>{items}</ul>")
    parts.append("</section>")
    return "".join(parts)
