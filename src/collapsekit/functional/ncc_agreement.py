"""NC4 kernel: does the classifier agree with the nearest-class-centre rule on each row?

Reference: Papyan, Han & Donoho, PNAS 2020 (NC4); definition in ``docs/metrics.md#ncc_agreement``.
"""

from __future__ import annotations

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
        h = chunk.double()
        logits = h @ w.T
        if bias is not None:
            logits += bias.double()
        clf.append(logits.argmax(1))
        ncc.append((sq - 2.0 * ((h - c) @ m.T)).argmin(1))
    if not clf:
        empty = torch.zeros(0, dtype=torch.long, device=rows.device)
        return empty, empty
    return torch.cat(clf), torch.cat(ncc)
