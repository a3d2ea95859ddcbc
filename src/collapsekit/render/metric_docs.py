"""Links from a metric key to its entry in the metric reference (docs/metrics.md).

Every metric in docs/metrics.md has a section whose anchor is the metric's key (``## nc1`` ->
``#nc1``). Report keys derived from one metric (``linear_cka_debiased``,
``per_class_effective_rank_3``, MONAI's ``per_class_rank_0``) link to that metric's entry.
"""

from __future__ import annotations

import re

from collapsekit.metrics import doc_anchors

#: Where the reference lives, relative to the repository root.
DOCS_PATH = "docs/metrics.md"

#: Sections of docs/metrics.md that describe something other than a registry metric.
_OTHER_SECTIONS = ("verdict", "lidar", "regression_collapse", "layer_profile", "monitors")
#: Keys with a section of their own in docs/metrics.md (anchor = key): every registry metric's
#: anchor, and the other sections.
DOCUMENTED_KEYS: frozenset[str] = frozenset({*doc_anchors().values(), *_OTHER_SECTIONS})

_MONAI_ANCHOR = "monai-embeddingcollapsemetric"
_ALIASES = {
    **{key: anchor for key, anchor in doc_anchors().items() if key != anchor},
    "separation": _MONAI_ANCHOR,
    "domain_shift": _MONAI_ANCHOR,
    "aggregate": _MONAI_ANCHOR,
    "pair_probe_accuracy": "verdict",  # the merged-classes confirmation (evidence rows)
    "nrc1": "regression_collapse",
    "nrc2": "regression_collapse",
    "nrc3": "regression_collapse",
}
_PREFIXES = (
    ("per_class_effective_rank_", "per_class_effective_rank"),
    ("per_class_rank_", _MONAI_ANCHOR),
)


def doc_anchor(key: str) -> str | None:
    """The anchor (without ``#``) of ``key``'s entry in docs/metrics.md, or ``None``.

    Example:
        >>> doc_anchor("nc1"), doc_anchor("linear_cka_debiased"), doc_anchor("per_class_rank_2")
        ('nc1', 'linear_cka', 'monai-embeddingcollapsemetric')
        >>> doc_anchor("not_a_metric") is None
        True
    """
    if not isinstance(key, str):
        raise TypeError(f"key: expected a metric key (str), received {type(key).__name__}")
    name = key.split(" ", 1)[0]  # verdict evidence names such as "effective_rank / isotropic"
    if name in DOCUMENTED_KEYS:
        return name
    if name in _ALIASES:
        return _ALIASES[name]
    for prefix, anchor in _PREFIXES:
        rest = name[len(prefix) :]
        # per-class effective rank keys end in any class name; MONAI's in a class index
        numeric = re.fullmatch(r"-?\d+", rest) is not None
        if name.startswith(prefix) and rest and (numeric or anchor != _MONAI_ANCHOR):
            return anchor
    return None


def doc_url(key: str, base: str = DOCS_PATH) -> str | None:
    """Link to ``key``'s entry: ``base + "#" + anchor``, or ``None`` for an undocumented key.

    ``base`` is the reference's location as the reader sees it: the default is the path in the
    repository; an HTML report written elsewhere can pass a URL (for example the repository's
    web view of docs/metrics.md) or a path relative to the report.

    Example:
        >>> doc_url("nc1")
        'docs/metrics.md#nc1'
        >>> doc_url("effective_rank / isotropic", base="https://example.org/metrics.html")
        'https://example.org/metrics.html#effective_rank'
    """
    anchor = doc_anchor(key)
    return None if anchor is None else f"{base}#{anchor}"


def _reference_text() -> str | None:
    """docs/metrics.md as shipped in the wheel (``collapsekit/docs/metrics.md``) or, in a
    source checkout, from the repository."""
    from importlib import resources
    from pathlib import Path

    try:
        shipped = resources.files("collapsekit").joinpath("docs/metrics.md")
        if shipped.is_file():
            return shipped.read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):  # pragma: no cover
        pass
    repo = Path(__file__).resolve().parents[3] / DOCS_PATH
    return repo.read_text(encoding="utf-8") if repo.is_file() else None


def doc_section(anchor: str) -> str | None:
    """The Markdown body of the ``## anchor`` (or ``# anchor``) entry of the metric reference,
    or ``None`` when the reference or the entry is missing.

    Example:
        >>> "Formula" in (doc_section("nc1") or "Formula")
        True
    """
    text = _reference_text()
    if text is None:
        return None
    parts = re.split(r"^#{1,2} (.+)$", text, flags=re.MULTILINE)
    for i in range(1, len(parts), 2):
        title = re.sub(r"[`*]", "", parts[i]).strip().lower().replace(" ", "-")
        if title == anchor:
            return parts[i + 1].strip()
    return None
