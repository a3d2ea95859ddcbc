"""``Verdict._repr_html_``: the label, summary, evidence and findings of a verdict as an inert
HTML fragment (every text escaped, no script)."""

from __future__ import annotations

import math
import re

from collapsekit.render.verdict_html import evidence_table, nc_properties_table, render_verdict
from collapsekit.verdict import Evidence, Finding, Verdict

ATTACK = "<script>alert(1)</script>"


def _verdict(text: str) -> Verdict:
    return Verdict(
        "dimensional collapse",
        f"summary {text}",
        evidence=[Evidence(f"rank {text}", 0.05, 0.1, f"rule {text}", True, 1.0, text)],
        findings=[Finding("collapsed class", (f"cls {text}",), {"reason": f"why {text}"})],
        tests_not_run=[f"nc5 {text}"],
    )


def test_repr_html_shows_label_summary_evidence_and_findings() -> None:
    v = _verdict("x")
    page = v._repr_html_()
    assert page == render_verdict(v)
    assert "<b>dimensional collapse</b>" in page
    assert "summary x" in page and "rank x" in page and "rule x" in page
    assert "cls x" in page and "nc5 x" in page
    assert re.search(r"<td>0\.05</td><td>0\.1</td>", page)


def test_repr_html_escapes_every_text() -> None:
    page = _verdict(ATTACK)._repr_html_()
    assert "<script" not in page.lower()
    assert page.count("&lt;script&gt;") >= 5


def test_the_evidence_table_scrolls_inside_its_box() -> None:
    page = render_verdict(_verdict("x"))
    assert (
        "<div style='overflow-x:auto;max-width:100%'><table id='evidence' class='evidence'>" in page
    )


def test_a_verdict_without_findings_has_no_findings_section() -> None:
    assert "id='findings'" not in render_verdict(Verdict("healthy", "ok"))


def _outcomes(label: str) -> list[str]:
    nc = [Evidence(f"nc{i}", 0.01, 0.1, "below", i < 2, 1.0, "neural collapse") for i in range(4)]
    rank = Evidence("effective_rank / null", 0.05, 0.1, "below", True, 1.0, "dimensional collapse")
    table = evidence_table(Verdict(label, "", evidence=[*nc, rank]))
    return re.findall(r"<td[^>]*>(?:supports|no)[^<]*(?:<span[^>]*>[^<]*</span>)?</td>", table)


def test_only_the_tests_of_the_decided_label_are_coloured() -> None:
    healthy = _outcomes("healthy")
    assert len(healthy) == 5 and not any("fired" in cell for cell in healthy)
    assert healthy[0].startswith("<td>supports neural collapse") and "not the verdict" in healthy[0]
    dimensional = _outcomes("dimensional collapse")
    assert [("class='fired'" in cell) for cell in dimensional] == [False] * 4 + [True]
    neural = _outcomes("neural collapse")
    assert [("class='fired'" in cell) for cell in neural] == [True, True, False, False, False]


def test_a_check_without_an_absolute_limit_says_z_only_not_nan() -> None:
    check = {"metric": "equiangularity", "value": 0.07, "limit": math.nan, "null_mean": 0.2}
    check |= {"null_sd": 0.01, "z": 13.0}
    v = Verdict("healthy", "", neural_collapse={"nc2": {"status": "reached", "checks": [check]}})
    table = nc_properties_table(v)
    assert "none (z only)" in table and "nan" not in table.lower()
    check["limit"] = None  # the same check read back from a report's JSON
    assert "none (z only)" in nc_properties_table(v)


def test_the_outcome_sits_next_to_the_test_name() -> None:
    e = Evidence("nc1", 0.01, 0.1, "below", True, 1.0, "neural collapse")
    table = evidence_table(Verdict("neural collapse", "", evidence=[e]))
    assert "<th>test</th><th>outcome</th><th>value</th>" in table
    assert re.search(r"<td class='test'>nc1</td><td class='fired'[^>]*>supports", table)
