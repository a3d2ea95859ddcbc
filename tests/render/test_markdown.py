"""The Markdown subset of the embedded metric reference: the forms docs/metrics.md uses become
HTML, and nothing in the source can make markup of its own."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from collapsekit.render.html import _reference_section
from collapsekit.render.markdown import inline_html, markdown_html
from collapsekit.render.metric_docs import doc_section


def test_links_to_anchors_on_the_page_resolve_the_rest_become_text() -> None:
    on_page = {"nc1"}
    out = inline_html(
        "see [nc1](#nc1) and [cdnv](#cdnv)", lambda a: f"ref-{a}" if a in on_page else None
    )
    assert out == 'see <a href="#ref-nc1">nc1</a> and cdnv'


def test_only_anchor_and_http_links_are_links() -> None:
    assert inline_html("[p](https://example.org/a?b=1&c=2)") == (
        '<a href="https://example.org/a?b=1&amp;c=2">p</a>'
    )
    for target in ("javascript:alert(1)", "data:text/html,x", "../etc", "#a'onmouseover=x"):
        out = inline_html(f"[p]({target})")
        assert "<a" not in out, target


def test_code_spans_are_literal() -> None:
    out = inline_html("`**not bold** [x](#x) <b>` and **bold**")
    assert out == ("<code>**not bold** [x](#x) &lt;b&gt;</code> and <b>bold</b>")


def test_emphasis_is_not_read_into_products() -> None:
    assert inline_html("*Precision of the spectra*") == "<em>Precision of the spectra</em>"
    assert inline_html("a * b * c") == "a * b * c"


def test_blocks_lists_tables_fences_headings() -> None:
    text = (
        "Intro line\ncontinues.\n\n- **Formula.** one\n  wrapped\n- two\n\n1. first\n2. second\n\n"
        "| set | what |\n|---|---|\n| *iso* | [a](#a) |\n\n```python\nx = 1 < 2\n```\n\n### Sub"
    )
    out = markdown_html(text)
    assert out.startswith("<p>Intro line continues.</p>")
    assert "<ul><li><b>Formula.</b> one wrapped</li><li>two</li></ul>" in out
    assert "<ol><li>first</li><li>second</li></ol>" in out
    assert '<tr><td><em>iso</em></td><td><a href="#a">a</a></td></tr>' in out
    assert "<pre><code>x = 1 &lt; 2</code></pre>" in out
    assert out.endswith("<h4>Sub</h4>")


@pytest.mark.parametrize(
    "payload",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '[x](#a"><script>alert(1)</script>)',
        "`</code><script>`",
        "| <b> | x |\n|---|---|\n| <i> | y |",
        "```\n</pre><script>\n```",
        "- <svg onload=alert(1)>",
        "**<u>**",
    ],
)
def test_no_source_text_becomes_markup(payload: str) -> None:
    seen: list[tuple[str, list[tuple[str, str | None]]]] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            seen.append((tag, attrs))

    Tags().feed(markdown_html(payload))
    allowed = {"p", "ul", "ol", "li", "table", "tr", "th", "td", "pre", "code", "b", "em", "a"}
    assert {tag for tag, _ in seen} <= allowed, seen
    for tag, attrs in seen:
        assert attrs in ([], [("class", "md")]) or (
            tag == "a" and len(attrs) == 1 and attrs[0][0] == "href"
        ), (tag, attrs)


def test_the_report_reference_has_no_raw_markdown() -> None:
    if doc_section("effective_rank") is None:
        pytest.skip("docs/metrics.md is not reachable from this install")
    section = _reference_section({"effective_rank": 1.0, "rankme": 1.0, "alpha_req": 0.5})
    assert "](#" not in section and "**" not in section
    # rankme's entry links to effective_rank, which is on the page
    assert '<a href="#ref-effective_rank">effective_rank</a>' in section
    assert "<li><b>Formula.</b>" in section  # alpha_req's entry is a list


def test_every_reference_entry_renders_without_markdown_left_over() -> None:
    from collapsekit.render.metric_docs import DOCUMENTED_KEYS

    entries = {a: doc_section(a) for a in sorted(DOCUMENTED_KEYS)}
    if not any(entries.values()):
        pytest.skip("docs/metrics.md is not reachable from this install")
    for anchor, body in entries.items():
        out = markdown_html(body or "", lambda a: f"ref-{a}")
        text = re.sub(r"<code>.*?</code>", "", out)  # code spans may hold any characters
        assert "](#" not in text and "**" not in text and "\n- " not in text, anchor
        assert "<" not in re.sub(
            r"</?(p|ul|ol|li|table|tr|th|td|pre|code|b|em|h\d|a)( [^>]*)?>", "", out
        ), anchor
