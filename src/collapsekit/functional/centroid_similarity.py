"""Similarity of (uncentred) class centroids, and its leave-one-out stability."""

from __future__ import annotations

import math
from typing import Any

import torch

from collapsekit.functional._common import (
    class_sums,
    compact_labels,
    features_and_labels,
    l2_normalize,
)


def centroid_similarity_from_means(means: torch.Tensor) -> float:
    """Mean pairwise cosine of the rows of ``means`` (K x D, K >= 2), in closed form.

    A zero row has no direction and counts as cosine 0 with every other row:
    ``sum_{c != c'} u_c.u_c' = ||sum_c u_c||^2 - sum_c ||u_c||^2`` with ``u_c = 0`` for it.

    Example:
        >>> import torch
        >>> centroid_similarity_from_means(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
        0.0
    """
    k = means.shape[0]
    units = l2_normalize(means)
    unit_sq = units.square().sum()  # K, less one per zero row
    return float((units.sum(0).square().sum() - unit_sq) / (k * (k - 1)))


def centroid_similarity(features: Any, labels: Any) -> float:
    """Mean over class pairs c < c' of cos(mu_c, mu_c') of the uncentred class means.

    1 means every class centroid points the same way (class collapse, e.g. a frozen encoder
    that maps all cohorts alike); values well below the isotropic baseline mean centroids are
    spread out. Computed in closed form, O(N D): mean pair cosine =
    (||sum_c u_c||^2 - K) / (K (K-1)), u_c = mu_c / ||mu_c||. Zero centroids have no direction
    and count as cosine 0 with every other centroid (never as -1/(K-1)).

    This is MONAI's ``centroid_similarity``.

    Example:
        >>> import torch
        >>> centroid_similarity(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1]))
        0.0
    """
    x, y = features_and_labels(features, labels, min_classes=2)
    ids, yc = compact_labels(y)
    k = ids.numel()
    counts, sums = class_sums(x, yc, k)
    return centroid_similarity_from_means(sums / counts[:, None].double())


def _own_class_dots(
    x: torch.Tensor, yc: torch.Tensor, a: torch.Tensor, means: torch.Tensor, rows: int = 4096
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x_i . a_{y_i}, x_i . mu_{y_i} and ||x_i||^2 in float64, O(rows D) per chunk: each row
    against its own class's vectors only (a rows x K product cost O(N K D) at large K)."""
    out_a, out_mu, out_sq = [], [], []
    for xc, yb in zip(x.split(rows), yc.split(rows), strict=True):
        xd = xc.double()
        out_a.append((xd * a[yb]).sum(1))
        out_mu.append((xd * means[yb]).sum(1))
        out_sq.append(xd.square().sum(1))
    return torch.cat(out_a), torch.cat(out_mu), torch.cat(out_sq)


def leave_one_out_similarities(features: Any, labels: Any) -> torch.Tensor:
    """centroid_similarity recomputed with each row left out, in O(N D) (float64, N values).

    Removing row i of class c (n_c rows) only moves mu_c to v = (n_c mu_c - x_i) / (n_c - 1);
    with A = sum_c u_c - u_c, the new similarity is (||A||^2 + 2 A.v/||v|| + 1 - K) / (K(K-1)).
    Removing the only row of a class drops the class: (||A||^2 - (K-1)) / ((K-1)(K-2)); rows
    whose removal would leave fewer than two classes give NaN.
    """
    x, y = features_and_labels(features, labels, min_classes=2)
    ids, yc = compact_labels(y)
    k = ids.numel()
    counts, sums = class_sums(x, yc, k)
    return leave_one_out_similarities_from_means(x, yc, sums / counts[:, None].double(), counts)


def leave_one_out_similarities_from_means(
    rows: torch.Tensor, labels: torch.Tensor, means: torch.Tensor, counts: torch.Tensor
) -> torch.Tensor:
    """Leave-one-out centroid similarity of each of ``rows`` given the final class ``means``
    (K x D float64, all rows) and ``counts`` (K,); ``labels`` index the classes (0..K-1).

    The streaming form of :func:`leave_one_out_similarities`: means and counts come from a
    first pass, the rows from a second (see that function for the closed form).

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
        >>> means = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
        >>> leave_one_out_similarities_from_means(x, torch.tensor([0, 0, 1, 1]), means,
        ...                                       torch.tensor([2, 2])).tolist()
        [0.0, 0.0, 0.0, 0.0]
    """
    x, yc = rows, labels
    k = means.shape[0]
    n = counts.double()
    units = l2_normalize(means)
    a = units.sum(0, keepdim=True) - units  # (K, D): sum of the other classes' unit vectors
    a_sq = a.square().sum(1)
    n_i = n[yc]
    a_dot_x, mu_dot_x, x_sq = _own_class_dots(x, yc, a, means)
    a_dot_mu = (a * means).sum(1)[yc]
    mu_sq = means.square().sum(1)[yc]
    a_sq_i = a_sq[yc]
    # v scaled by (n - 1): w = n mu - x;  ||w||^2 and A.w
    w_sq = (n_i**2 * mu_sq - 2 * n_i * mu_dot_x + x_sq).clamp_min(0.0)
    a_dot_w = n_i * a_dot_mu - a_dot_x
    w_norm = w_sq.sqrt()
    cos_term = torch.where(w_norm > 0, a_dot_w / w_norm.clamp_min(1e-300), 0.0)
    # zero centroids count as cosine 0: subtract the squared norms actually present
    unit_sq = units.square().sum(1)
    others_sq = (unit_sq.sum() - unit_sq)[yc]  # sum of ||u||^2 over the other classes
    # ||A + v/||v|| ||^2 - sum of all ||u||^2: the ||v/||v|| ||^2 terms cancel
    sims = (a_sq_i + 2 * cos_term - others_sq) / (k * (k - 1))
    singleton = n_i == 1
    if bool(singleton.any()):
        if k - 1 >= 2:
            dropped = (a_sq_i - others_sq) / ((k - 1) * (k - 2))
        else:
            dropped = torch.full_like(a_sq_i, math.nan)
        sims = torch.where(singleton, dropped, sims)
    return sims


def loo_centroid_stability(features: Any, labels: Any) -> float:
    """Population std over rows i of centroid_similarity with row i left out.

    Small cohorts (say 14 slides) make centroid statistics fragile: a stability near 0 means
    no single sample drives the similarity; a value comparable to the similarity itself means
    the verdict hangs on one or two samples. Exact, O(N D) (see
    :func:`leave_one_out_similarities`); rows whose removal leaves fewer than two classes are
    skipped.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
        >>> loo_centroid_stability(x, torch.tensor([0, 0, 1, 1]))
        0.0
    """
    sims = leave_one_out_similarities(features, labels)
    sims = sims[~torch.isnan(sims)]
    if sims.numel() == 0:
        raise ValueError(
            "labels: expected classes with at least two rows or three classes; leaving out "
            "any row leaves fewer than two classes"
        )
    return float(sims.std(correction=0)) if sims.numel() > 1 else 0.0
