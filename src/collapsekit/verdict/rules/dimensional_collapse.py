"""Label ``dimensional collapse`` and finding ``partial dimensional collapse``: the embeddings use
fewer directions than they could.

Two spectrum criteria, each against isotropic Gaussian rows of the same N and D (the
Marchenko-Pastur spectrum):

* dead directions (Jing et al. 2022): ``dead_directions``, the directions whose singular value
  is below 1% of the largest, minus the null's count (about 0), as a fraction ``f`` of the
  ``min(N-1, D)`` directions N rows can span;
* the effective rank (Roy & Vetterli 2007) against its null.

Label ``dimensional collapse`` when ``f >= dimensional_dead_fraction`` or
``effective_rank / null < dimensional_rank_ratio``; otherwise the finding ``partial dimensional
collapse`` (it says how many directions are dead) when ``f >= partial_dead_fraction`` and at
least ``partial_dead_min`` directions are dead beyond the null's.

Class geometry first: low rank that the classes explain is not dimensional collapse. With
labels, and either NC1 small (below ``neural_nc1`` and ``neural_z`` null sds below its null,
whatever the class sizes) or at least ``dimensional_class_share`` of the variance in the span of
the K class means (balanced or not), the spectrum's top is the class means' and the
within-class directions fall below 1% of it by construction; provided at least (K-1)/2
directions live, neither the label nor the finding fires, and the evidence says why. Not run when
the spectrum metrics are missing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from collapsekit.stats.class_stats import ClassStats
from collapsekit.verdict.context import RuleResult, VerdictContext
from collapsekit.verdict.evidence import Evidence
from collapsekit.verdict.findings import Finding
from collapsekit.verdict.labels import DIMENSIONAL, PARTIAL_DIMENSIONAL
from collapsekit.verdict.rules._common import ratio
from collapsekit.verdict.rules.nc_properties import nc1_check


@dataclass(frozen=True)
class _Assessment:
    rank_ratio: float | None
    dead: int | None
    null_dead: float
    span: int
    explained: str

    @property
    def excess(self) -> float:
        return 0.0 if self.dead is None else max(0.0, self.dead - self.null_dead)

    @property
    def fraction(self) -> float:
        return self.excess / self.span if self.span > 0 else 0.0


def _assess(ctx: VerdictContext) -> _Assessment | None:
    m, base = ctx.metrics, ctx.baseline
    rank = m.get("effective_rank")
    dead = m.get("dead_directions")
    have_rank = rank is not None and math.isfinite(rank)
    have_dead = dead is not None and math.isfinite(dead)
    if not (have_rank or have_dead):
        return None
    n, d = _shape(ctx)
    span = max(0, min(n - 1, d)) if n and d else 0
    live = span - int(dead) if have_dead and span > 0 else None  # type: ignore[arg-type]
    return _Assessment(
        ratio(rank, base.get("effective_rank", 0.0)) if have_rank else None,  # type: ignore[arg-type]
        int(dead) if have_dead else None,  # type: ignore[arg-type]
        float(base.get("dead_directions", 0.0)),
        span,
        _class_geometry(ctx, live),
    )


def _shape(ctx: VerdictContext) -> tuple[int, int]:
    """``(N, D)``: the context's shape, else from the class statistics, the counts or the rows
    (0 where unknown)."""
    if ctx.shape is not None:
        return int(ctx.shape[0]), int(ctx.shape[1])
    n = int(ctx.counts.sum()) if ctx.counts is not None else 0
    d = 0
    if ctx.stats is not None:
        d = int(ctx.stats.class_means().shape[1])
        n = n or int(ctx.stats.counts.sum())
    elif ctx.rows is not None:
        n, d = n or int(ctx.rows[0].shape[0]), int(ctx.rows[0].shape[1])
    return n, d


def _class_geometry(ctx: VerdictContext, live: int | None) -> str:
    """Why the class structure explains a low rank ("" when it does not): NC1 reached, or
    ``dimensional_class_share`` of the variance in the span of the class means with room
    outside it (K-1 < min(N-1, D)); either way with ``live`` directions (when known) at least
    half of K-1 (K class means squeezed into fewer directions are not explained by their
    geometry)."""
    k = ctx.k_present
    if not ctx.classes_testable or (k is not None and live is not None and live < (k - 1) / 2):
        return ""
    if "nc1" in ctx.metrics:
        c = nc1_check(ctx)
        if c["reached"]:
            return (
                f"low rank explained by the class geometry: NC1 {c['value']:.3g} (limit "
                f"{c['limit']:g}, z {c['z']:.3g}), the rows sit on their class means"
            )
    share = class_span_share(ctx.stats) if ctx.stats is not None else None
    if share is not None and share >= ctx.thresholds.dimensional_class_share:
        return (
            f"low rank explained by the class geometry: {share:.1%} of the variance lies in "
            f"the span of the {k or ''} class means (threshold "
            f"{ctx.thresholds.dimensional_class_share:g})"
        )
    return ""


def class_span_share(stats: ClassStats) -> float | None:
    """The share of the total variance in the span of the centred class means,
    ``tr(Q^T Sigma_T Q) / tr(Sigma_T)``; ``None`` when the means span every direction (no room
    outside) or the variance is 0.

    Example:
        >>> import torch
        >>> from collapsekit.stats.class_stats import ClassStats
        >>> x = torch.zeros(4, 3, dtype=torch.float64)
        >>> x[:, 0] = torch.tensor([-1.0, -1.0, 1.0, 1.0])
        >>> x[:, 1] = torch.tensor([0.1, -0.1, 0.1, -0.1])
        >>> cs = ClassStats(2, 3)
        >>> cs.update(x, torch.tensor([0, 0, 1, 1]))
        >>> round(class_span_share(cs), 4)
        0.9901
    """
    means = stats.class_means()
    counts = stats.counts[stats.present_classes()].double()
    centred = means - (counts[:, None] * means).sum(0) / counts.sum()
    total = stats.total_cov()
    tr = float(total.diagonal().sum())
    if centred.shape[0] - 1 >= centred.shape[1] or not tr > 0:
        return None
    _, sv, vh = torch.linalg.svd(centred, full_matrices=False)
    if not sv.numel() or not float(sv[0]) > 0:
        return None
    q = vh[sv > sv[0] * 1e-10].T
    return float((q * (total @ q)).sum()) / tr


def _severe(a: _Assessment, ctx: VerdictContext) -> bool:
    t = ctx.thresholds
    by_rank = a.rank_ratio is not None and a.rank_ratio < t.dimensional_rank_ratio
    by_dead = a.dead is not None and a.span > 0 and a.fraction >= t.dimensional_dead_fraction
    return not a.explained and (by_rank or by_dead)


def dimensional_collapse(ctx: VerdictContext) -> RuleResult:
    """Fires when the dead directions or the effective rank say the collapse is severe and the
    class geometry does not explain it.

    Example:
        >>> r = dimensional_collapse(VerdictContext({"effective_rank": 2.0},
        ...                                         {"effective_rank": 40.0}))
        >>> r.fired, r.evidence[0].value
        (True, 0.05)
    """
    a = _assess(ctx)
    if a is None:
        return RuleResult()
    t = ctx.thresholds
    fired = _severe(a, ctx)
    note = f"; not collapse: {a.explained}" if a.explained else ""
    evidence = []
    if a.rank_ratio is not None:
        evidence.append(
            Evidence(
                "effective_rank / null", a.rank_ratio, t.dimensional_rank_ratio,
                "dimensional collapse if below" + note,
                a.rank_ratio < t.dimensional_rank_ratio and not a.explained,
                ctx.baseline.get("effective_rank", 0.0), DIMENSIONAL,
            )
        )  # fmt: skip
    if a.dead is not None and a.span > 0:
        evidence.append(
            Evidence(
                "dead_directions beyond the null / min(N-1, D)", a.fraction,
                t.dimensional_dead_fraction,
                f"dimensional collapse if at least ({a.dead} of {a.span} directions below 1% "
                f"of the top singular value; null {a.null_dead:.3g})" + note,
                a.fraction >= t.dimensional_dead_fraction and not a.explained,
                a.null_dead / a.span, DIMENSIONAL,
            )
        )  # fmt: skip
    return RuleResult(
        fired=fired, summary=_summary(a, ctx) if fired else "", evidence=tuple(evidence)
    )


def _summary(a: _Assessment, ctx: VerdictContext) -> str:
    rank, base = ctx.metrics.get("effective_rank", math.nan), ctx.baseline.get("effective_rank")
    dead = (
        f"{a.dead} of {a.span} directions carry a singular value below 1% of the largest "
        f"(isotropic: {a.null_dead:.3g}); "
        if a.dead is not None and a.span > 0
        else ""
    )
    return (
        f"The embeddings use only a few directions (dimensional collapse): {dead}the effective "
        f"rank is {rank:.3g} against an isotropic {base if base is not None else math.nan:.3g}."
    )


def partial_dimensional_collapse(ctx: VerdictContext) -> RuleResult:
    """The ``partial dimensional collapse`` finding: some directions dead beyond the null's,
    short of the label's threshold, and not explained by the class geometry.

    Example:
        >>> ctx = VerdictContext({"dead_directions": 10.0}, {"dead_directions": 0.0},
        ...                      shape=(1000, 64))
        >>> [f.evidence["dead_directions"] for f in partial_dimensional_collapse(ctx).findings]
        [10]
    """
    a = _assess(ctx)
    t = ctx.thresholds
    if a is None or a.dead is None or a.span == 0 or a.explained or _severe(a, ctx):
        return RuleResult()
    if not (a.fraction >= t.partial_dead_fraction and a.excess >= t.partial_dead_min):
        return RuleResult()
    evidence = {
        "reason": (
            f"{a.dead} of {a.span} directions carry a singular value below 1% of the largest "
            f"(isotropic null {a.null_dead:.3g}): {a.fraction:.0%} beyond the null (partial "
            f"from {t.partial_dead_fraction:g}, dimensional collapse from "
            f"{t.dimensional_dead_fraction:g})"
        ),
        "dead_directions": a.dead,
        "dead_directions_null": a.null_dead,
        "directions": a.span,
        "dead_fraction": a.fraction,
        "threshold": t.partial_dead_fraction,
        "severe_threshold": t.dimensional_dead_fraction,
    }
    return RuleResult(fired=True, findings=(Finding(PARTIAL_DIMENSIONAL, (), evidence),))


__all__ = ["dimensional_collapse", "partial_dimensional_collapse"]
