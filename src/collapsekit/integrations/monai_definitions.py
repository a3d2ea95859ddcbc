"""MONAI 1.6.1's definitions of its collapse scores on top of collapsekit's metrics, and the
checks of the adapter's inputs (see :mod:`collapsekit.integrations.monai`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from collapsekit._validation import as_tensor

VALID_REDUCTIONS = ("max", "mean", "none")
VALID_INDICATORS = frozenset(
    {"centroid_similarity", "effective_rank", "per_class_rank", "domain_shift", "separation"}
)
VALID_UNPAIRED = ("subsample", "raise")


def check_options(
    reduction: str, include_indicators: Sequence[str] | None, unpaired_domains: str
) -> None:
    if reduction not in VALID_REDUCTIONS:
        raise ValueError(f"reduction: expected one of {VALID_REDUCTIONS}, received {reduction!r}")
    if include_indicators is not None:
        if isinstance(include_indicators, str):
            raise TypeError(
                "include_indicators: expected a list of names, received the string "
                f"{include_indicators!r}; wrap it: [{include_indicators!r}]"
            )
        unknown = set(include_indicators) - VALID_INDICATORS
        if unknown:
            raise ValueError(
                f"include_indicators: expected names from {sorted(VALID_INDICATORS)}, "
                f"received unknown {sorted(unknown)}"
            )
    if unpaired_domains not in VALID_UNPAIRED:
        raise ValueError(
            f"unpaired_domains: expected one of {VALID_UNPAIRED}, received {unpaired_domains!r}"
        )


def check_class_labels(
    labels: Any, n_rows: int, device: torch.device, name: str = "labels"
) -> torch.Tensor:
    """1-D integer labels of length N; any integer values (negative ones included, as MONAI)."""
    y = as_tensor(labels, name, device)
    if y.dim() != 1 or y.shape[0] != n_rows:
        raise ValueError(
            f"{name}: expected a 1-D tensor of {n_rows} integer class labels (one per embedding "
            f"row), received shape {tuple(y.shape)}; for one-hot labels pass labels.argmax(1)"
        )
    if y.dtype == torch.bool or y.dtype.is_complex:
        raise TypeError(f"{name}: expected integer class labels, received dtype {y.dtype}")
    if y.dtype.is_floating_point:
        if not bool(torch.isfinite(y).all()) or not bool((y == y.round()).all()):
            raise ValueError(
                f"{name}: expected integer class labels, received non-integer values (dtype "
                f"{y.dtype}); pass class indices, e.g. labels.round().long()"
            )
    return y.long()


# ---------------------------------------------------------------- MONAI 1.6.1's definitions
# The raw quantities (centroid cosine, silhouette, effective ranks, CKA) come from the metric
# registry; these are the transformations MONAI 1.6.1 applies on top of them.


def monai_centroid_similarity(centroid_similarity: float) -> float:
    """MONAI 1.6.1's ``centroid_similarity`` score: (c + 1) / 2, c = mean pairwise cosine of
    the class centroids (collapsekit's ``centroid_similarity``, docs/metrics.md).

    0.5 = orthogonal centroids, 1 = identical centroids (collapsed); 0 = antipodal (K = 2).
    Not defined for fewer than two classes (the caller returns ``None``).
    Reference: MONAI 1.6.1, ``monai.metrics.embedding_collapse``.

    Example:
        >>> monai_centroid_similarity(0.0), monai_centroid_similarity(1.0)
        (0.5, 1.0)
    """
    return (centroid_similarity + 1.0) / 2.0


def monai_separation(silhouette: float) -> float:
    """MONAI 1.6.1's ``separation`` score: (1 - s) / 2, s = cosine silhouette of the rows by
    class (collapsekit's ``silhouette``, scikit-learn's definition).

    0 = perfectly separated classes, 0.5 = no structure, 1 = rows nearer other classes.
    Not defined unless 2 <= K <= N - 1 (the caller returns ``None``).
    Reference: MONAI 1.6.1; Rousseeuw 1987 for the silhouette.

    Example:
        >>> monai_separation(1.0), monai_separation(-1.0)
        (0.0, 1.0)
    """
    return (1.0 - silhouette) / 2.0


def monai_rank_score(effective_rank: float, n_rows: int, dim: int) -> float | None:
    """MONAI 1.6.1's rank score of a set of rows: 1 - erank / min(n - 1, D), erank the
    effective rank (Roy & Vetterli 2007) of the column-centred rows.

    0 = flat spectrum, 1 = collapsed to a point (erank 0). ``None`` for a single row (MONAI's
    per-class convention); values outside [0, 1] are clamped by the caller.

    Example:
        >>> monai_rank_score(4.0, 9, 4), monai_rank_score(0.0, 5, 8), monai_rank_score(0.0, 1, 8)
        (0.0, 1.0, None)
    """
    if n_rows < 2:
        return None
    return 1.0 - effective_rank / min(n_rows - 1, dim)


# ---------------------------------------------------------------- the registry evaluation
