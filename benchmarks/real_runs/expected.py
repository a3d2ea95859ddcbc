"""Write ``tests/verdict/real_runs/manifest.json`` and ``docs/real_runs.md`` from the fixtures.

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/real_runs/expected.py [--no-before]

For every case: the float64 checks (:mod:`checks`), the expected verdict decided from them
(:mod:`expectations`, which asserts the numbers it rests on), and, as the "before" column,
what the collapsekit on ``PYTHONPATH`` says (``analyze(..., bootstrap=0, seed=0)``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

import cases
import expectations as ex
from common import FIXTURES, ROOT

sys.path.insert(0, str(ROOT / "tests" / "verdict"))
from real_run_fixtures import load_entry

SCHEMA = (
    "cases: {name: entry}. entry: file (npz in this folder), features (its key), rows (key of "
    "the row indices into features, or null), labels (key, or null: judge without labels), "
    "weights (true: classifier rows 'weights' and 'bias' in the file), class_names (key of the "
    "names, or null: '0', '1', ...), group, description, expected (see "
    "benchmarks/real_runs/expectations.py), numbers (float64 checks, benchmarks/real_runs/"
    "checks.py), justification, before (collapsekit's verdict when the manifest was written)."
)


def expect(entry: dict[str, Any], nums: dict[str, float], names: list[str] | None):
    """The expectation function of a case, by name."""
    name = entry["name"]
    if name.startswith("minority_"):
        return ex.minority(nums)
    if name.startswith("simsiam_nostopgrad_nobn"):
        return ex.complete(nums)
    if name.startswith("simsiam_nostopgrad_bn") or name == "linear_infonce":
        return ex.dimensional(nums)
    if name == "simclr_backbone":
        return ex.partial_dimensional(nums)
    if name == "balanced_control" or name.startswith("cnn_"):
        return ex.supervised_run(nums)
    assert names is not None
    return ex.split(nums, names) if "_split_" in name else ex.synonyms(nums, names)


def before(case: dict[str, Any]) -> dict[str, Any]:
    """collapsekit's verdict on the case (the library on ``PYTHONPATH``)."""
    from collapsekit import analyze

    report = analyze(
        case["features"],
        case["labels"],
        weights=case["weights"],
        bias=case["bias"],
        class_names=case["class_names"],
        bootstrap=0,
        seed=0,
    )
    v = report.verdict
    return {
        "label": v.label,
        "findings": [{"kind": f.kind, "classes": list(f.classes)} for f in v.findings],
    }


def build(with_before: bool) -> dict[str, Any]:
    """Every case's entry (arrays loaded, checks run, expectation asserted)."""
    out: dict[str, Any] = {}
    for entry in cases.specs():
        case = load_entry(entry)
        nums = cases.measure(case, entry)
        expected, why = expect(entry, nums, case["class_names"])
        item = {k: v for k, v in entry.items() if k != "name"}
        item.update(expected=expected, numbers=nums, justification=why)
        if with_before:
            item["before"] = before(case)
        out[entry["name"]] = item
        print(f"{entry['name']}: {expected['label']}; before {item.get('before', {}).get('label')}")
    return out


def main() -> None:
    """Build the manifest and the docs page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-before", action="store_true", help="skip collapsekit's verdict")
    parser.add_argument(
        "--render-only", action="store_true", help="rewrite docs/real_runs.md from the manifest"
    )
    args = parser.parse_args()
    if args.render_only:
        write_docs(json.loads((FIXTURES / "manifest.json").read_text()))
        return
    entries = build(not args.no_before)
    commit = subprocess.run(
        ["git", "log", "-1", "--format=%h", "--", "src"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    manifest = {
        "schema": SCHEMA,
        "generated_by": "benchmarks/real_runs/expected.py",
        "before_source": f"collapsekit src at {commit}" if not args.no_before else None,
        "cases": entries,
    }
    path = FIXTURES / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")
    write_docs(manifest)


def write_docs(manifest: dict[str, Any]) -> None:
    """``docs/real_runs.md`` from the manifest."""
    import report_md

    doc = ROOT / "docs" / "real_runs.md"
    doc.write_text(report_md.render(manifest))
    print(f"wrote {doc.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
