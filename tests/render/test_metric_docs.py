"""docs/metrics.md has an entry for every metric, and doc_url points at real anchors."""

import re
from pathlib import Path

import pytest
import torch

from collapsekit.engine.analyze import analyze
from collapsekit.functional import NC_KEYS
from collapsekit.render.metric_docs import DOCUMENTED_KEYS, doc_anchor, doc_url

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
SECOND_TABLE = (
    "effective_rank",
    "effective_rank_score",
    "per_class_effective_rank",
    "rankme",
    "centroid_similarity",
    "loo_centroid_stability",
    "silhouette",
    "linear_cka",
    "linear_probe_accuracy",
    "uniformity",
    "std_of_l2_normalized",
)
SECTION_PARTS = ("**Formula.**", "**Range.**", "**Bad direction:**", "**Values.**", "**Paper.**")


def _github_slug(heading: str) -> str:
    text = re.sub(r"[`*]", "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _sections() -> dict[str, str]:
    text = DOCS.read_text(encoding="utf-8")
    parts = re.split(r"^#{1,2} (.+)$", text, flags=re.MULTILINE)
    return {_github_slug(parts[i]): parts[i + 1] for i in range(1, len(parts), 2)}


def test_every_documented_key_has_a_section_with_every_part():
    sections = _sections()
    for key in DOCUMENTED_KEYS:
        assert key in sections, f"docs/metrics.md has no '## {key}' section"
    for key in (*NC_KEYS, *SECOND_TABLE):
        assert key in DOCUMENTED_KEYS
        missing = [p for p in SECTION_PARTS if p not in sections[key]]
        assert not missing, f"{key}: section lacks {missing}"
    assert "**Degenerate cases.**" in sections["equiangularity"]


def test_every_internal_link_resolves():
    sections = _sections()
    links = re.findall(r"\]\(#([^)]+)\)", DOCS.read_text(encoding="utf-8"))
    assert links
    for anchor in links:
        assert anchor in sections, anchor


def test_every_key_analyze_reports_links_to_an_entry():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 3
    x = torch.randn(60, 8, generator=g) + 3 * torch.nn.functional.one_hot(y, 8).float()
    report = analyze(
        x, y, weights=torch.randn(3, 8, generator=g), reference=x.flip(1), bootstrap=0, probe=False
    )
    sections = _sections()
    assert "linear_probe_accuracy" in DOCUMENTED_KEYS  # probe=False only to keep this test fast
    for key in report.metrics:
        anchor = doc_anchor(key)
        assert anchor is not None, f"metric {key!r} has no entry in docs/metrics.md"
        assert anchor in sections
    for ev in report.verdict.evidence:
        assert doc_anchor(ev.metric) in sections, ev.metric


def test_monai_keys_and_unknown_keys():
    assert doc_url("per_class_rank_-1") == "docs/metrics.md#monai-embeddingcollapsemetric"
    assert doc_url("aggregate", base="m.html") == "m.html#monai-embeddingcollapsemetric"
    assert doc_anchor("monai-embeddingcollapsemetric") is None
    assert doc_anchor("per_class_rank_x") is None
    assert "monai-embeddingcollapsemetric" in _sections()
    with pytest.raises(TypeError, match="key"):
        doc_anchor(3)  # type: ignore[arg-type]
