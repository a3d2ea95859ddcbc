"""The plain verdict: healthy, or which kind of collapse, with findings, evidence and thresholds.

Every rule reads a metric against its value on the null model of
:mod:`collapsekit.inference.null_model` (isotropic Gaussian rows of the same N and D, the same class
sizes, labels assigned at random), so the same rule reads the same way for 14 slides in 1,536
dimensions and for 50,000 sentences in 384. Every metric a rule reads is invariant to the scale,
the rotation and (except the uncentred spread) the offset of the embeddings.

Labels, first match wins (one module each under :mod:`collapsekit.verdict.rules`):

1. ``complete collapse``: ``std_of_l2_normalized`` below ``complete_spread_ratio`` x its null.
2. ``class collapse``: the linear probe's accuracy at most ``chance + class_probe_margin x
   (1 - chance)`` (chance = the null's majority fraction); without a probe, the silhouette at
   most its random-label null + ``class_silhouette_margin``; or every class in one merged group.
3. ``neural collapse``: at least ``neural_min_rows_per_class`` rows in every class and NC1, NC2
   (ETF error and equinorm) and, with classifier weights, NC4 reached: each at least
   ``neural_z`` null sds beyond its simulated random-label null and past its absolute limit
   (``neural_nc1``, ``neural_etf_error``, ``neural_equinorm``, ``neural_ncc_agreement``). Every
   property's status is in ``verdict.neural_collapse``; a partial state is named in the summary.
4. ``dimensional collapse``: unless the class geometry explains the low rank (NC1 reached), the
   dead directions beyond the null's at least ``dimensional_dead_fraction`` of min(N-1, D), or
   the effective rank below ``dimensional_rank_ratio`` x its null.
5. ``partial class collapse``: a ``merged classes`` finding exists (and none of the above).
6. ``healthy``.

Findings (listed whatever the label): ``merged classes`` (screen, then a pairwise probe),
``collapsed class``, ``minority collapse``, ``partial dimensional collapse``; see
:mod:`collapsekit.verdict.rules`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from collapsekit.verdict.context import Rule, RuleResult, VerdictContext
from collapsekit.verdict.findings import Finding, format_names
from collapsekit.verdict.labels import CLASS, MERGED, MINORITY, NEURAL, PARTIAL
from collapsekit.verdict.rules import FINDING_RULES, LABEL_RULES, REPORT_ORDER
from collapsekit.verdict.rules.nc_properties import REACHED, nc_properties, status_sentence
from collapsekit.verdict.rules.prerequisites import class_prerequisites
from collapsekit.verdict.thresholds import THRESHOLDS, Thresholds
from collapsekit.verdict.verdict import Verdict

if TYPE_CHECKING:
    from collapsekit.stats.class_stats import ClassStats


# size: 0.2.0's public signature plus rows and shape, all but three keyword-only
def decide(
    metrics: Mapping[str, float],
    baseline: Mapping[str, float],
    thresholds: Thresholds | None = None,
    *,
    stats: ClassStats | None = None,
    class_names: Sequence[str] | None = None,
    per_class_rank: Mapping[str, float] | None = None,
    weights: Any = None,
    class_counts: Sequence[int] | torch.Tensor | None = None,
    labels: bool | None = None,
    rows: tuple[torch.Tensor, torch.Tensor] | None = None,
    shape: tuple[int, int] | None = None,
) -> Verdict:
    """Classify the embedding geometry (label order in the module docstring).

    Args:
        metrics: the flat metrics of the report.
        baseline: the null of :func:`collapsekit.inference.null_model.isotropic_null` (same N, D,
            class sizes).
        thresholds: a :class:`Thresholds` (default: the defaults).
        stats: the :class:`~collapsekit.ClassStats` over all rows (dense class ids); enables the
            ``merged classes`` and the spread part of ``collapsed class``.
        class_names: name of each dense class id (default ``"0"``, ``"1"``, ...).
        per_class_rank: ``{name: effective rank}`` (rank part of ``collapsed class``).
        weights: classifier rows aligned to the dense ids (``minority collapse``).
        class_counts: rows per dense id when ``stats`` is not given.
        labels: whether labels were given (default: inferred from ``stats``/``metrics``).
        rows: ``(x, y)``, sampled rows and their dense class ids: the merged-classes screen's
            candidates are confirmed by a pairwise probe on them (without: the screen alone).
        shape: ``(N, D)`` of the data (the dead-directions criterion of dimensional collapse;
            default: from ``stats``, ``class_counts`` or ``rows``).

    Example:
        >>> v = decide({"std_of_l2_normalized": 0.001, "effective_rank": 1.0},
        ...            {"std_of_l2_normalized": 0.2, "effective_rank": 30.0})
        >>> v.label, v.tests_not_run[0]
        ('complete collapse', 'class separation (no labels)')
    """
    t = thresholds if thresholds is not None else THRESHOLDS
    if not isinstance(t, Thresholds):
        raise TypeError(f"thresholds: expected a Thresholds, received {type(t).__name__}")
    counts = _class_counts(stats, class_counts)
    ctx = VerdictContext(
        metrics=metrics,
        baseline=baseline,
        thresholds=t,
        has_labels=_has_labels(labels, counts, metrics),
        counts=counts,
        names=_class_names(class_names, counts),
        stats=stats,
        per_class_rank=per_class_rank,
        weights=weights,
        rows=rows,
        shape=shape,
    )
    results: dict[Rule, RuleResult] = {rule: rule(ctx) for rule in FINDING_RULES}
    ctx = ctx.with_findings(tuple(f for r in results.values() for f in r.findings))
    results.update({rule: rule(ctx) for _, rule in LABEL_RULES})
    results[class_prerequisites] = class_prerequisites(ctx)
    label, winner = next((lab, results[rule]) for lab, rule in LABEL_RULES if results[rule].fired)
    not_run = [x for rule in REPORT_ORDER for x in results[rule].not_run]
    props = nc_properties(ctx)
    return Verdict(
        label=label,
        summary=winner.summary + _nc_note(label, props) + _notes(label, ctx.findings, not_run),
        evidence=[e for rule in REPORT_ORDER for e in results[rule].evidence],
        thresholds=t.to_dict(),
        findings=list(ctx.findings),
        tests_not_run=not_run,
        neural_collapse=props,
    )


def _class_counts(
    stats: ClassStats | None, class_counts: Sequence[int] | torch.Tensor | None
) -> torch.Tensor | None:
    """Rows per dense class id (int64, CPU): from ``stats``, else ``class_counts``."""
    if stats is not None:
        return stats.counts.detach().to("cpu", torch.int64)
    if class_counts is not None:
        return torch.as_tensor(class_counts).detach().to("cpu", torch.int64).flatten()
    return None


def _has_labels(
    labels: bool | None, counts: torch.Tensor | None, metrics: Mapping[str, float]
) -> bool:
    """``labels`` when given, else whether class counts or a label-dependent metric exist."""
    if labels is not None:
        return bool(labels)
    return counts is not None or any(
        key in metrics for key in ("nc1", "linear_probe_accuracy", "silhouette", "chance_accuracy")
    )


def _class_names(class_names: Sequence[str] | None, counts: torch.Tensor | None) -> tuple[str, ...]:
    """One name per dense class id (default ``"0"``, ``"1"``, ...); none without counts."""
    if counts is None:
        return ()
    if class_names is None:
        return tuple(str(i) for i in range(counts.numel()))
    names = tuple(str(c) for c in class_names)
    if len(names) != counts.numel():
        raise ValueError(
            f"class_names: expected one name per class id ({counts.numel()}), received {len(names)}"
        )
    return names


def _nc_note(label: str, props: dict[str, dict[str, Any]]) -> str:
    """A partial neural-collapse state, when some property is reached but not the label (the
    label's own summary lists the properties)."""
    if label == NEURAL or not any(v["status"] == REACHED for v in props.values()):
        return ""
    return " Neural collapse, partial: " + status_sentence(props)


def _notes(label: str, findings: Sequence[Finding], not_run: Sequence[str]) -> str:
    """The summary's tail: the findings the label does not already state, and the tests not run
    (minority collapse's reasons are left to the findings list)."""
    out = ""
    others = [f for f in findings if f.kind != MERGED or label not in (PARTIAL, CLASS)]
    if others:
        out += (
            " Findings: "
            + "; ".join(f"{f.kind} ({format_names(f.classes, 6)})" for f in others)
            + "."
        )
    stated = [x for x in not_run if not x.startswith(MINORITY)]
    if stated:
        out += " Not tested: " + "; ".join(stated) + "."
    return out


__all__ = ["decide"]
