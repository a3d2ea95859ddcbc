"""Small hand-made reports and histories for the figure tests (no analysis run needed)."""

import math

from collapsekit.report.report import Report
from collapsekit.verdict import Verdict

CLASS_NAMES = ["cat", "dog", "ship", "truck"]


def small_report() -> Report:
    k, d = 4, 40
    spectrum = [0.3 * 0.7**i for i in range(d)]
    total = sum(spectrum)
    cos = [[1.0 if i == j else 0.1 + 0.05 * (i + j) for j in range(k)] for i in range(k)]
    centred = [[1.0 if i == j else -1.0 / 3 + 0.01 * (i + j) for j in range(k)] for i in range(k)]
    return Report(
        metrics={"effective_rank": 9.5, "nc1": 0.04, "etf_error": 0.1, "rankme": 9.0},
        verdict=Verdict(label="neural collapse", summary="classes collapsed onto a simplex ETF"),
        inputs={
            "n": 400,
            "d": d,
            "num_classes": k,
            "class_names": CLASS_NAMES,
            "class_counts": {n: 100 for n in CLASS_NAMES},
            "dtype": "float32",
        },
        baseline={"effective_rank": 35.0, "nc1": 1.0},
        spectrum={
            "data": [s / total for s in spectrum],
            "isotropic": [1.0 / d * (1.2 - 0.4 * i / d) for i in range(d)],
        },
        centroid_cosine=cos,
        class_mean_cosine_centred=centred,
        per_class_effective_rank={"0": 3.0, "1": 4.0, "2": 2.5, "3": 5.0},
    )


def small_history(epochs: int = 12, perfect_from: int = 4) -> list[dict]:
    rows = []
    for e in range(epochs):
        rows.append(
            {
                "epoch": e,
                "train_loss": 2.0 * math.exp(-0.6 * e),
                "train_accuracy": 1.0 if e >= perfect_from else 0.5 + 0.1 * e,
                "test_accuracy": 0.4 + 0.04 * e,
                "nc1": 3.0 * math.exp(-0.5 * e),
                "etf_error": 0.8 / (1 + e),
                "ncc_agreement": min(1.0, 0.8 + 0.03 * e),
                "effective_rank": 30.0 - e,
                "rankme": 28.0 - e,
            }
        )
    return rows


def many_class_report(k: int = 50) -> Report:
    """A report with ``k`` classes named ``class_0`` .. (long names) and both cosine matrices."""
    names = [f"class_{i}" for i in range(k)]
    eye = [[1.0 if i == j else -1.0 / (k - 1) for j in range(k)] for i in range(k)]
    return Report(
        metrics={"effective_rank": 60.0},
        verdict=Verdict(label="healthy", summary=""),
        inputs={"n": 20 * k, "d": 96, "num_classes": k, "class_names": names},
        centroid_cosine=eye,
        class_mean_cosine_centred=eye,
        per_class_effective_rank={str(i): 10.0 + i % 7 for i in range(k)},
    )
