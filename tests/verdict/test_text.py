"""The verdict as text (``repr(verdict)``): label, summary, one line per deciding test, the
findings and the tests not run, within 40 lines of 120 characters whatever the verdict holds."""

from __future__ import annotations

from collapsekit.verdict import Evidence, Finding, Verdict
from collapsekit.verdict.text import WIDTH, clip, evidence_line, verdict_lines


def _crowded() -> Verdict:
    """A verdict with many tests, many findings with long class lists and many tests not run."""
    names = tuple(f"a_rather_long_class_name_{i:03d}" for i in range(300))
    findings = [
        Finding("collapsed class", names[i : i + 40], {"reason": "variance x" * 30})
        for i in range(0, 300, 20)
    ]
    evidence = [
        Evidence(
            f"test_{i} / null " * 4,
            0.01 * i,
            0.5,
            "collapse if below " * 5,
            i % 2 == 0,
            1.0,
            "dimensional collapse",
        )
        for i in range(20)
    ]
    return Verdict(
        "dimensional collapse",
        "A long summary. " * 30,
        evidence=evidence,
        findings=findings,
        tests_not_run=[f"nc{i} (no weights given)" for i in range(12)],
    )


def test_a_long_rule_is_cut_after_the_outcome() -> None:
    e = Evidence("nc1", 0.05, 0.1, "neural collapse needs " * 20, True, 9.0, "neural collapse")
    (line,) = [x for x in verdict_lines(Verdict("neural collapse", "", evidence=[e])) if "nc1" in x]
    assert len(line) == WIDTH and "-> supports neural collapse;" in line


def test_repr_stays_within_forty_lines_of_120_characters() -> None:
    lines = repr(_crowded()).splitlines()
    assert len(lines) <= 40
    assert max(len(line) for line in lines) <= WIDTH
    assert lines[0] == "Verdict: dimensional collapse"
    assert sum("more)" in line for line in lines) == 3  # evidence, findings, not tested


def test_repr_names_each_deciding_test_with_value_threshold_and_outcome() -> None:
    v = Verdict(
        "dimensional collapse",
        "Few directions carry the variance.",
        evidence=[
            Evidence(
                "effective_rank / null",
                0.05,
                0.1,
                "collapse if below",
                True,
                1.0,
                "dimensional collapse",
            ),
            Evidence("nc1", 3.0, 0.5, "neural collapse if below", False, 9.0, "neural collapse"),
        ],
        findings=[Finding("collapsed class", ("cat",), {"reason": "variance 0.01 x the median"})],
        tests_not_run=["nc5 (no OOD rows)"],
    )
    text = repr(v)
    lines = text.splitlines()
    rank = next(line for line in lines if "effective_rank / null" in line)
    assert "0.05" in rank and "threshold 0.1" in rank and "isotropic 1" in rank
    assert "-> supports dimensional collapse; collapse if below" in rank
    assert "-> no; neural collapse if below" in next(
        line for line in lines if line.strip().startswith("nc1 =")
    )
    assert "  collapsed class: cat -- variance 0.01 x the median" in lines
    assert lines[lines.index("Not tested:") + 1] == "  nc5 (no OOD rows)"
    assert "Few directions carry the variance." in text


def test_evidence_line_without_a_null_leaves_it_out() -> None:
    line = evidence_line(Evidence("chance", 0.3, 0.2, "fires if above", True))
    assert "isotropic" not in line and line.endswith("-> fired; fires if above")


def test_clip_marks_the_cut() -> None:
    assert clip("x" * 200) == "x" * (WIDTH - 3) + "..."
    assert verdict_lines(Verdict("healthy", "")) == ["Verdict: healthy"]
