"""The one protocol every streaming accumulator of :mod:`collapsekit.stats` follows.

An accumulator adds batches (``update``), combines with another holding other rows
(``merge``: the result equals one pass over both), saves and restores itself
(``state_dict`` / ``load_state_dict``: an exact round trip, validated all or nothing) and sums
itself over the processes of ``torch.distributed`` (``all_reduce``: a no-op when it is not
initialised). The helpers here hold the parts they all share: the "is torch.distributed
running" guard and the type and shape checks of ``merge``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

T = TypeVar("T")


@runtime_checkable
class Accumulator(Protocol):
    """What every accumulator offers (checked with ``isinstance``; the signatures of
    ``update`` differ: rows, rows with labels, paired rows, views).

    Example:
        >>> from collapsekit.stats.class_stats import ClassStats
        >>> isinstance(ClassStats(num_classes=2, dim=3), Accumulator)
        True
        >>> isinstance(object(), Accumulator)
        False
    """

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Add a batch of rows."""

    def merge(self, other: Any) -> Any:
        """Add the rows another accumulator of the same kind holds; returns ``self``."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume, as a dict of tensors and plain values."""

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (all or nothing)."""

    def all_reduce(self, group: Any = None) -> Any:
        """Combine the state of every process (no-op without torch.distributed)."""


def distributed_active() -> bool:
    """Whether ``torch.distributed`` is available and initialised: ``all_reduce`` is a no-op
    (returns ``self`` unchanged) when it is not.

    Example:
        >>> distributed_active()
        False
    """
    import torch.distributed as dist

    return bool(dist.is_available() and dist.is_initialized())


def check_mergeable(mine: T, other: Any, fields: tuple[str, ...]) -> T:
    """``other`` as an accumulator of ``mine``'s class with the same ``fields`` (e.g. the
    number of classes and the width), else a TypeError (another class) or a ValueError naming
    the fields, both values and the fix.

    Example:
        >>> from collapsekit.stats.lidar_stats import LiDARStats
        >>> check_mergeable(LiDARStats(dim=2), LiDARStats(dim=3), ("dim",))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: other: expected a LiDARStats with dim = 2, received dim = 3; ...
    """
    name = type(mine).__name__
    if not isinstance(other, type(mine)):
        raise TypeError(f"other: expected a {name}, received {type(other).__name__}")
    want = tuple(getattr(mine, f) for f in fields)
    got = tuple(getattr(other, f) for f in fields)
    if want != got:
        label = fields[0] if len(fields) == 1 else f"({', '.join(fields)})"
        show = (lambda v: v[0]) if len(fields) == 1 else (lambda v: v)
        raise ValueError(
            f"other: expected a {name} with {label} = {show(want)}, received {label} = "
            f"{show(got)}; merge states built with the same options"
        )
    return other
