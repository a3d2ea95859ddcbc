"""Small helpers the rules share: a null-relative ratio and a robust z on the log scale."""

from __future__ import annotations

import math

import torch


def ratio(value: float, baseline: float) -> float:
    """``value / baseline``; 0 when the baseline is not positive and the value is not either,
    inf when only the value is positive.

    Example:
        >>> ratio(1.0, 4.0), ratio(0.0, 0.0), ratio(1.0, 0.0)
        (0.25, 0.0, inf)
    """
    if baseline > 0:
        return value / baseline
    return 0.0 if value <= 0 else math.inf


def robust_log_z(values: torch.Tensor) -> torch.Tensor:
    """``(log v - median log v) / (1.4826 MAD)``; -inf/inf where the MAD is 0 and ``v`` differs
    from the median (0 where it equals it).

    Example:
        >>> robust_log_z(torch.tensor([1.0, 1.0, 1.0, 0.1])).tolist()
        [0.0, 0.0, 0.0, -inf]
    """
    logs = values.clamp_min(1e-300).log()
    med = logs.median()
    mad = (logs - med).abs().median() * 1.4826
    dev = logs - med
    if float(mad) > 0:
        return dev / mad
    return torch.where(dev == 0, torch.zeros_like(dev), dev.sign() * math.inf)
