"""Finding and Verdict: attributes in memory, the JSON shape of collapsekit 0.2.0 on disk."""

from __future__ import annotations

import dataclasses
import json

import pytest

from collapsekit.verdict import COLLAPSED_CLASS, MERGED, Finding, Verdict, merged_pairs

# A verdict as collapsekit 0.2.0 wrote it into report.json (findings were plain dicts).
V020_JSON = """{"label": "partial class collapse", "summary": "Partial class collapse: 1 group(s)
 ... Findings: collapsed class (3).", "evidence": [{"metric": "effective_rank / null", "value":
 0.909, "threshold": 0.1, "rule": "dimensional collapse if below", "fired": false, "baseline":
 22.0, "indicates": "dimensional collapse"}], "thresholds": {"merged_alpha": 0.01}, "findings":
 [{"kind": "merged classes", "classes": ["2", "4"], "evidence": {"pairs": [["2", "4", 2.1e-30]],
 "pairs_total": 1, "pair_ids": [[2, 4]], "largest_statistic": 2.1e-30, "threshold": 1.96,
 "null_mean": 1.0, "null_spread": 0.299, "alpha": 0.01, "effective_dim": 22.3}}, {"kind":
 "collapsed class", "classes": ["3"], "evidence": {"reason": "effective rank 0.2", "rank_z":
 -Infinity}}], "tests_not_run": ["minority collapse (no classifier weights)"]}"""


def test_a_020_verdict_loads_into_findings_and_writes_back_the_same_json():
    data = json.loads(V020_JSON.replace("\n", ""))
    v = Verdict.from_dict(data)
    assert [type(f) for f in v.findings] == [Finding, Finding]
    assert [(f.kind, f.classes) for f in v.findings] == [
        (MERGED, ("2", "4")),
        (COLLAPSED_CLASS, ("3",)),
    ]
    assert merged_pairs(v) == [(2, 4)]
    assert json.dumps(v.to_dict()) == json.dumps(data)
    assert v.findings_lines()[0].startswith("merged classes: 2, 4 -- largest T 2.1e-30 < threshold")


def test_finding_is_frozen_and_to_dict_is_a_copy():
    f = Finding(MERGED, ("a", "b"), {"pairs": [["a", "b", 0.5]]})
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.kind = "other"  # type: ignore[misc]
    d = f.to_dict()
    d["evidence"]["pairs"][0][2] = 99.0
    d["classes"].append("c")
    assert f.evidence["pairs"][0][2] == 0.5 and f.classes == ("a", "b")
    assert Finding.from_dict(f.to_dict()) == f


@pytest.mark.parametrize("bad", [{"classes": ["a"]}, ["merged classes"], "merged classes"])
def test_finding_from_dict_names_what_it_needs(bad):
    with pytest.raises(ValueError, match=r"finding: expected a mapping with a 'kind'"):
        Finding.from_dict(bad)


def test_an_unknown_kind_still_reads_and_prints():
    f = Finding.from_dict({"kind": "future kind", "classes": ["x"]})
    assert f.evidence == {} and f.line() == "future kind: x"
