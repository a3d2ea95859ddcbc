"""A drop-in for MONAI's ``EmbeddingCollapseMetric`` (MONAI 1.6.1 call signature and keys).

Scores are in [0, 1], higher = more collapsed, with MONAI's definitions:

* ``centroid_similarity`` = (mean pairwise cosine of class centroids + 1) / 2
* ``effective_rank_score`` = 1 - effective_rank / min(N-1, D)
* ``per_class_rank_<c>`` = effective_rank_score of class c (``None`` for single-row classes)
* ``domain_shift`` = linear CKA between ``embeddings`` and ``target_embeddings``
* ``separation`` = (1 - cosine silhouette) / 2
* ``aggregate`` = max (or mean) over the global scores and the worst per-class score

Where MONAI is wrong, this one differs on purpose:

* unpaired domains (different row counts) raise ``ValueError`` instead of comparing a random
  subset of unrelated rows; ``debiased_cka=True`` offers the unbiased HSIC estimator;
* silhouette is exact in O(N K D) instead of an O(N^2) scikit-learn call (no scikit-learn);
* bad inputs (NaN rows, labels of the wrong length) raise with a message naming the argument.

MONAI itself is not needed; this module never imports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from collapsekit._validation import check_features, check_labels
from collapsekit.functional.centroid_similarity import centroid_similarity
from collapsekit.functional.effective_rank import effective_rank_score
from collapsekit.functional.linear_cka import linear_cka
from collapsekit.functional.silhouette import silhouette

VALID_REDUCTIONS = ("max", "mean", "none")
VALID_INDICATORS = frozenset(
    {"centroid_similarity", "effective_rank", "per_class_rank", "domain_shift", "separation"}
)
_PRIMARY = ("centroid_similarity", "effective_rank_score", "domain_shift", "separation")


def _check_options(reduction: str, include_indicators: Sequence[str] | None) -> None:
    if reduction not in VALID_REDUCTIONS:
        raise ValueError(f"reduction: expected one of {VALID_REDUCTIONS}, received {reduction!r}")
    if include_indicators is not None:
        unknown = set(include_indicators) - VALID_INDICATORS
        if unknown:
            raise ValueError(
                f"include_indicators: expected names from {sorted(VALID_INDICATORS)}, "
                f"received unknown {sorted(unknown)}"
            )


def compute_embedding_collapse(
    embeddings: Any,
    labels: Any = None,
    target_embeddings: Any = None,
    target_labels: Any = None,
    reduction: str = "max",
    include_indicators: Sequence[str] | None = None,
    debiased_cka: bool = False,
) -> dict[str, torch.Tensor | None]:
    """Functional form of :class:`EmbeddingCollapseMetric` (same keys and value ranges).

    Example:
        >>> import torch
        >>> emb = torch.randn(60, 8, generator=torch.Generator().manual_seed(0))
        >>> scores = compute_embedding_collapse(emb, torch.arange(60) % 2)
        >>> sorted(scores)  # doctest: +NORMALIZE_WHITESPACE
        ['aggregate', 'centroid_similarity', 'domain_shift', 'effective_rank_score',
         'per_class_rank_0', 'per_class_rank_1', 'separation']
        >>> scores["domain_shift"] is None
        True
    """
    _check_options(reduction, include_indicators)
    emb = check_features(embeddings, "embeddings", min_rows=2)
    inc = set(include_indicators) if include_indicators is not None else set(VALID_INDICATORS)
    dev = emb.device

    def scalar(v: float) -> torch.Tensor:
        return torch.tensor(min(1.0, max(0.0, v)), dtype=torch.float32, device=dev)

    scores: dict[str, torch.Tensor | None] = {}
    per_class: dict[str, torch.Tensor | None] = {}
    if labels is not None:
        y = check_labels(labels, emb.shape[0], None, "labels", dev)
        k = int(torch.unique(y).numel())
        if "centroid_similarity" in inc:
            scores["centroid_similarity"] = (
                scalar((centroid_similarity(emb, y) + 1.0) / 2.0) if k >= 2 else None
            )
        if "per_class_rank" in inc:
            for c in torch.unique(y).tolist():
                rows = emb[y == c]
                per_class[f"per_class_rank_{c}"] = (
                    scalar(effective_rank_score(rows)) if rows.shape[0] >= 2 else None
                )
            scores.update(per_class)
        if "separation" in inc:
            ok = 2 <= k < emb.shape[0]
            scores["separation"] = scalar((1.0 - silhouette(emb, y)) / 2.0) if ok else None
    else:
        for key in ("centroid_similarity", "separation"):
            if key in inc:
                scores[key] = None
    if "effective_rank" in inc:
        scores["effective_rank_score"] = scalar(effective_rank_score(emb))
    if "domain_shift" in inc:
        if target_embeddings is None:
            scores["domain_shift"] = None
        else:
            target = check_features(target_embeddings, "target_embeddings", device=dev)
            if target.shape[0] != emb.shape[0]:
                raise ValueError(
                    f"target_embeddings: expected {emb.shape[0]} rows paired with embeddings "
                    f"(row i of both from the same input), received {target.shape[0]}; CKA of "
                    "unpaired domains is meaningless (MONAI silently subsamples). Embed the same "
                    "inputs in both domains"
                )
            scores["domain_shift"] = scalar(linear_cka(emb, target, debiased=debiased_cka))
    if reduction != "none":
        pool = [v for key, v in scores.items() if key in _PRIMARY and v is not None]
        worst = [v for v in per_class.values() if v is not None]
        if worst:
            pool.append(torch.stack(worst).max())
        if not pool:
            scores["aggregate"] = None
        elif reduction == "max":
            scores["aggregate"] = torch.stack(pool).max()
        else:
            scores["aggregate"] = torch.stack(pool).mean()
    return scores


class EmbeddingCollapseMetric:
    """MONAI-compatible collapse metric: ``metric(embeddings, labels, target_embeddings)``.

    Args:
        reduction: ``"max"`` (worst score, default), ``"mean"`` or ``"none"``.
        include_indicators: subset of ``centroid_similarity``, ``effective_rank``,
            ``per_class_rank``, ``domain_shift``, ``separation``.
        debiased_cka: use the unbiased CKA estimator for ``domain_shift`` (small cohorts).

    Example:
        >>> import torch
        >>> metric = EmbeddingCollapseMetric()
        >>> out = metric(torch.ones(10, 4) + torch.eye(10, 4), torch.arange(10) % 2)
        >>> float(out["aggregate"]) >= float(out["effective_rank_score"])
        True
    """

    def __init__(
        self,
        reduction: str = "max",
        include_indicators: Sequence[str] | None = None,
        debiased_cka: bool = False,
    ) -> None:
        _check_options(reduction, include_indicators)
        self.reduction = reduction
        self.include_indicators = list(include_indicators) if include_indicators else None
        self.debiased_cka = debiased_cka

    def __call__(
        self,
        embeddings: Any,
        labels: Any = None,
        target_embeddings: Any = None,
        target_labels: Any = None,
    ) -> dict[str, torch.Tensor | None]:
        return compute_embedding_collapse(
            embeddings,
            labels,
            target_embeddings,
            target_labels,
            reduction=self.reduction,
            include_indicators=self.include_indicators,
            debiased_cka=self.debiased_cka,
        )
