"""Every threshold of the verdict rules (:class:`Thresholds`) and the defaults (:data:`THRESHOLDS`).

Ratios are relative to the null model's value of the same metric; margins are added to it. The
report echoes the thresholds it was decided with (``report.verdict.thresholds``); the CLI sets
them with ``--threshold name=value``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace


@dataclass(frozen=True)
class Thresholds:
    """Every threshold of :func:`decide` (immutable; derive variants with :meth:`replace`).

    Ratios are relative to the null model's value of the same metric; margins are added to it.
    """

    #: complete collapse: std_of_l2_normalized / null below this
    complete_spread_ratio: float = 0.1
    #: dimensional collapse: effective_rank / null below this
    dimensional_rank_ratio: float = 0.1
    #: dimensional collapse: dead directions beyond the null's, as a fraction of min(N-1, D),
    #: at least this (a dead direction: singular value below 1% of the largest)
    dimensional_dead_fraction: float = 0.5
    #: partial dimensional collapse (finding): that fraction at least this ...
    partial_dead_fraction: float = 0.05
    #: ... and at least this many dead directions beyond the null's
    partial_dead_min: float = 2
    #: not dimensional collapse: at least this share of the variance in the class-mean span
    dimensional_class_share: float = 0.9
    #: class collapse: probe accuracy <= chance + margin * (1 - chance)
    class_probe_margin: float = 0.1
    #: class collapse (no probe): silhouette <= random-label null + margin
    class_silhouette_margin: float = 0.02
    #: neural collapse: every NC property at least this many null sds beyond the null mean
    #: (z-score against the random-label null's simulated spread) ...
    neural_z: float = 3.0
    #: ... and NC1: nc1 below this (absolute, Papyan et al. 2020)
    neural_nc1: float = 0.1
    #: ... NC2: etf_error below this (absolute) ...
    neural_etf_error: float = 0.25
    #: ... and equinorm below this
    neural_equinorm: float = 0.2
    #: ... NC3 (with classifier weights): self_duality below this
    neural_self_duality: float = 0.5
    #: ... NC4 (with classifier weights): ncc_agreement at least this
    neural_ncc_agreement: float = 0.99
    #: neural collapse needs at least this many rows in every class
    neural_min_rows_per_class: float = 2
    #: merged classes: family-wise level of the pairwise test (Bonferroni over pairs)
    merged_alpha: float = 0.01
    #: merged classes: the screen's threshold is 1 + this x z x null spread when the pairwise
    #: probe confirms the candidates (1 without a row sample)
    merged_screen_widen: float = 2.0
    #: collapsed class: per-class rank (relative to its null) / the median class's below this
    collapsed_class_rank_ratio: float = 0.5
    #: collapsed class: class variance / the median class variance below this
    collapsed_class_spread_ratio: float = 0.1
    #: collapsed class: robust z (log scale, median/MAD) below minus this
    collapsed_class_mad_z: float = 3.5
    #: collapsed class (rank rule): per-class effective rank / its isotropic null below this
    collapsed_class_null_ratio: float = 0.5
    #: minority collapse: largest / smallest class at least this
    minority_imbalance: float = 4.0
    #: minority collapse: mean pairwise cosine of the minority classifier rows at least this
    minority_cos: float = 0.5
    #: minority collapse: ... and at least this above max(majority mean cosine, -1/(K-1))
    minority_cos_margin: float = 0.3

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(
                    f"threshold {f.name}: expected a number, received {type(value).__name__}"
                )
            if not math.isfinite(value) or value < 0:
                raise ValueError(
                    f"threshold {f.name}: expected a finite number >= 0, received {value!r}"
                )
        if not 0.0 < self.merged_alpha < 1.0:
            raise ValueError(
                "threshold merged_alpha: expected a level in (0, 1), received "
                f"{self.merged_alpha!r}"
            )

    def replace(self, **changes: float) -> Thresholds:
        """A copy with ``changes`` applied (unknown names raise ``TypeError``).

        Example:
            >>> Thresholds().replace(neural_nc1=0.05).neural_nc1
            0.05
        """
        unknown = sorted(set(changes) - set(self.names()))
        if unknown:
            raise TypeError(
                f"thresholds: unknown name(s) {unknown}; expected some of {list(self.names())}"
            )
        return replace(self, **changes)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every threshold's name, in declaration order.

        Example:
            >>> Thresholds.names()[:2]
            ('complete_spread_ratio', 'dimensional_rank_ratio')
        """
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_strings(cls, items: Iterable[str], base: Thresholds | None = None) -> Thresholds:
        """Parse CLI ``--threshold name=value`` items onto ``base`` (default: the defaults).

        Example:
            >>> Thresholds.from_strings(["neural_nc1=0.05", "merged_alpha=1e-3"]).merged_alpha
            0.001
        """
        if isinstance(items, str):
            items = [items]
        out: dict[str, float] = {}
        for item in items:
            name, sep, text = str(item).partition("=")
            name = name.strip().replace("-", "_")
            if not sep or not name:
                raise ValueError(
                    f"--threshold: expected name=value (e.g. neural_nc1=0.05), received {item!r}"
                )
            if name not in cls.names():
                raise ValueError(
                    f"--threshold: unknown name {name!r}; expected one of {', '.join(cls.names())}"
                )
            try:
                value = float(text)
            except ValueError:
                raise ValueError(
                    f"--threshold {name}: expected a number, received {text.strip()!r}"
                ) from None
            out[name] = value
        try:
            return (base or cls()).replace(**out)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"--threshold: {exc}") from None

    def to_dict(self) -> dict[str, float]:
        """``{name: value}`` in declaration order (the report's ``verdict.thresholds``).

        Example:
            >>> Thresholds().to_dict()["merged_alpha"]
            0.01
        """
        return asdict(self)


#: The default thresholds (immutable).
THRESHOLDS = Thresholds()


__all__ = ["THRESHOLDS", "Thresholds"]
