"""The verdict on small real training runs (tests/verdict/real_runs/, docs/real_runs.md): each
case's label, findings, dimensional grade and NC property statuses as the manifest expects
them, the expectations justified from the data (float64 spectra, NC1, class-mean geometry,
cross-validated probes), not from the verdict.

Each case is one ``analyze`` of a cached fixture (features, labels, classifier weights): a
minority-collapse MLP and its balanced control, SimSiam without stop-gradient, a linear InfoNCE
model, a SimCLR backbone, a CNN at three stages of the terminal phase, and frozen MiniLM topics
with near-synonyms or one topic split in two.
"""

from __future__ import annotations

from typing import Any

import pytest
from real_run_fixtures import case_names, load

from collapsekit import analyze
from collapsekit.verdict import Verdict

DIMENSIONAL = "dimensional collapse"
PARTIAL_DIMENSIONAL = "partial dimensional collapse"


def _verdict(case: dict[str, Any]) -> Verdict:
    kw: dict[str, Any] = {"bootstrap": 0, "seed": 0}
    if case["labels"] is None:
        return analyze(case["features"], **kw).verdict
    return analyze(
        case["features"],
        case["labels"],
        weights=case["weights"],
        bias=case["bias"],
        class_names=case["class_names"],
        **kw,
    ).verdict


def _names(case: dict[str, Any], classes: list[Any]) -> set[str]:
    return {str(c) for c in classes}


def _forbidden_hits(v: Verdict, rule: dict[str, Any]) -> list[tuple[str, ...]]:
    found = [f.classes for f in v.findings if f.kind == rule["kind"]]
    if "within" in rule:
        within = {str(c) for c in rule["within"]}
        return [c for c in found if len(within & set(c)) >= 2]
    if rule.get("classes") is None:
        return found
    named = {str(c) for c in rule["classes"]}
    return [c for c in found if named <= set(c)]


def _check(name: str) -> None:
    case = load(name)
    exp = case["expected"]
    v = _verdict(case)
    kinds = [f.kind for f in v.findings]
    where = f"{name}: got {v.label!r} with {[(f.kind, f.classes) for f in v.findings]}"
    assert v.label in exp["acceptable_labels"], where
    assert v.label not in exp["forbidden_labels"], where
    for rule in exp["required_findings"]:
        want = _names(case, rule["classes"])
        got = [set(f.classes) for f in v.findings if f.kind == rule["kind"]]
        assert want in got, f"{where}; missing {rule}"
    for rule in exp["forbidden_findings"]:
        assert not _forbidden_hits(v, rule), f"{where}; forbidden {rule}"
    for prop, status in (exp.get("nc") or {}).items():
        if status != "either":
            got = v.neural_collapse.get(prop, {}).get("status")
            assert got == status, f"{where}; {prop.upper()} {got}, expected {status}"
    grade = exp.get("dimensional", "n/a")
    if grade == "severe":
        assert v.label == DIMENSIONAL, where
    elif grade == "partial":
        assert v.label == DIMENSIONAL or PARTIAL_DIMENSIONAL in kinds, where
    elif grade == "none":
        assert v.label != DIMENSIONAL and PARTIAL_DIMENSIONAL not in kinds, where


def _quick() -> list[str]:
    """Every case but MiniLM's extra draws (draw 0 of each kind and n stays): the other draws
    are marked slow (about 0.5 s each)."""
    return [n for n in case_names() if "minilm" not in n or n.endswith("_d0")]


@pytest.mark.parametrize("name", _quick())
def test_verdict_matches_the_expectation(name: str) -> None:
    _check(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in case_names() if n not in _quick()])
def test_verdict_matches_the_expectation_on_every_minilm_draw(name: str) -> None:
    _check(name)
