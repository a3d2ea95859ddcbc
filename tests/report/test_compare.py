"""``ck.compare``: deltas, the registry's collapse direction, the verdict change, the JSON form
(its schema and round trip) and the HTML page."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import collapsekit as ck
from collapsekit.metrics import keys, spec
from collapsekit.report.compare import COMPARE_SCHEMA, Comparison, compare
from collapsekit.report.report import Report
from collapsekit.verdict import Evidence, Verdict
from references import blobs

#: the keys of the JSON the 0.2 CLI wrote; old consumers read them
OLD_KEYS = {
    "schema",
    "a",
    "b",
    "linear_cka",
    "linear_cka_debiased",
    "verdict_a",
    "verdict_b",
    "metrics_a",
    "metrics_b",
    "report_a",
    "report_b",
}
DIRECTED = [k for k in keys("compare") if spec(k).bad is not None]


def _report(metrics: dict[str, float], label: str = "healthy", **kw: object) -> Report:
    return Report(metrics=metrics, verdict=Verdict(label, f"{label}."), **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def pair() -> tuple[Report, Report, float]:
    """Two analyses of the same rows: spread blobs, and the same blobs squeezed to 2 dims."""
    X, y = blobs(240, 4, 12, seed=0)
    squeezed = X.copy()
    squeezed[:, 2:] *= 1e-3
    before = ck.analyze(X, y, bootstrap=8, reference=squeezed, seed=0)
    after = ck.analyze(squeezed, y, bootstrap=8, seed=0)
    return before, after, before.metrics["linear_cka"]


def test_delta_and_relative_change_follow_the_values() -> None:
    rng = np.random.default_rng(1)
    present = list(keys("compare"))[:5]
    va = {k: float(rng.uniform(0.5, 2.0)) for k in present}
    vb = {k: float(rng.uniform(0.5, 2.0)) for k in present}
    c = compare(_report(va), _report(vb))
    assert [r.key for r in c.changes] == present
    for r in c.changes:
        assert r.before == va[r.key] and r.after == vb[r.key]
        assert r.delta == pytest.approx(vb[r.key] - va[r.key])
        assert r.relative == pytest.approx((vb[r.key] - va[r.key]) / va[r.key])


@pytest.mark.parametrize("key", DIRECTED)
@pytest.mark.parametrize("step", [-1.0, 1.0])
def test_direction_toward_collapse_comes_from_the_registry(key: str, step: float) -> None:
    r = compare(_report({key: 2.0}), _report({key: 2.0 + step})).changes[0]
    assert r.bad == spec(key).bad
    moved_down = step < 0
    assert r.toward_collapse is (moved_down if spec(key).bad == "low" else not moved_down)


def test_no_direction_no_change_and_non_finite_values() -> None:
    undirected = [k for k in keys("compare") if spec(k).bad is None]
    assert undirected, "the registry has a compare metric without a collapse direction"
    r = compare(_report({undirected[0]: 0.3}), _report({undirected[0]: 0.9})).changes[0]
    assert r.toward_collapse is None
    k = DIRECTED[0]
    assert compare(_report({k: 1.0}), _report({k: 1.0})).changes[0].toward_collapse is False
    r = compare(_report({k: 0.0}), _report({k: math.inf})).changes[0]
    assert r.relative is None and r.toward_collapse is None


def test_only_registry_compare_metrics_present_in_both_are_rows() -> None:
    k1, k2 = DIRECTED[:2]
    not_compared = next(k for k in keys() if k not in keys("compare"))
    before = _report({k1: 1.0, k2: 2.0, not_compared: 3.0})
    after = _report({k1: 1.5, not_compared: 4.0})
    assert [r.key for r in compare(before, after).changes] == [k1]


def test_verdict_change() -> None:
    same = compare(_report({}, "healthy"), _report({}, "healthy"))
    assert not same.verdict_changed
    moved = compare(_report({}, "healthy"), _report({}, "dimensional collapse"))
    assert moved.verdict_changed
    assert (moved.verdict_before, moved.verdict_after) == ("healthy", "dimensional collapse")
    assert "healthy -> dimensional collapse (changed)" in str(moved)


def test_intervals_of_both_reports_are_kept(pair) -> None:
    before, after, _ = pair
    c = compare(before, after)
    for r in c.changes:
        assert r.interval_before == (
            tuple(before.intervals[r.key]) if r.key in before.intervals else None
        )
        assert r.interval_after == (
            tuple(after.intervals[r.key]) if r.key in after.intervals else None
        )
    assert any(r.interval_before and r.interval_after for r in c.changes)


def test_json_keeps_the_cli_keys_and_round_trips(pair, tmp_path) -> None:
    before, after, cka = pair
    c = ck.compare(before, after, linear_cka=cka, names=("a.npz", "b.npz"))
    path = tmp_path / "c.json"
    text = c.to_json(path)
    data = json.loads(path.read_text())
    assert data == json.loads(text)
    assert data["schema"] == COMPARE_SCHEMA
    assert OLD_KEYS <= set(data)
    assert (data["a"], data["b"], data["linear_cka"]) == ("a.npz", "b.npz", pytest.approx(cka))
    assert data["verdict_changed"] == c.verdict_changed
    assert set(data["changes"]) == {r.key for r in c.changes}
    back = Comparison.from_json(path)
    assert back.changes == c.changes
    assert (back.name_before, back.name_after, back.linear_cka) == ("a.npz", "b.npz", cka)
    assert back.to_dict() == c.to_dict()


def test_refusals_name_the_argument(pair) -> None:
    before, _, _ = pair
    with pytest.raises(ValueError, match="after: expected a Report"):
        compare(before, {"metrics": {}})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="linear_cka: expected a number"):
        compare(before, before, linear_cka="0.5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected schema 'collapsekit-compare/1'"):
        Comparison.from_json(before.to_json())


def test_html_has_the_change_column_both_evidences_and_escapes_names(tmp_path) -> None:
    payload = "<script>alert(1)</script>"
    k = DIRECTED[0]
    worse = 0.5 if spec(k).bad == "low" else 2.0
    ev = Evidence("a <b> test", 0.1, 0.2, "rule", True, indicates="dimensional collapse")
    before = _report({k: 1.0})
    after = Report({k: worse}, Verdict("dimensional collapse", "s", evidence=[ev]))
    page = compare(before, after, names=(payload, "b")).to_html(tmp_path / "c.html")
    assert (tmp_path / "c.html").read_text() == page
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "a &lt;b&gt; test" in page
    assert "id='evidence-a'" in page and "id='evidence-b'" in page
    assert "change (B &minus; A)" in page
    assert "<td class='toward'>" in page and "toward collapse</span>" in page
    arrow = "&#9660;" if worse < 1.0 else "&#9650;"  # the arrow gives the sign of the change
    assert f"{arrow} <span class='tag'>" in page
    assert "A interval" not in page  # neither report has intervals: no empty columns
    assert "Linear CKA (A vs B): not computed" in page


def test_html_arrows_follow_the_sign_and_improvements_carry_no_tag(tmp_path) -> None:
    k = DIRECTED[0]
    better = 2.0 if spec(k).bad == "low" else 0.5
    page = compare(_report({k: 1.0}), _report({k: better}), linear_cka=0.9).to_html(
        tmp_path / "c.html"
    )
    assert "class='toward'" not in page
    assert ("&#9650;" if better > 1.0 else "&#9660;") in page
    assert "Linear CKA (A vs B): <b>0.9" in page
