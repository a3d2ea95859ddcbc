"""False-merge and missed-merge rates of the ``merged classes`` finding: screen alone (the
one-pass pair statistic T) against screen + probe confirmation.

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/merged_pair_confirmation.py [--draws 20]

Data (seeded, D = 384, within-class covariance with eigenvalues 1/j, a random rotation, four
classes of n rows):

* ``near-synonym``: classes 0 and 1 differ along one low-variance direction only (the mean
  shift is ``--shift`` standard deviations along the eigenvector of eigenvalue rank
  ``--direction``), classes 2 and 3 elsewhere. A merged 0-1 pair is a *false merge*. The
  table also gives the cross-validated accuracy of a standardised logistic-regression probe
  (sklearn) on the pair, the independent check that the pair is separable.
* ``true merge``: class 0 split in two at random (classes 0 and 1 are one population). A 0-1
  pair left unmerged is a *missed merge*.

Prints one markdown table: case, n, draws, rate with the screen alone, rate after the probe
confirmation, mean sklearn probe accuracy.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from collapsekit import analyze
from collapsekit.verdict import decide

D = 384


def draw(
    case: str, n: int, seed: int, shift: float, direction: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows and labels of one draw (module docstring)."""
    rng = np.random.default_rng(seed)
    sd = 1.0 / np.sqrt(np.arange(1, D + 1))
    q = np.linalg.qr(rng.standard_normal((D, D)))[0]
    centres = rng.standard_normal((4, D)) * 0.15
    if case == "near-synonym":
        centres[1] = centres[0] + shift * sd[direction] * q[:, direction]
    else:
        centres[1] = centres[0]
    y = np.repeat(np.arange(4), n)
    x = centres[y] + (rng.standard_normal((4 * n, D)) * sd) @ q.T
    return x, y


def pair_merged(verdict) -> bool:
    return any({"0", "1"} <= set(f.classes) for f in verdict.findings if f.kind == "merged classes")


def sklearn_probe(x: np.ndarray, y: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    sel = y < 2
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    return float(cross_val_score(clf, x[sel], y[sel], cv=cv).mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--shift", type=float, default=12.0)
    ap.add_argument("--direction", type=int, default=200)
    a = ap.parse_args()
    print(
        "| case | n per class | draws | pair merged, screen alone | pair merged, screen + probe "
        "| sklearn probe accuracy (pair) | seconds |"
    )
    print("|---|---|---|---|---|---|---|")
    for case in ("near-synonym", "true merge"):
        for n in (20, 30, 60):
            screen = confirmed = 0
            accs = []
            start = time.perf_counter()
            for i in range(a.draws):
                x, y = draw(case, n, 1000 * n + i, a.shift, a.direction)
                rep = analyze(x, y, bootstrap=0, seed=i, probe_folds=3)
                confirmed += pair_merged(rep.verdict)
                # the screen alone: the same verdict without the row sample
                alone = decide(rep.metrics, rep.baseline, stats=_stats(x, y))
                screen += pair_merged(alone)
                accs.append(sklearn_probe(x, y))
            secs = time.perf_counter() - start
            print(
                f"| {case} | {n} | {a.draws} | {screen}/{a.draws} | {confirmed}/{a.draws} "
                f"| {np.mean(accs):.2f} | {secs:.0f} |"
            )


def _stats(x: np.ndarray, y: np.ndarray):
    import torch

    from collapsekit import ClassStats

    cs = ClassStats(4, D)
    cs.update(torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y))
    return cs


if __name__ == "__main__":
    main()
