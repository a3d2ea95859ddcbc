"""A small, safe Markdown subset as HTML, for the metric reference embedded in the report
(docs/metrics.md): paragraphs, ``-`` / ``1.`` lists, pipe tables, fenced code, ``###``
headings, ```code```, ``**bold**``, ``*emphasis*`` and ``[text](#anchor)`` links.

Every character of the source is escaped before any markup is added, so no input can make an
element, an attribute or a script: the only markup in the output is the fixed set of tags
above. Link targets are limited to in-page anchors (resolved through a callback, so a link
to a section that is not on the page becomes plain text) and ``http(s)`` addresses; anything
else (``javascript:``, ``data:``, relative paths) is shown as text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

#: resolves an in-page anchor (``"nc1"`` of ``#nc1``) to the id on the page, or None
Resolver = Callable[[str], str | None]

_CODE = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"\[([^\[\]\n]+)\]\(([^()\s]+)\)")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_EM = re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]+?)(?<=\S)\*(?![\w*])")
_ANCHOR = re.compile(r"#([A-Za-z0-9_.-]+)")
_URL = re.compile(r"https?://[^\s\"'<>`]+")
_ITEM = re.compile(r"^(?:[-*]|\d+\.)\s+")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def _href(target: str, resolve: Resolver | None) -> str | None:
    """The escaped href of a link target, or None when it is not one we allow."""
    anchor = _ANCHOR.fullmatch(target)
    if anchor:
        found = resolve(anchor.group(1)) if resolve is not None else anchor.group(1)
        return None if found is None else "#" + html.escape(found, quote=True)
    if _URL.fullmatch(target):
        return html.escape(target, quote=True)
    return None


def inline_html(text: str, resolve: Resolver | None = None) -> str:
    """One line or paragraph of Markdown as escaped HTML with ``<code>``, ``<b>``, ``<em>``
    and ``<a>``.

    Code spans are set aside first (nothing inside them is read as markup), then the rest is
    escaped, then links, bold and emphasis are turned into tags. ``resolve`` maps an anchor to
    the id it has on the page (None: the link becomes its text).

    Example:
        >>> inline_html("**Bad** if `x < 1`; see [nc1](#nc1)")
        '<b>Bad</b> if <code>x &lt; 1</code>; see <a href="#nc1">nc1</a>'
        >>> inline_html("[x](javascript:alert(1)) <i>")
        '[x](javascript:alert(1)) &lt;i&gt;'
    """
    text = text.replace("\x00", "")
    codes: list[str] = []

    def keep_code(m: re.Match[str]) -> str:
        codes.append(f"<code>{html.escape(m.group(1))}</code>")
        return f"\x00{len(codes) - 1}\x00"

    out = html.escape(_CODE.sub(keep_code, text), quote=True)

    def link(m: re.Match[str]) -> str:
        href = _href(html.unescape(m.group(2)), resolve)
        return m.group(1) if href is None else f'<a href="{href}">{m.group(1)}</a>'

    out = _LINK.sub(link, out)
    out = _BOLD.sub(r"<b>\1</b>", out)
    out = _EM.sub(r"<em>\1</em>", out)
    return re.sub(r"\x00(\d+)\x00", lambda m: codes[int(m.group(1))], out)


def _cells(line: str) -> list[str]:
    row = line.strip()
    row = row[1:] if row.startswith("|") else row
    row = row[:-1] if row.endswith("|") else row
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)]


def _table(lines: list[str], resolve: Resolver | None) -> str:
    head, body = _cells(lines[0]), [_cells(x) for x in lines[2:]]
    th = "".join(f"<th>{inline_html(c, resolve)}</th>" for c in head)
    rows = "".join(
        "<tr>" + "".join(f"<td>{inline_html(c, resolve)}</td>" for c in r) + "</tr>" for r in body
    )
    return f"<table class='md'><tr>{th}</tr>{rows}</table>"


def _list(lines: list[str], resolve: Resolver | None) -> str:
    items: list[str] = []
    for line in lines:
        if _ITEM.match(line):
            items.append(_ITEM.sub("", line, count=1))
        elif items:
            items[-1] += " " + line.strip()
    tag = "ol" if re.match(r"\d+\.", lines[0]) else "ul"
    return f"<{tag}>" + "".join(f"<li>{inline_html(i, resolve)}</li>" for i in items) + f"</{tag}>"


def _block(lines: list[str], resolve: Resolver | None) -> str:
    """One block (lines between blank lines, no fence) as HTML."""
    first = lines[0]
    if len(lines) >= 2 and first.lstrip().startswith("|") and _TABLE_RULE.match(lines[1]):
        return _table(lines, resolve)
    if _ITEM.match(first):
        return _list(lines, resolve)
    start = next((j for j, x in enumerate(lines) if j and _ITEM.match(x)), None)
    if start is not None:  # a paragraph that runs straight into a list
        return _block(lines[:start], resolve) + _block(lines[start:], resolve)
    heading = re.match(r"(#{1,6})\s+(.*)", first)
    if heading:
        level = min(6, len(heading.group(1)) + 1)
        rest = _block(lines[1:], resolve) if lines[1:] else ""
        return f"<h{level}>{inline_html(heading.group(2), resolve)}</h{level}>{rest}"
    text = " ".join(x.strip() for x in lines)
    return f"<p>{inline_html(text, resolve)}</p>"


def markdown_html(text: str, resolve: Resolver | None = None) -> str:
    """A Markdown text (the subset of the module docstring) as escaped HTML.

    How to read the output: block by block, ``<p>``, ``<ul>``/``<ol>``, ``<table class='md'>``,
    ``<pre><code>`` and ``<h2>``-``<h6>`` (a Markdown heading one level deeper, so a section
    nests under the page's own headings). Degenerate cases: empty text gives ""; an unclosed
    code fence runs to the end of the text; a table whose second line is not a ``|---|`` rule
    is a paragraph. Reference: the CommonMark spec (https://spec.commonmark.org), of which
    this is a strict, escaping subset.

    Example:
        >>> markdown_html("A *b*.\\n\\n- one\\n  two\\n- `3`")
        '<p>A <em>b</em>.</p><ul><li>one two</li><li><code>3</code></li></ul>'
        >>> markdown_html("| a | b |\\n|---|---|\\n| 1 | <x> |").split("</tr>")[1]
        '<tr><td>1</td><td>&lt;x&gt;</td>'
    """
    out: list[str] = []
    block: list[str] = []
    lines = text.replace("\r\n", "\n").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            if block:
                out.append(_block(block, resolve))
                block = []
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
            stop = len(lines) if end is None else end
            code = "\n".join(lines[i + 1 : stop])
            out.append(f"<pre><code>{html.escape(code)}</code></pre>")
            i = stop + 1
            continue
        if line.strip():
            block.append(line)
        elif block:
            out.append(_block(block, resolve))
            block = []
        i += 1
    if block:
        out.append(_block(block, resolve))
    return "".join(out)


__all__ = ["inline_html", "markdown_html"]
