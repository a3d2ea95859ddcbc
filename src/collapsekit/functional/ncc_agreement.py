"""NC4 kernel: does the classifier agree with the nearest-class-centre rule on each row?

Reference: Papyan, Han & Donoho, PNAS 2020 (NC4); definition in ``docs/metrics.md#ncc_agreement``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch


def ncc_predictions(
    rows: torch.Tensor,
    centred_means: torch.Tensor,
    center: torch.Tensor,
    weights: torch.Tensor,
    bias: torch.Tensor | None = None,
    chunk_size: int = 8192,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(classifier argmax over all weight rows, index of the nearest class mean) per row.

    Distances are ``||mu_c - mu_G||^2 - 2 (h - mu_G).(mu_c - mu_G)`` in float64 (the row's own
    norm is common to every class), so a large common offset cancels before any product.
    The second output indexes the rows of ``centred_means``.

    Example:
        >>> import torch
        >>> m = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
        >>> clf, ncc = ncc_predictions(torch.tensor([[2.0, 0.0]]), m, torch.zeros(2), m)
        >>> clf.tolist(), ncc.tolist()
        ([0], [0])
    """
    m = centred_means.double()
    sq = m.square().sum(1)
    w = weights.double()
    c = center.double()
    clf, ncc = [], []
    for chunk in rows.split(chunk_size):
        best = ncc_shard_best(chunk.double(), m, sq, c, w, bias)
        clf.append(best.logit_class)
        ncc.append(best.mean_class)
    if not clf:
        empty = torch.zeros(0, dtype=torch.long, device=rows.device)
        return empty, empty
    return torch.cat(clf), torch.cat(ncc)


class NCCBest(NamedTuple):
    """Per row: the largest logit and its weight row, the smallest centred distance
    ``||mu_c - mu_G||^2 - 2 (h - mu_G).(mu_c - mu_G)`` and its class (indices offset as
    asked)."""

    logit: torch.Tensor
    logit_class: torch.Tensor
    distance: torch.Tensor
    mean_class: torch.Tensor


# size: one shard's NC4 inputs (rows, means, classifier) and its index offsets
def ncc_shard_best(
    h: torch.Tensor,
    centred_means: torch.Tensor,
    sq_norms: torch.Tensor,
    center: torch.Tensor,
    weights: torch.Tensor,
    bias: torch.Tensor | None = None,
    mean_offset: int = 0,
    weight_offset: int = 0,
) -> NCCBest:
    """NC4's two rules on float64 rows ``h`` against one shard of the classes: the best
    weight row (argmax of ``h W^T + b``) and the nearest centred class mean, as indices plus
    ``weight_offset`` / ``mean_offset`` (the shard's first global index). Ties go to the
    first index; :func:`ncc_better` combines shards the same way. A shard without means
    gives distance +inf, one without weight rows logit -inf.

    Example:
        >>> import torch
        >>> m = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
        >>> b = ncc_shard_best(torch.tensor([[2.0, 0.0]], dtype=torch.float64), m,
        ...                    m.square().sum(1), torch.zeros(2), m, mean_offset=5)
        >>> b.logit_class.tolist(), b.mean_class.tolist(), b.distance.tolist()
        ([0], [5], [-3.0])
    """
    n, dev = h.shape[0], h.device
    if weights.shape[0]:
        logits = h @ weights.T
        if bias is not None:
            logits += bias.double()
        logit_class = logits.argmax(1)
        logit = logits.gather(1, logit_class[:, None]).flatten()
    else:
        logit = torch.full((n,), -math.inf, dtype=torch.float64, device=dev)
        logit_class = torch.zeros(n, dtype=torch.long, device=dev)
    if centred_means.shape[0]:
        dist = sq_norms - 2.0 * ((h - center) @ centred_means.T)
        mean_class = dist.argmin(1)
        distance = dist.gather(1, mean_class[:, None]).flatten()
    else:
        distance = torch.full((n,), math.inf, dtype=torch.float64, device=dev)
        mean_class = torch.zeros(n, dtype=torch.long, device=dev)
    return NCCBest(logit, logit_class + weight_offset, distance, mean_class + mean_offset)


def ncc_better(a: NCCBest, b: NCCBest) -> NCCBest:
    """Row by row, the better of two shards' :class:`NCCBest` (larger logit, smaller
    distance; on a tie the smaller index, as one argmax over every class would choose).

    Example:
        >>> import torch
        >>> def one(v, i):
        ...     return torch.tensor([v], dtype=torch.float64), torch.tensor([i])
        >>> a = NCCBest(*one(1.0, 3), *one(2.0, 3))
        >>> b = NCCBest(*one(1.0, 1), *one(5.0, 1))
        >>> c = ncc_better(a, b)
        >>> c.logit_class.tolist(), c.mean_class.tolist()
        ([1], [3])
    """
    take_logit = (b.logit > a.logit) | ((b.logit == a.logit) & (b.logit_class < a.logit_class))
    take_mean = (b.distance < a.distance) | (
        (b.distance == a.distance) & (b.mean_class < a.mean_class)
    )
    return NCCBest(
        torch.where(take_logit, b.logit, a.logit),
        torch.where(take_logit, b.logit_class, a.logit_class),
        torch.where(take_mean, b.distance, a.distance),
        torch.where(take_mean, b.mean_class, a.mean_class),
    )
