"""Analysis of embedding files larger than memory: one streamed exact pass plus a sample."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from collapsekit.analyze import analyze
from collapsekit.cli.readers import ArraySource
from collapsekit.functional.centroid_similarity import centroid_similarity_from_means
from collapsekit.functional.effective_rank import entropy_rank, score_from_singular_values
from collapsekit.functional.neural_collapse import NC_KEYS
from collapsekit.functional.spectrum import singular_values_from_covariance
from collapsekit.report.report import Report
from collapsekit.report.verdict import decide
from collapsekit.stats.class_stats import ClassStats

#: metrics that the streamed pass gives exactly on every row (NC4/NC5 need other inputs)
STREAMED_EXACT = (
    "effective_rank",
    "effective_rank_score",
    "centroid_similarity",
    *(key for key in NC_KEYS if key not in ("ncc_agreement", "ood_orthogonality")),
)


def analyze_streamed(
    source: ArraySource,
    labels: np.ndarray | None,
    sample_rows: int,
    batch_size: int,
    advance: Callable[[int], None],
    seed: int = 0,
    **kwargs: Any,
) -> Report:
    """Exact streamed statistics over every row, the rest on a seeded random sample of rows.

    One pass over the file feeds a :class:`ClassStats` (all classes, or one pseudo-class
    without labels): effective rank (from the total covariance), centroid similarity and the
    NC metrics are exact. Silhouette, the probe, uniformity, RankMe, leave-one-out stability
    and per-class ranks come from ``sample_rows`` rows drawn at random; the report says so.
    """
    n, d = source.shape
    k = int(labels.max()) + 1 if labels is not None and labels.size else 1
    stats = ClassStats(k, d)
    for lo, batch in source.batches(batch_size):
        y = labels[lo : lo + batch.shape[0]] if labels is not None else np.zeros(len(batch), int)
        stats.update(batch, y)
        advance(batch.shape[0])
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, size=min(sample_rows, n), replace=False))
    report = analyze(
        source.take(rows), None if labels is None else labels[rows], seed=seed, **kwargs
    )
    exact: dict[str, float] = {}
    s = singular_values_from_covariance(stats.total_cov(), n)
    exact["effective_rank"] = entropy_rank(s)
    exact["effective_rank_score"] = score_from_singular_values(s, n, d)
    if labels is not None and int((stats.counts > 0).sum()) >= 2:
        exact.update(stats.neural_collapse(weights=kwargs.get("weights")))
        exact["centroid_similarity"] = centroid_similarity_from_means(stats.class_means())
    for key in ("ncc_agreement", "ood_orthogonality"):
        exact.pop(key, None)
    report.metrics.update({key: exact[key] for key in STREAMED_EXACT if key in exact})
    report.inputs["n"] = n
    report.inputs["notes"].append(
        f"file larger than the memory limit: {', '.join(k for k in STREAMED_EXACT if k in exact)} "
        f"are exact over all {n} rows (one streamed pass); the other metrics and the intervals "
        f"use {len(rows)} random rows"
    )
    report.verdict = decide(report.metrics, report.baseline)
    return report
