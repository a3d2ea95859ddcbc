"""Moving per-class state rows to new class ids (growth and relabelling), shared by the
accumulators whose first axis is the class."""

from __future__ import annotations

from typing import Any

import torch


def remap_class_rows(t: torch.Tensor, mapping: torch.Tensor, num_classes: int) -> torch.Tensor:
    """A (num_classes, ...) tensor whose row ``mapping[i]`` holds row ``i`` of ``t``; other rows
    zero. ``mapping`` must be injective."""
    out = torch.zeros((num_classes, *t.shape[1:]), dtype=t.dtype, device=t.device)
    if t.shape[0]:
        out[mapping.to(t.device)] = t
    return out


def global_class_means(
    counts: torch.Tensor, resid_sum: torch.Tensor, shift: torch.Tensor, group: Any = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(counts over every process, float32 class means over every process) from each rank's
    counts, residual sums and shifts (rows h = shift + residual): the common shift that lets
    shifted per-class sums of different ranks be added exactly. Collective: every rank calls it.
    """
    import torch.distributed as dist

    total = counts.clone()
    dist.all_reduce(total, group=group)
    absolute = resid_sum + counts.double()[:, None] * shift.double()
    dist.all_reduce(absolute, group=group)
    seen = total > 0
    means = torch.zeros_like(shift, dtype=torch.float32)
    means[seen] = (absolute[seen] / total[seen, None].double()).float()
    return total, means
