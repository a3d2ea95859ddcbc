"""False-positive rate of each verdict label and finding on random isotropic draws.

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/verdict_false_positives.py [--draws 100]

Three scenarios, each over ``--draws`` seeded draws cycling through several (N, D, K):

* ``isotropic, no labels``: the right label is ``healthy``; anything else is a false positive.
* ``isotropic, random labels`` (random classifier weights, class sizes imbalanced 1:4 every
  other draw): the right label is ``class collapse`` (the classes carry nothing); ``neural
  collapse``, ``dimensional``, ``complete`` or ``partial`` are false positives, and so are the
  ``collapsed class``, ``minority collapse`` and ``partial dimensional collapse`` findings
  (random weights are not collapsed) and any NC property ``reached``.
* ``isotropic noise around separated class centres``: the right label is ``healthy`` with no
  findings; ``merged classes``, ``collapsed class`` and ``partial dimensional collapse``
  findings are false positives (the NC properties are counted, not judged: the centres are
  real class structure, so a small NC1 is right there).

Prints one table per scenario: label/finding, count, rate.
"""

from __future__ import annotations

import argparse
import collections
import time

import numpy as np

from collapsekit import analyze

CONFIGS = [(200, 16, 2), (300, 64, 5), (500, 128, 10), (120, 512, 20), (60, 1024, 30)]


def _draw(scenario: str, i: int):
    n, d, k = CONFIGS[i % len(CONFIGS)]
    rng = np.random.default_rng(10_000 + i)
    x = rng.standard_normal((n, d))
    if scenario == "no labels":
        return x, None, None
    if i % 2:  # imbalanced sizes 1:4 across classes
        p = np.linspace(1, 4, k)
        y = rng.choice(k, size=n, p=p / p.sum())
        y[:k] = np.arange(k)  # every class present
    else:
        y = rng.permutation(np.arange(n) % k)
    if scenario == "separated":
        x = x + rng.standard_normal((k, d))[y]  # centres as spread as the noise
    w = rng.standard_normal((k, d))
    return x, y, w


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=100)
    a = ap.parse_args()
    expected = {"no labels": "healthy", "random labels": "class collapse", "separated": "healthy"}
    for scenario, right in expected.items():
        labels: collections.Counter[str] = collections.Counter()
        wrong: collections.Counter[str] = collections.Counter()
        findings: collections.Counter[str] = collections.Counter()
        start = time.perf_counter()
        for i in range(a.draws):
            x, y, w = _draw(scenario, i)
            v = analyze(x, y, weights=w, bootstrap=0, seed=i, probe_folds=3).verdict
            labels[v.label] += 1
            if v.label != right:
                wrong[f"{CONFIGS[i % len(CONFIGS)]} -> {v.label}"] += 1
            for kind in {f.kind for f in v.findings}:
                findings[kind] += 1
            for prop, entry in v.neural_collapse.items():
                findings[f"{prop.upper()} reached"] += entry["status"] == "reached"
        secs = time.perf_counter() - start
        print(f"\n## {scenario} ({a.draws} draws, {secs:.0f} s); right label: {right}")
        print("| label or finding | count | false-positive rate |")
        print("|---|---|---|")
        for label in (
            "healthy",
            "complete collapse",
            "dimensional collapse",
            "class collapse",
            "partial class collapse",
            "neural collapse",
        ):
            fp = "-" if label == right else f"{labels[label] / a.draws:.2f}"
            print(f"| {label} | {labels[label]} | {fp} |")
        for kind in (
            "merged classes",
            "collapsed class",
            "minority collapse",
            "partial dimensional collapse",
        ):
            fp = (
                "-"
                if (kind == "merged classes" and scenario == "random labels")
                else (f"{findings[kind] / a.draws:.2f}")
            )
            print(f"| finding: {kind} | {findings[kind]} | {fp} |")
        if scenario != "no labels":
            for prop in ("NC1", "NC2", "NC3", "NC4"):
                key = f"{prop} reached"
                # separated centres are real structure: NC1 is small there, no false positive
                fp = f"{findings[key] / a.draws:.2f}" if scenario == "random labels" else "-"
                print(f"| property: {key} | {findings[key]} | {fp} |")
        for key, count in sorted(wrong.items()):
            print(f"  wrong label, (N, D, K) {key}: {count}")


if __name__ == "__main__":
    main()
