"""Finding ``merged classes``: groups of classes whose means differ no more than random halves of
one class would, and that a linear probe cannot tell apart either.

Screen, per pair of classes (see :mod:`collapsekit.functional.class_separation`), exact over
every row from the streamed moments:
``T = ||mu_c - mu_c'||^2 / (v_c/n_c + v_c'/n_c')``, 1 on average under the random-label null with
sd ``sqrt(2 / d_eff)``. A pair is a candidate when ``T < 1 + z sqrt(2 / d_eff)``, ``z`` the
Bonferroni quantile at ``merged_alpha`` over the pairs; when the probe below confirms the
candidates, the screen is widened to ``1 + merged_screen_widen x z sqrt(2 / d_eff)`` (the null
spread from ``d_eff`` assumes Gaussian rows and runs narrow on real embeddings, so a tight
screen misses true merges; the probe keeps the separable pairs out). A pair in the widened band
only is merged when its probe ran on at least :data:`PROBE_MIN_ROWS_PER_CLASS` rows per class
(with fewer the probe has no power, and the plain threshold decides).

Confirmation, per candidate (when the row sample is available): ``T`` weighs the mean shift
against the *total* within-class variance, so two classes that differ along one low-variance
direction pass the screen at small n. A cross-validated ridge probe on the two classes' sampled
rows, standardised per feature, sees direction; its permutation null is exact
(:func:`~collapsekit.functional.pair_probe.pair_probe_test`). A candidate the probe separates at
level ``merged_alpha / candidates`` (Bonferroni over the candidates) is *not* merged; the others
are, and are joined into connected groups, one finding per group. The evidence carries both
numbers (``T`` and the probe's accuracy and p-value). Needs labels, two or more classes and the
class statistics; without rows the screen alone decides (stated in the finding).

Reference: Bai & Saranadasa 1996; Chen & Qin 2010 (two-sample tests in high dimension); Ojala &
Garriga 2010 (permutation tests of classifier accuracy).
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
from collapsekit.functional.pair_probe import PairProbe, pair_probe_test
from collapsekit.verdict.context import RuleResult, VerdictContext
from collapsekit.verdict.evidence import Evidence
from collapsekit.verdict.findings import Finding
from collapsekit.verdict.labels import MERGED, PARTIAL

#: Most merged pairs kept in a finding's evidence (names) and for the heatmap (ids).
MAX_LISTED_PAIRS = 50
MAX_PAIR_IDS = 5000
#: Most pairs screened (O(K^2 D) work in tiles): 20,000 classes; past it a seeded sample of
#: classes is screened and ``tests_not_run`` says so (200,000 classes: 2e10 pairs, hours).
MAX_SCREEN_PAIRS = 20_000 * 19_999 // 2
#: Most candidate pairs the probe confirms (those with the largest T; the rest stay merged).
MAX_CONFIRMED_PAIRS = 32
#: Rows per class, and label permutations, of each confirming probe (cost bound).
PROBE_ROWS_PER_CLASS = 100
PROBE_PERMUTATIONS = 199
#: A pair in the widened band of the screen is merged only when the probe saw at least this
#: many rows per class (fewer leave it no power to separate anything).
PROBE_MIN_ROWS_PER_CLASS = 10
#: Most separated pairs listed in the evidence.
MAX_SEPARATED_LISTED = 5

_Pair = tuple[int, int]


def merged_classes(ctx: VerdictContext) -> RuleResult:
    """One ``merged classes`` finding per connected group of merged pairs (screen, then probe
    confirmation; module docstring). Fires when there is one.

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
        widen=ctx.thresholds.merged_screen_widen if ctx.rows is not None else 1.0,
    )
    ids = present[screened.to(present.device)].to(res.pairs.device)
    pairs, stat = ids[res.pairs], res.statistic  # (P, 2) class ids, their T
    # the candidates the probe looks at: the largest T first (a few dozen at most)
    top = torch.argsort(stat, descending=True, stable=True)[:MAX_CONFIRMED_PAIRS]
    candidates = {
        (int(a), int(b)): float(t)
        for (a, b), t in zip(pairs[top].tolist(), stat[top].tolist(), strict=True)
    }
    probes = confirm_pairs(ctx, candidates)
    level = ctx.thresholds.merged_alpha / max(len(probes), 1)
    separated = sorted(p for p, r in probes.items() if r.tail() < level)
    # the widened band (T past the plain threshold) needs a probe that had rows to look with
    keep = stat < 1.0 + res.z * res.spread
    for i, p in zip(top.tolist(), candidates, strict=True):
        if p in probes:
            r = probes[p]
            keep[i] = r.tail() >= level and (
                bool(keep[i]) or r.rows >= 2 * PROBE_MIN_ROWS_PER_CLASS
            )
    findings = _group_findings(ctx, pairs[keep], stat[keep], stats.num_classes, res, probes, level)
    evidence = _separated_evidence(ctx, candidates, probes, separated, level)
    return RuleResult(
        fired=bool(findings), findings=tuple(findings), evidence=evidence, not_run=not_run
    )


# size: the merged pairs and everything their findings quote
def _group_findings(
    ctx: VerdictContext,
    pairs: torch.Tensor,
    stat: torch.Tensor,
    num_classes: int,
    res: PairwiseSeparation,
    probes: dict[_Pair, PairProbe],
    level: float,
) -> list[Finding]:
    """One finding per connected group of merged ``pairs``, its pairs by T ascending, in tensor
    operations (2 million merged pairs at 20,000 classes of 2 rows: Python lists of them took a
    minute)."""
    labels = component_labels(pairs, num_classes)
    groups = connected_groups(pairs, num_classes)
    by_t = torch.argsort(stat, stable=True)
    order = by_t[torch.argsort(labels[pairs[by_t, 0]], stable=True)]
    _, sizes = torch.unique_consecutive(labels[pairs[order, 0]], return_counts=True)
    findings = []
    for group, part in zip(groups, order.split(sizes.tolist()), strict=True):
        head = part[:MAX_PAIR_IDS]
        inside = [
            ((int(a), int(b)), float(t))
            for (a, b), t in zip(pairs[head].tolist(), stat[head].tolist(), strict=True)
        ]
        total, largest = int(part.numel()), float(stat[part[-1]])
        findings.append(_finding(ctx, group, inside, (total, largest), res, probes, level))
    return findings


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


def confirm_pairs(ctx: VerdictContext, screened: dict[_Pair, float]) -> dict[_Pair, PairProbe]:
    """The probe of each candidate pair (at most :data:`MAX_CONFIRMED_PAIRS`, largest ``T``
    first) whose classes both have two or more sampled rows; empty without rows.

    Example:
        >>> confirm_pairs(VerdictContext({}, {}), {(0, 1): 0.9})
        {}
    """
    if ctx.rows is None or not screened:
        return {}
    x, y = ctx.rows
    y = y.to(x.device)
    out: dict[_Pair, PairProbe] = {}
    order = sorted(screened, key=lambda p: -screened[p])[:MAX_CONFIRMED_PAIRS]
    for seed, (a, b) in enumerate(order):
        sel = (y == a) | (y == b)
        ys = y[sel]
        if int((ys == a).sum()) < 2 or int((ys == b).sum()) < 2:
            continue
        out[(a, b)] = pair_probe_test(
            x[sel],
            ys,
            permutations=PROBE_PERMUTATIONS,
            max_rows_per_class=PROBE_ROWS_PER_CLASS,
            seed=seed,
        )
    return out


# size: the group, its pairs and the screen's and the probes' numbers it quotes
def _finding(
    ctx: VerdictContext,
    group: list[int],
    inside: list[tuple[_Pair, float]],
    total_largest: tuple[int, float],
    res: PairwiseSeparation,
    probes: dict[_Pair, PairProbe],
    level: float,
) -> Finding:
    """One group's finding: ``inside`` its smallest-T pairs (at most MAX_PAIR_IDS) of
    ``total``, ``largest`` the largest T among all of them."""
    names = ctx.names
    total, largest = total_largest
    checked = [(p, t, probes[p]) for p, t in inside if p in probes]
    return Finding(
        MERGED,
        tuple(names[c] for c in group),
        {
            "statistic": "T = ||mu_c - mu_c'||^2 / (v_c/n_c + v_c'/n_c')",
            "rule": (
                "merged if T < threshold = null_mean + z * null_spread and the pairwise probe "
                "does not separate the pair (p >= level)"
            ),
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
            "confirmation": (
                "cross-validated ridge probe, permutation null"
                if ctx.rows is not None
                else "none (no row sample): the screen alone"
            ),
            "probe_pairs": [
                [names[a], names[b], t, r.accuracy, r.tail()]
                for (a, b), t, r in checked[:MAX_LISTED_PAIRS]
            ],
            "probe_accuracy": max((r.accuracy for *_, r in checked), default=None),
            "probe_null_accuracy": max((r.null_mean for *_, r in checked), default=None),
            "probe_level": level if checked else None,
        },
    )


def _separated_evidence(
    ctx: VerdictContext,
    screened: dict[_Pair, float],
    probes: dict[_Pair, PairProbe],
    separated: list[_Pair],
    level: float,
) -> tuple[Evidence, ...]:
    """One evidence row per candidate pair the probe separated (at most
    :data:`MAX_SEPARATED_LISTED`): its probe accuracy against the permutation null."""
    out = []
    for a, b in separated[:MAX_SEPARATED_LISTED]:
        r = probes[(a, b)]
        out.append(
            Evidence(
                f"pair_probe_accuracy {ctx.names[a]} vs {ctx.names[b]}",
                r.accuracy,
                r.null_mean,
                (
                    f"screen T {screened[(a, b)]:.3g} below its threshold, but the probe "
                    f"separates them (p {r.tail():.2g} < {level:.2g}): not merged"
                ),
                False,
                r.null_mean,
                PARTIAL,
            )
        )
    return tuple(out)


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
    "MAX_CONFIRMED_PAIRS",
    "MAX_LISTED_PAIRS",
    "MAX_PAIR_IDS",
    "MAX_SCREEN_PAIRS",
    "confirm_pairs",
    "merged_classes",
    "spans_every_class",
]
