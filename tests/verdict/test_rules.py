"""The rules one by one over hand-made contexts, and the tables decide() runs them from."""

from __future__ import annotations

import math

import pytest
import torch

from collapsekit.verdict import (
    CLASS,
    COMPLETE,
    DIMENSIONAL,
    LABELS,
    MERGED,
    MINORITY,
    NEURAL,
    THRESHOLDS,
    Finding,
    decide,
)
from collapsekit.verdict.context import VerdictContext
from collapsekit.verdict.rules import FINDING_RULES, LABEL_RULES, REPORT_ORDER
from collapsekit.verdict.rules.class_collapse import class_collapse
from collapsekit.verdict.rules.complete_collapse import complete_collapse
from collapsekit.verdict.rules.minority_collapse import minority_collapse
from collapsekit.verdict.rules.neural_collapse import neural_collapse
from collapsekit.verdict.rules.prerequisites import class_prerequisites


def test_tables_hold_every_rule_once_and_every_label():
    assert sorted(label for label, _ in LABEL_RULES) == sorted(LABELS)
    rules = [rule for _, rule in LABEL_RULES] + list(FINDING_RULES) + [class_prerequisites]
    assert sorted(r.__name__ for r in REPORT_ORDER) == sorted(r.__name__ for r in rules)
    assert LABEL_RULES[-1][1](VerdictContext({}, {})).fired  # healthy closes the order


@pytest.mark.parametrize("factor", [0.5, 1.0, 2.0])
def test_complete_collapse_fires_strictly_below_its_ratio(factor):
    base = 0.2
    spread = factor * THRESHOLDS.complete_spread_ratio * base
    r = complete_collapse(
        VerdictContext({"std_of_l2_normalized": spread}, {"std_of_l2_normalized": base})
    )
    assert r.fired == (factor < 1.0)
    assert r.evidence[0].value == pytest.approx(spread / base)
    assert bool(r.summary) == r.fired


def test_rules_that_need_labels_stay_silent_without_them():
    ctx = VerdictContext({"nc1": 0.0, "etf_error": 0.0, "equinorm": 0.0}, {})
    for rule in (*FINDING_RULES, class_collapse, neural_collapse):
        assert rule(ctx) == type(rule(ctx))()
    assert len(class_prerequisites(ctx).not_run) == 5


def test_class_collapse_from_one_merged_group_over_a_probe_above_chance():
    counts = torch.tensor([40, 40, 40])
    group = Finding(MERGED, ("0", "1", "2"), {"threshold": 1.5})
    metrics, base = {"linear_probe_accuracy": 0.9}, {"linear_probe_accuracy": 1 / 3}
    ctx = VerdictContext(metrics, base, has_labels=True, counts=counts)
    assert not class_collapse(ctx).fired
    r = class_collapse(ctx.with_findings((group,)))
    assert r.fired and "every class falls in one merged group" in r.summary
    assert [e.metric for e in r.evidence] == [
        "linear_probe_accuracy",
        "merged group covers every class",
    ]
    assert [e.fired for e in r.evidence] == [False, True]


def test_neural_collapse_needs_enough_rows_and_reads_a_missing_null_as_the_limit_alone():
    m = {"nc1": 0.05, "etf_error": 0.2, "equinorm": 0.1}
    few = VerdictContext(m, {}, has_labels=True, counts=torch.tensor([1, 5, 5]))
    assert neural_collapse(few).not_run == ("neural collapse (a class has 1 row(s); needs 2)",)
    r = neural_collapse(VerdictContext(m, {}, has_labels=True, counts=torch.tensor([5, 5, 5])))
    assert r.fired and all(math.isnan(e.baseline) for e in r.evidence)
    # a null whose spread puts 0.05 within 3 sds (log scale) of its mean: NC1 not reached
    tight = VerdictContext(m, {"nc1": 0.1, "nc1_null_sd": 0.05}, has_labels=True)
    assert not neural_collapse(tight).fired
    wide = VerdictContext(m, {"nc1": 10.0, "nc1_null_sd": 1.0}, has_labels=True)
    assert neural_collapse(wide).fired


def test_equinorm_evidence_says_its_limit_alone_decides():
    m = {"nc1": 0.05, "etf_error": 0.2, "equinorm": 0.1}
    base = {"nc1": 10.0, "nc1_null_sd": 1.0, "etf_error": 0.4, "etf_error_null_sd": 0.01}
    base |= {"equinorm": 0.11, "equinorm_null_sd": 0.05}  # z about 0.2: not beyond the null
    r = neural_collapse(VerdictContext(m, base, has_labels=True))
    equinorm = next(e for e in r.evidence if e.metric == "equinorm")
    assert equinorm.fired and "the limit alone decides" in equinorm.rule
    assert "z >=" not in equinorm.rule
    etf = next(e for e in r.evidence if e.metric == "etf_error")
    assert "z >= 3 null sds" in etf.rule


def test_minority_collapse_fires_on_aligned_minority_rows_only():
    counts = torch.tensor([200, 200, 10, 10, 10])
    w = torch.eye(5, dtype=torch.float64)
    w[2:] = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0]) + 0.01 * torch.arange(3.0)[:, None]
    names = ("a", "b", "c", "d", "e")
    ctx = VerdictContext({}, {}, has_labels=True, counts=counts, names=names, weights=w)
    r = minority_collapse(ctx)
    assert r.fired and [(f.kind, f.classes) for f in r.findings] == [(MINORITY, ("c", "d", "e"))]
    assert r.findings[0].evidence["minority_mean_cos"] > 0.99
    spread = VerdictContext(
        {}, {}, has_labels=True, counts=counts, names=names, weights=torch.eye(5)
    )
    assert minority_collapse(spread) == type(r)()
    with pytest.raises(ValueError, match="weights: expected one classifier row per class"):
        minority_collapse(
            VerdictContext({}, {}, has_labels=True, counts=counts, weights=torch.ones(5))
        )


def test_first_label_wins_and_evidence_follows_the_documented_order():
    metrics = {"std_of_l2_normalized": 0.001, "effective_rank": 1.0, "nc1": 0.001,
               "etf_error": 0.01, "equinorm": 0.01, "silhouette": -0.5}  # fmt: skip
    base = {"std_of_l2_normalized": 0.2, "effective_rank": 30.0, "silhouette": 0.0}
    v = decide(metrics, base, class_counts=[10, 10, 10])
    assert v.label == COMPLETE
    assert [e.indicates for e in v.evidence] == [
        COMPLETE,
        CLASS,
        NEURAL,
        NEURAL,
        NEURAL,
        DIMENSIONAL,
    ]
    # NC1 0.001: the class geometry explains the low rank, so the rank test does not fire
    assert [e.fired for e in v.evidence] == [True] * 5 + [False]
    assert "class geometry" in v.evidence[-1].rule
    assert v.tests_not_run[0] == "merged classes (no class statistics)"


def test_merged_screen_past_its_pair_budget_screens_a_seeded_class_sample(monkeypatch):
    import importlib

    from collapsekit import analyze

    module = importlib.import_module("collapsekit.verdict.rules.merged_classes")
    monkeypatch.setattr(module, "MAX_SCREEN_PAIRS", 45)  # 10 classes
    g = torch.Generator().manual_seed(0)
    x = torch.randn(600, 8, generator=g)
    y = torch.arange(600) % 30  # random labels: every pair is one population
    verdict = analyze(x, y, bootstrap=0, probe=False).verdict
    notes = [t for t in verdict.tests_not_run if t.startswith("merged classes among all 30")]
    assert len(notes) == 1 and "seeded sample of 10 classes" in notes[0], verdict.tests_not_run
    merged = [f for f in verdict.findings if f.kind == MERGED]
    assert len(merged) == 1 and len(merged[0].classes) == 10
    assert merged[0].evidence["pairs_total"] <= 45 and merged[0].evidence["pairs_tested"] == 45


def test_dead_directions_grade_dimensional_collapse_unless_the_classes_explain_them():
    from collapsekit.verdict.labels import PARTIAL_DIMENSIONAL
    from collapsekit.verdict.rules.dimensional_collapse import (
        dimensional_collapse,
        partial_dimensional_collapse,
    )

    base = {"dead_directions": 0.0, "effective_rank": 60.0}
    # 20 of the 64 directions 100 rows in 64 dims can span are dead: partial, not the label
    some = VerdictContext({"dead_directions": 20.0, "effective_rank": 30.0}, base, shape=(100, 64))
    found = partial_dimensional_collapse(some).findings
    assert [f.kind for f in found] == [PARTIAL_DIMENSIONAL] and not dimensional_collapse(some).fired
    assert found[0].evidence["dead_directions"] == 20 and "20 of 64" in found[0].line()
    # 40 of 64: the label, and no finding beside it
    most = VerdictContext({"dead_directions": 40.0, "effective_rank": 30.0}, base, shape=(100, 64))
    assert dimensional_collapse(most).fired and not partial_dimensional_collapse(most).fired
    # the same spectrum with NC1 far below its null: class geometry, neither label nor finding
    nc = {"dead_directions": 40.0, "effective_rank": 30.0, "nc1": 0.001}
    classes = VerdictContext(
        nc, {**base, "nc1": 1.0, "nc1_null_sd": 0.1}, has_labels=True,
        counts=torch.tensor([40, 30, 30]), shape=(100, 64),
    )  # fmt: skip
    r = dimensional_collapse(classes)
    assert not r.fired and not partial_dimensional_collapse(classes).fired
    assert all("class geometry" in e.rule for e in r.evidence)
    # isotropic null with N close to D has dead directions of its own: only the excess counts
    near = VerdictContext({"dead_directions": 3.0}, {"dead_directions": 2.0}, shape=(65, 64))
    assert not partial_dimensional_collapse(near).fired


def test_neural_collapse_properties_are_reported_one_by_one_and_a_partial_state_is_named():
    metrics = {"nc1": 0.01, "etf_error": 0.22, "equinorm": 0.03, "equiangularity": 0.06,
               "linear_probe_accuracy": 1.0}  # fmt: skip
    base = {"nc1": 15.0, "nc1_null_sd": 0.9, "etf_error": 0.21, "etf_error_null_sd": 0.03,
            "equinorm": 0.06, "equinorm_null_sd": 0.013, "equiangularity": 0.08,
            "equiangularity_null_sd": 0.01, "linear_probe_accuracy": 0.1}  # fmt: skip
    v = decide(metrics, base, class_counts=[200] * 10)
    status = {k: p["status"] for k, p in v.neural_collapse.items()}
    assert status == {"nc1": "reached", "nc2": "not reached", "nc3": "not tested",
                      "nc4": "not tested"}  # fmt: skip
    assert v.label != NEURAL and "NC1 reached; NC2 not reached (etf_error 0.22" in v.summary
    etf = v.neural_collapse["nc2"]["checks"][0]
    assert etf["metric"] == "etf_error" and etf["z"] < 0 and not etf["reached"]
    assert type(v).from_dict(v.to_dict()) == v
    # the ETF error well beyond the null's spread: the label, whose summary lists the properties
    done = decide({**metrics, "etf_error": 0.05}, base, class_counts=[200] * 10)
    assert done.label == NEURAL and "NC1, NC2 reached" in done.summary
