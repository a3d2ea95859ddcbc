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

import math

import torch

from collapsekit.functional.class_separation import (
    PairwiseSeparation,
    component_labels,
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
#: Most pairs screened (O(K^2 D) work in tiles): 20,000 classes; past it a seeded sample of
#: classes is screened and ``tests_not_run`` says so (200,000 classes: 2e10 pairs, hours).
MAX_SCREEN_PAIRS = 20_000 * 19_999 // 2


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
    means, sq_dev = stats.class_means(), stats.class_sq_deviation()
    screened, not_run = _screened(present, stats.counts[present])
    res = pairwise_separation_from_moments(
        means[screened],
        stats.counts[present][screened],
        sq_dev[screened],
        effective_dimension(stats.within_scatter()),
        alpha=ctx.thresholds.merged_alpha,
        tile_bytes=stats.tile_bytes,
    )
    ids = present[screened.to(present.device)].to(res.pairs.device)
    pairs = ids[res.pairs]  # (P, 2) class ids
    labels = component_labels(pairs, stats.num_classes)
    groups = connected_groups(pairs, stats.num_classes)
    # the pairs of each group, by T ascending, in tensor operations (2 million merged pairs
    # at 20,000 classes of 2 rows: Python lists of them took a minute)
    by_t = torch.argsort(res.statistic, stable=True)
    order = by_t[torch.argsort(labels[pairs[by_t, 0]], stable=True)]
    _, sizes = torch.unique_consecutive(labels[pairs[order, 0]], return_counts=True)
    findings = []
    for group, part in zip(groups, order.split(sizes.tolist()), strict=True):
        top = part[:MAX_PAIR_IDS]
        inside = list(
            zip(map(tuple, pairs[top].tolist()), res.statistic[top].tolist(), strict=True)
        )
        largest = float(res.statistic[part[-1]])
        findings.append(_finding(ctx, group, inside, int(part.numel()), largest, res))
    return RuleResult(fired=bool(findings), findings=tuple(findings), not_run=not_run)


def _screened(present: torch.Tensor, counts: torch.Tensor) -> tuple[torch.Tensor, tuple[str, ...]]:
    """Positions (in ``present``) of the classes screened: all of them while the pairs of the
    tested classes (two or more rows) stay within :data:`MAX_SCREEN_PAIRS`, else a seeded
    sample of the tested ones, with the note saying so."""
    tested = torch.nonzero(counts.cpu() >= 2).flatten()
    kt = int(tested.numel())
    if kt * (kt - 1) // 2 <= MAX_SCREEN_PAIRS:
        return torch.arange(int(present.numel())), ()
    keep = int((1 + math.isqrt(1 + 8 * MAX_SCREEN_PAIRS)) // 2)
    g = torch.Generator().manual_seed(0)
    chosen = tested[torch.randperm(kt, generator=g)[:keep].sort().values]
    note = (
        f"merged classes among all {kt} classes: their {kt * (kt - 1) // 2} pairs exceed "
        f"the budget of {MAX_SCREEN_PAIRS}; a seeded sample of {keep} classes was screened"
    )
    return chosen, (note,)


def _finding(
    ctx: VerdictContext,
    group: list[int],
    inside: list[tuple[tuple[int, int], float]],
    total: int,
    largest: float,
    res: PairwiseSeparation,
) -> Finding:
    """One group's finding: ``inside`` its smallest-T pairs (at most MAX_PAIR_IDS) of
    ``total``, ``largest`` the largest T among all of them."""
    names = ctx.names
    return Finding(
        MERGED,
        tuple(names[c] for c in group),
        {
            "statistic": "T = ||mu_c - mu_c'||^2 / (v_c/n_c + v_c'/n_c')",
            "rule": "merged if T < threshold = null_mean + z * null_spread",
            "pairs": [[names[a], names[b], t] for (a, b), t in inside[:MAX_LISTED_PAIRS]],
            "pairs_total": total,
            "pair_ids": [[a, b] for (a, b), _ in inside[:MAX_PAIR_IDS]],
            "largest_statistic": largest,
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


__all__ = [
    "MAX_LISTED_PAIRS",
    "MAX_PAIR_IDS",
    "MAX_SCREEN_PAIRS",
    "merged_classes",
    "spans_every_class",
]
