"""One test behind the verdict (:class:`Evidence`): a value against its threshold, with its null."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Evidence:
    """One test behind the verdict: ``value`` against ``threshold``; ``baseline`` is the null.

    ``rule`` says how the value is read ("... if below"), ``fired`` whether the test holds and
    ``indicates`` the label it supports when it fires.

    Example:
        >>> Evidence("effective_rank / null", 0.05, 0.1, "dimensional collapse if below", True)
        ... # doctest: +ELLIPSIS
        Evidence(metric='effective_rank / null', value=0.05, threshold=0.1, ...)
    """

    metric: str
    value: float
    threshold: float
    rule: str
    fired: bool
    baseline: float | None = None
    indicates: str = ""  # the verdict this test supports when it fires


__all__ = ["Evidence"]
