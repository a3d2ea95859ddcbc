"""Moving per-class state rows to new class ids (growth and relabelling), shared by the
accumulators whose first axis is the class."""

from __future__ import annotations

import torch


def remap_class_rows(t: torch.Tensor, mapping: torch.Tensor, num_classes: int) -> torch.Tensor:
    """A (num_classes, ...) tensor whose row ``mapping[i]`` holds row ``i`` of ``t``; other rows
    zero. ``mapping`` must be injective."""
    out = torch.zeros((num_classes, *t.shape[1:]), dtype=t.dtype, device=t.device)
    if t.shape[0]:
        out[mapping.to(t.device)] = t
    return out
