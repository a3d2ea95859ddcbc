"""The Analyzer's memory budget: what its class state costs, what the machine holds, and when
the optional exact per-class scatters fit.

The class moments and unit-vector sums (K x D each) always exist, so too many classes for the
machine is an error raised before anything changes; the per-class D x D scatters are optional,
kept only within ``max_memory_mb`` (above it those metrics come from the row sample, and the
note returned by :func:`per_class_budget_note` says so in the report).
"""

from __future__ import annotations

import os

from collapsekit.stats.class_scatter import PerClassScatter


def class_state_bytes(num_classes: int, dim: int) -> int:
    """Memory of the per-class state that always exists: class moments (float32 shift,
    float64 residual sums) and unit-vector sums (float64), K x D each, plus counts.

    Example:
        >>> class_state_bytes(10, 4)
        1040
    """
    return num_classes * (dim * (4 + 8 + 8) + 24)


def physical_memory_bytes() -> int:
    """This machine's physical memory in bytes (0 when it cannot be read, e.g. not POSIX).

    Example:
        >>> physical_memory_bytes() >= 0
        True
    """
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 0


def check_class_memory(k: int, dim: int) -> int:
    """Raise, before anything changes, when the K x D class state needs over half of this
    machine's memory; returns the machine's memory (0 when unknown: nothing is refused).

    Example:
        >>> check_class_memory(10, 4) >= 0
        True
    """
    need = class_state_bytes(k, dim)
    available = physical_memory_bytes()
    if available and need > 0.5 * available:
        raise ValueError(
            f"labels: {k} distinct classes x {dim} features need about "
            f"{need / 2**30:.1f} GiB for the class statistics, over half of this machine's "
            f"{available / 2**30:.0f} GiB; reduce the number of classes (e.g. group rare "
            "labels) or the feature width, or run on a larger machine"
        )
    return available


def grown_capacity(k: int, capacity: int, dim: int, available: int) -> int:
    """The class capacity after growing to hold ``k`` classes: doubled (amortised growth)
    unless the doubled state would leave less than half of ``available`` bytes, then ``k``.

    Example:
        >>> grown_capacity(17, 16, 8, 0), grown_capacity(40, 16, 8, 0)
        (32, 40)
    """
    new_cap = max(k, 2 * capacity)
    if available and class_state_bytes(new_cap, dim) > 0.5 * available:
        return k  # no headroom for doubling: grow exactly
    return new_cap


def per_class_fits(k: int, dim: int, budget_bytes: int) -> bool:
    """Whether exact per-class scatters of ``k`` classes x ``dim``^2 fit ``budget_bytes``.

    Example:
        >>> per_class_fits(2, 4, 2**20), per_class_fits(1000, 1000, 2**20)
        (True, False)
    """
    return PerClassScatter.nbytes(k, dim) <= budget_bytes


def per_class_budget_note(k: int, dim: int, budget_bytes: int) -> str:
    """The report's note when the per-class scatters do not fit the budget.

    Example:
        >>> per_class_budget_note(1000, 1000, 2**30)[:40]
        'per-class effective ranks from the row s'
    """
    need = PerClassScatter.nbytes(k, dim) / 2**20
    return (
        f"per-class effective ranks from the row sample: exact per-class scatters of {k} "
        f"classes x {dim}^2 need {need:.0f} MB, over the "
        f"{budget_bytes / 2**20:.0f} MB budget (raise max_memory_mb for exact values)"
    )
