"""Finding ``merged classes``: groups of classes whose means differ no more than random halves of
one class would.

Statistic, per pair of classes (see :mod:`collapsekit.functional.class_separation`):
``T = ||mu_c - mu_c'||^2 / (v_c/n_c + v_c'/n_c')``, 1 on average under the random-label null with
sd ``sqrt(2 / d_eff)``. A pair is merged when ``T < 1 + z sqrt(2 / d_eff)``, ``z`` the Bonferroni
quantile at ``merged_alpha`` over the pairs; merged pairs are joined into connected groups, one
finding per group. Needs labels, two or more classes and the class statistics.

Reference: Bai & Saranadasa 1996; Chen & Qin 2010 (two-sample tests in high dimension).
"""

from __future__ import annotations

from collapsekit.functional.class_separation import (
    PairwiseSeparation,
    connected_groups,
    effective_dimension,
    pairwise_separation_from_moments,
)
from collapsekit.verdict.context import RuleResult, VerdictContext
from collapsekit.verdict.findings import Finding
from collapsekit.verdict.labels import MERGED

#: Most merged pairs kept in a finding's evidence (names) and for the heatmap (ids).
MAX_LISTED_PAIRS = 50
MAX_PAIR_IDS = 5000


def merged_classes(ctx: VerdictContext) -> RuleResult:
    """One ``merged classes`` finding per connected group of merged pairs (glue around
    :func:`~collapsekit.functional.class_separation.pairwise_separation_from_moments` over the
    streamed moments). Fires when there is one.

    Example:
        >>> merged_classes(VerdictContext({}, {})).findings
        ()
    """
    if not (ctx.classes_testable and ctx.counts is not None):
        return RuleResult()
    stats = ctx.stats
    if stats is None:
        return RuleResult(not_run=("merged classes (no class statistics)",))
    present = stats.present_classes()
    res = pairwise_separation_from_moments(
        stats.class_means(),
        stats.counts[present],
        stats.class_sq_deviation(),
        effective_dimension(stats.within_scatter()),
        alpha=ctx.thresholds.merged_alpha,
        tile_bytes=stats.tile_bytes,
    )
    ids = present.tolist()
    pairs = [(ids[int(a)], ids[int(b)]) for a, b in res.pairs.tolist()]
    stat = res.statistic.tolist()
    findings = []
    for group in connected_groups(pairs, stats.num_classes):
        members = set(group)
        inside = [(p, t) for p, t in zip(pairs, stat, strict=True) if p[0] in members]
        inside.sort(key=lambda pt: pt[1])
        findings.append(_finding(ctx, group, inside, res))
    return RuleResult(fired=bool(findings), findings=tuple(findings))


def _finding(
    ctx: VerdictContext,
    group: list[int],
    inside: list[tuple[tuple[int, int], float]],
    res: PairwiseSeparation,
) -> Finding:
    names = ctx.names
    return Finding(
        MERGED,
        tuple(names[c] for c in group),
        {
            "statistic": "T = ||mu_c - mu_c'||^2 / (v_c/n_c + v_c'/n_c')",
            "rule": "merged if T < threshold = null_mean + z * null_spread",
            "pairs": [[names[a], names[b], t] for (a, b), t in inside[:MAX_LISTED_PAIRS]],
            "pairs_total": len(inside),
            "pair_ids": [[a, b] for (a, b), _ in inside[:MAX_PAIR_IDS]],
            "largest_statistic": max(t for _, t in inside),
            "threshold": res.threshold,
            "null_mean": res.null_mean,
            "null_spread": res.spread,
            "z": res.z,
            "alpha": ctx.thresholds.merged_alpha,
            "effective_dim": res.effective_dim,
            "pairs_tested": res.num_pairs,
        },
    )


def spans_every_class(ctx: VerdictContext) -> bool:
    """Whether one merged group holds every tested class (two or more classes with at least two
    rows): the classes as a whole cannot be told apart.

    Example:
        >>> import torch
        >>> ctx = VerdictContext({}, {}, counts=torch.tensor([5, 5]),
        ...                      findings=(Finding(MERGED, ("a", "b")),))
        >>> spans_every_class(ctx)
        True
    """
    if ctx.counts is None:
        return False
    tested = int((ctx.counts >= 2).sum())
    return tested >= 2 and any(len(f.classes) >= tested for f in ctx.merged)


__all__ = ["MAX_LISTED_PAIRS", "MAX_PAIR_IDS", "merged_classes", "spans_every_class"]
