"""One call: every metric the inputs allow, intervals, an isotropic baseline and a verdict."""

from __future__ import annotations

import math
from typing import Any, Literal

import torch

from collapsekit._validation import check_features, check_labels
from collapsekit.functional._common import l2_normalize
from collapsekit.functional.centroid_similarity import centroid_similarity, loo_centroid_stability
from collapsekit.functional.effective_rank import (
    entropy_rank,
    per_class_effective_rank,
    score_from_singular_values,
)
from collapsekit.functional.linear_cka import linear_cka
from collapsekit.functional.linear_probe import linear_probe_accuracy
from collapsekit.functional.neural_collapse import neural_collapse
from collapsekit.functional.rankme import rankme_from_singular_values
from collapsekit.functional.silhouette import silhouette
from collapsekit.functional.spectrum import singular_values
from collapsekit.functional.std_of_l2_normalized import std_of_l2_normalized
from collapsekit.functional.uniformity import uniformity
from collapsekit.report.bootstrap import bootstrap_intervals
from collapsekit.report.null_model import isotropic_null
from collapsekit.report.report import Report
from collapsekit.report.verdict import Thresholds, decide
from collapsekit.stats.class_stats import ClassStats

#: Largest cohort for which ``analyze`` bootstraps by default (``bootstrap=None``).
AUTO_BOOTSTRAP_MAX_ROWS = 500


def analyze(
    features: Any,
    labels: Any = None,
    weights: Any = None,
    bias: Any = None,
    reference: Any = None,
    ood_features: Any = None,
    bootstrap: int | None = None,
    seed: int = 0,
    interval_level: float = 0.95,
    probe: bool = True,
    probe_folds: int = 5,
    uniformity_rows: int | None = 10_000,
    global_mean: Literal["class", "sample"] = "class",
    thresholds: Thresholds | None = None,
    class_names: list[str] | None = None,
) -> Report:
    """Analyse an embedding matrix (N x D) and return a :class:`Report` with a verdict.

    Computes every metric the inputs allow: spectrum-based (effective rank and its score,
    RankMe), spread (std of L2-normalised rows, uniformity), and with ``labels`` the
    neural-collapse metrics, centroid similarity and its leave-one-out stability, cosine
    silhouette, per-class effective rank and a linear-probe accuracy; ``weights`` add NC3/NC4,
    ``ood_features`` NC5, ``reference`` (the same inputs embedded by another model) linear CKA
    (biased and debiased).

    Args:
        bootstrap: resamples for percentile intervals (stratified by class; paired with
            ``reference``). ``None``: 200 when N <= 500 (tiny cohorts need them most), else 0.
        uniformity_rows: uniformity is O(N^2); above this many rows it is computed on a seeded
            random subset (the report says so). ``None`` = always exact.
        probe: fit the linear probe (``probe_folds`` stratified folds, fewer when the
            smallest class is smaller).

    The verdict compares the metrics with isotropic Gaussian data of the same N, D and class
    sizes (see :mod:`collapsekit.report.verdict`).

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(300, 16, generator=g)
        >>> report = analyze(x, torch.arange(300) % 3, bootstrap=0)
        >>> report.verdict.label
        'class collapse'
        >>> report = analyze(x[:, :1] * torch.ones(1, 16) + 1e-6 * x, bootstrap=0)
        >>> report.verdict.label
        'dimensional collapse'
    """
    x = check_features(features, "features", min_rows=2)
    n, d = x.shape
    y = None if labels is None else check_labels(labels, n, None, "labels", x.device)
    # exact power-of-two rescale to unit RMS: changes no mantissa, so every scale-invariant
    # metric (all of them) is unchanged, but float32 squares neither underflow nor overflow and
    # the L2-regularised probe sees the same problem at every scale (verdict scale invariance)
    rms = float(x.double().square().mean().sqrt()) if x.numel() else 0.0
    if rms > 0 and math.isfinite(rms):
        factor = 2.0 ** (-round(math.log2(rms)))
        x = x * factor
        if bias is not None:
            bias = torch.as_tensor(bias) * factor
        if ood_features is not None:
            ood_features = torch.as_tensor(ood_features) * factor
    notes: list[str] = []
    metrics: dict[str, float] = {}

    s_centred = singular_values(x, center=True)
    metrics["effective_rank"] = entropy_rank(s_centred)
    metrics["effective_rank_score"] = score_from_singular_values(s_centred, n, d)
    metrics["rankme"] = rankme_from_singular_values(singular_values(x, center=False))
    metrics["std_of_l2_normalized"] = std_of_l2_normalized(x)
    g = torch.Generator().manual_seed(seed)
    if uniformity_rows is not None and n > uniformity_rows:
        subset = torch.randperm(n, generator=g)[:uniformity_rows].to(x.device)
        metrics["uniformity"] = uniformity(x[subset])
        notes.append(f"uniformity estimated on {uniformity_rows} random rows of {n}")
    else:
        metrics["uniformity"] = uniformity(x)

    class_counts: dict[str, int] = {}
    per_class: dict[str, float] = {}
    centroid_cos: list[list[float]] | None = None
    if y is not None:
        ids, counts = torch.unique(y, return_counts=True)
        class_counts = {str(int(c)): int(k) for c, k in zip(ids, counts, strict=True)}
        k = ids.numel()
        if k < 2:
            notes.append("a single class: class-separation metrics need two or more")
        else:
            metrics.update(
                neural_collapse(
                    x,
                    y,
                    weights=weights,
                    bias=bias,
                    ood_features=ood_features,
                    global_mean=global_mean,
                )
            )
            metrics["centroid_similarity"] = centroid_similarity(x, y)
            if n > 2 or int(counts.max()) > 1:
                metrics["loo_centroid_stability"] = loo_centroid_stability(x, y)
            if k < n:
                metrics["silhouette"] = silhouette(x, y)
            ranks = per_class_effective_rank(x, y)
            per_class = {str(c): v for c, v in ranks.items()}
            for c, v in ranks.items():
                metrics[f"per_class_effective_rank_{c}"] = v
            if ranks:
                metrics["per_class_effective_rank_min"] = min(ranks.values())
            smallest = int(counts.min())
            folds = min(probe_folds, smallest)
            metrics["chance_accuracy"] = float(counts.max()) / n
            if probe and folds >= 2:
                metrics["linear_probe_accuracy"] = linear_probe_accuracy(
                    x, y, folds=folds, seed=seed
                )
                if folds < probe_folds:
                    notes.append(
                        f"linear probe used {folds} folds (smallest class has {smallest} rows)"
                    )
            elif probe:
                notes.append("linear probe skipped: a class has a single row")
            if k <= 64:
                means = torch.stack([x[y == c].double().mean(0) for c in ids])
                unit = l2_normalize(means)
                centroid_cos = (unit @ unit.T).tolist()
    if reference is not None:
        metrics["linear_cka"] = linear_cka(x, reference)
        if n >= 4:
            metrics["linear_cka_debiased"] = linear_cka(x, reference, debiased=True)

    stats = None
    dense_counts = None
    names: list[str] | None = None
    per_class_by_name: dict[str, float] | None = None
    if y is not None:
        ids, dense_y = torch.unique(y, return_inverse=True)
        dense_counts = torch.bincount(dense_y, minlength=ids.numel())
        names = class_names if class_names is not None else [str(int(c)) for c in ids]
        per_class_by_name = {
            names[i]: per_class[str(int(c))] for i, c in enumerate(ids) if str(int(c)) in per_class
        }
        if ids.numel() >= 2:
            stats = ClassStats(int(ids.numel()), d, device=x.device)
            stats.update(x, dense_y)
    base, base_spectrum = isotropic_null(
        n,
        d,
        dense_counts,
        seed,
        x.device,
        with_silhouette="linear_probe_accuracy" not in metrics,
    )
    resamples = bootstrap if bootstrap is not None else (200 if n <= AUTO_BOOTSTRAP_MAX_ROWS else 0)
    intervals = (
        bootstrap_intervals(x, y, reference, resamples, seed, interval_level) if resamples else {}
    )
    spectrum_data = (s_centred / s_centred.sum().clamp_min(1e-300)).tolist()
    inputs = {
        "n": n,
        "d": d,
        "dtype": str(x.dtype).replace("torch.", ""),
        "num_classes": len(class_counts),
        "class_counts": class_counts,
        "labels": y is not None,
        "weights": weights is not None,
        "reference": reference is not None,
        "ood_features": ood_features is not None,
        "bootstrap_resamples": resamples,
        "notes": notes,
    }
    return Report(
        metrics={k: float(v) for k, v in metrics.items() if not isinstance(v, bool)},
        verdict=decide(
            metrics,
            base,
            thresholds,
            stats=stats,
            class_names=names,
            per_class_rank=per_class_by_name,
            weights=weights,
            class_counts=dense_counts,
            labels=y is not None,
        ),
        inputs=inputs,
        intervals=intervals,
        interval_level=interval_level,
        baseline=base,
        spectrum={"data": spectrum_data[:512], "isotropic": base_spectrum[:512]},
        centroid_cosine=centroid_cos,
        per_class_effective_rank=per_class,
    )
