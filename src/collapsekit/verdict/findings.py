"""A per-class finding of the verdict (:class:`Finding`): its kind, the classes it names and the
statistics behind it.

The JSON shape is the one of collapsekit 0.2.0, ``{"kind": str, "classes": [str, ...],
"evidence": {...}}``, so report files written by 0.2.0 load unchanged (:meth:`Finding.from_dict`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from collapsekit.verdict.labels import COLLAPSED_CLASS, MERGED, MINORITY, PARTIAL_DIMENSIONAL


def format_names(names: Sequence[str], limit: int = 12) -> str:
    """``names`` joined by commas, the first ``limit`` of them and then ``(+n more)``.

    Example:
        >>> format_names(["a", "b", "c"], limit=2)
        'a, b (+1 more)'
    """
    shown = ", ".join(names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


@dataclass(frozen=True)
class Finding:
    """One per-class finding: ``kind`` (one of
    :data:`~collapsekit.verdict.labels.FINDING_KINDS`), the ``classes`` it names (class names, in
    class-id order) and its ``evidence`` (the statistic, its threshold and its null; the keys
    depend on the kind, see :mod:`collapsekit.verdict.rules`).

    Example:
        >>> f = Finding("collapsed class", ("cat",), {"reason": "variance 0.01 x the median"})
        >>> f.line()
        'collapsed class: cat -- variance 0.01 x the median'
        >>> Finding.from_dict(f.to_dict()) == f
        True
    """

    kind: str
    classes: tuple[str, ...] = ()
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (0.2.0's shape): ``{"kind", "classes": [...], "evidence": {...}}``; a deep
        copy, so editing it leaves the finding alone.

        Example:
            >>> Finding("merged classes", ("a", "b")).to_dict()
            {'kind': 'merged classes', 'classes': ['a', 'b'], 'evidence': {}}
        """
        return {
            "kind": self.kind,
            "classes": list(self.classes),
            "evidence": copy.deepcopy(dict(self.evidence)),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        """Inverse of :meth:`to_dict` (reads reports written by collapsekit 0.2.0 too).

        Raises ``ValueError`` when ``data`` is not a mapping with a ``kind``.

        Example:
            >>> Finding.from_dict({"kind": "minority collapse", "classes": ["3", "4"]}).classes
            ('3', '4')
        """
        if not isinstance(data, Mapping) or "kind" not in data:
            raise ValueError(
                "finding: expected a mapping with a 'kind' (and 'classes', 'evidence'), "
                f"received {data!r}; pass an entry of a report's verdict.findings"
            )
        return cls(
            kind=data["kind"],
            classes=tuple(data.get("classes", ())),
            evidence=dict(data.get("evidence", {})),
        )

    def line(self) -> str:
        """One line for the terminal: kind, class names, statistic, threshold and null.

        Example:
            >>> Finding("merged classes", ("a", "b"), {"largest_statistic": 0.9, "threshold": 1.5,
            ...         "null_mean": 1.0, "null_spread": 0.2}).line()
            'merged classes: a, b -- largest T 0.9 < threshold 1.5 (null mean 1, null sd 0.2)'
        """
        e = self.evidence
        names = format_names(self.classes)
        if self.kind == MERGED:
            return (
                f"merged classes: {names} -- largest T {e['largest_statistic']:.3g} < "
                f"threshold {e['threshold']:.3g} (null mean {e['null_mean']:.3g}, null sd "
                f"{e['null_spread']:.3g})"
            )
        if self.kind == PARTIAL_DIMENSIONAL:
            return f"partial dimensional collapse -- {e['reason']}"
        if self.kind == COLLAPSED_CLASS:
            return f"collapsed class: {names} -- {e['reason']}"
        if self.kind == MINORITY:
            return (
                f"minority collapse: {names} -- minority classifier rows' mean cosine "
                f"{e['minority_mean_cos']:.3g} (majority {e['majority_mean_cos']:.3g}, ETF "
                f"{e['etf_cos']:.3g}, random rows {e['null_cos']:.3g})"
            )
        return f"{self.kind}: {names}"


__all__ = ["Finding", "format_names"]
