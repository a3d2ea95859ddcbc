"""The real-runs fixtures (``tests/verdict/real_runs/``) and their expected verdicts.

``benchmarks/real_runs/train.py`` trains the small CPU runs and writes the ``.npz`` files;
``benchmarks/real_runs/expected.py`` writes ``manifest.json`` (expected label, acceptable and
forbidden labels, required and forbidden findings, and the float64 numbers behind them) and
``docs/real_runs.md``. This module only reads them:

    >>> from real_run_fixtures import case_names, load
    >>> case = load("linear_infonce")
    >>> case["features"].shape, case["labels"] is None
    ((2000, 32), True)
    >>> case["expected"]["label"]
    'dimensional collapse'
    >>> len(case_names(group="minilm near-synonyms"))
    18
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np

FIXTURES = Path(__file__).parent / "real_runs"


@functools.cache
def manifest() -> dict[str, Any]:
    """``manifest.json`` as a dict: ``{"cases": {name: entry}, ...}``."""
    return json.loads((FIXTURES / "manifest.json").read_text())


def case_names(group: str | None = None) -> list[str]:
    """Every case in the manifest (those of one ``group`` when given), in manifest order."""
    cases = manifest()["cases"]
    return [name for name, e in cases.items() if group is None or e["group"] == group]


@functools.cache
def _npz(file: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / file, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def load(name: str) -> dict[str, Any]:
    """One case, ready for ``analyze``.

    Returns ``features`` (float32 N x D), ``labels`` (int64, or ``None`` when the case is
    judged without labels), ``weights`` / ``bias`` (classifier, or ``None``), ``class_names``
    (list of str, or ``None``: the default "0", "1", ...), ``expected`` (the manifest's
    expectation: ``label``, ``acceptable_labels``, ``forbidden_labels``, ``required_findings``,
    ``forbidden_findings``), ``numbers`` (the float64 checks) and ``entry`` (the whole entry).
    Arrays are fresh copies, safe to modify.
    """
    entry = manifest()["cases"].get(name)
    if entry is None:
        raise ValueError(
            f"name: expected one of the manifest's cases ({', '.join(case_names())}), "
            f"received {name!r}; re-run benchmarks/real_runs/expected.py if it is new"
        )
    return load_entry(entry)


def load_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """:func:`load` for a manifest entry given as a dict (``expected`` and ``numbers`` may be
    missing: ``benchmarks/real_runs/expected.py`` loads the arrays before it writes them)."""
    data = _npz(entry["file"])
    rows = data[entry["rows"]] if entry.get("rows") else slice(None)
    features = np.array(data[entry["features"]][rows], dtype=np.float32)
    labels = None
    if entry.get("labels"):
        labels = np.array(data[entry["labels"]], dtype=np.int64)
        labels = labels if entry.get("rows") else labels[rows]
    names = entry.get("class_names")
    return {
        "features": features,
        "labels": labels,
        "weights": np.array(data["weights"]) if entry.get("weights") else None,
        "bias": np.array(data["bias"]) if entry.get("weights") else None,
        "class_names": [str(n) for n in data[names]] if names else None,
        "expected": entry.get("expected"),
        "numbers": entry.get("numbers"),
        "entry": entry,
    }


PARTIAL_DIMENSIONAL = "partial dimensional collapse"


def _names(f: Any) -> tuple[str, list[str]]:
    if isinstance(f, dict):
        return f["kind"], [str(c) for c in f["classes"]]
    return f.kind, [str(c) for c in f.classes]


def disagreements(
    expected: dict[str, Any],
    label: str,
    findings: list[Any],
    nc: dict[str, str] | None = None,
) -> list[str]:
    """What a verdict gets wrong against a case's ``expected`` (empty list: it agrees).

    ``findings``: :class:`collapsekit.verdict.Finding` objects or their ``to_dict()`` form.
    ``nc``: the verdict's status per NC property (``"nc1"`` .. ``"nc4"`` -> ``"reached"`` or
    ``"not reached"``), checked where the expectation is not ``"either"``; ``None``: skipped.

    >>> e = load("linear_infonce")["expected"]
    >>> disagreements(e, "dimensional collapse", [])
    []
    >>> for line in disagreements(e, "healthy", []):
    ...     print(line)
    label 'healthy' not in ['dimensional collapse']
    dimensional severe: the label is not dimensional collapse
    """
    out = []
    if label not in expected["acceptable_labels"]:
        out.append(f"label {label!r} not in {expected['acceptable_labels']}")
    got = [_names(f) for f in findings]
    for req in expected["required_findings"]:
        if not any(k == req["kind"] and set(c) == set(req["classes"]) for k, c in got):
            out.append(f"missing finding {req['kind']} {req['classes']}")
    for bad in expected["forbidden_findings"]:
        for kind, classes in got:
            if kind != bad["kind"]:
                continue
            if "within" in bad:
                hit = len(set(classes) & set(bad["within"])) >= 2
            else:
                hit = bad["classes"] is None or set(bad["classes"]) <= set(classes)
            if hit:
                out.append(f"forbidden finding {kind} {classes}")
    out += _dimensional(expected["dimensional"], label, [k for k, _ in got])
    for prop, want in (expected.get("nc") or {}).items():
        if nc is not None and want != "either" and nc.get(prop) != want:
            out.append(f"{prop}: expected {want}, got {nc.get(prop)}")
    return out


def _dimensional(grade: str, label: str, kinds: list[str]) -> list[str]:
    dim, partial = label == "dimensional collapse", PARTIAL_DIMENSIONAL in kinds
    if grade == "severe" and not dim:
        return ["dimensional severe: the label is not dimensional collapse"]
    if grade == "partial" and not (dim or partial):
        return ["dimensional partial: neither the label nor a partial dimensional finding"]
    if grade == "none" and (dim or partial):
        return ["dimensional none: dimensional collapse reported"]
    return []
