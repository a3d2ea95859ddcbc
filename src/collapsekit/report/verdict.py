"""The plain verdict: healthy, or which kind of collapse, with findings, evidence and thresholds.

Every rule reads a metric against its value on the null model of
:mod:`collapsekit.inference.null_model` (isotropic Gaussian rows of the same N and D, the same class
sizes, labels assigned at random), so the same rule reads the same way for 14 slides in 1,536
dimensions and for 50,000 sentences in 384. Every metric a rule reads is invariant to the scale,
the rotation and (except the uncentred spread) the offset of the embeddings.

Labels, first match wins:

1. ``complete collapse``: ``std_of_l2_normalized`` below ``complete_spread_ratio`` x its null.
2. ``class collapse``: the linear probe's accuracy at most ``chance + class_probe_margin x
   (1 - chance)`` (chance = the null's majority fraction); without a probe, the silhouette at
   most its random-label null + ``class_silhouette_margin``; or every class in one merged group.
3. ``neural collapse``: at least ``neural_min_rows_per_class`` rows in every class, and NC1 below
   ``neural_nc1`` *and* below ``neural_nc1_null_ratio`` x its null, the ETF error below
   ``neural_etf_error`` *and* below ``neural_etf_null_ratio`` x its null, equinorm below
   ``neural_equinorm`` and (with classifier weights) NCC agreement at least
   ``neural_ncc_agreement``.
4. ``dimensional collapse``: the effective rank below ``dimensional_rank_ratio`` x its null.
5. ``partial class collapse``: a ``merged classes`` finding exists (and none of the above).
6. ``healthy``.

Findings (listed whatever the label): ``merged classes``, ``collapsed class``,
``minority collapse``; see :func:`decide`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

import torch

from collapsekit.functional.class_separation import (
    connected_groups,
    effective_dimension,
    pairwise_separation_from_moments,
)
from collapsekit.inference.null_model import per_class_rank_null

if TYPE_CHECKING:
    from collapsekit.stats.class_stats import ClassStats

HEALTHY = "healthy"
COMPLETE = "complete collapse"
DIMENSIONAL = "dimensional collapse"
CLASS = "class collapse"
PARTIAL = "partial class collapse"
NEURAL = "neural collapse"
LABELS = (HEALTHY, COMPLETE, DIMENSIONAL, CLASS, PARTIAL, NEURAL)

MERGED = "merged classes"
COLLAPSED_CLASS = "collapsed class"
MINORITY = "minority collapse"
FINDING_KINDS = (MERGED, COLLAPSED_CLASS, MINORITY)

#: Most merged pairs kept in a finding's evidence (names) and for the heatmap (ids).
MAX_LISTED_PAIRS = 50
MAX_PAIR_IDS = 5000


@dataclass(frozen=True)
class Thresholds:
    """Every threshold of :func:`decide` (immutable; derive variants with :meth:`replace`).

    Ratios are relative to the null model's value of the same metric; margins are added to it.
    """

    #: complete collapse: std_of_l2_normalized / null below this
    complete_spread_ratio: float = 0.1
    #: dimensional collapse: effective_rank / null below this
    dimensional_rank_ratio: float = 0.1
    #: class collapse: probe accuracy <= chance + margin * (1 - chance)
    class_probe_margin: float = 0.1
    #: class collapse (no probe): silhouette <= random-label null + margin
    class_silhouette_margin: float = 0.02
    #: neural collapse: nc1 below this (absolute, Papyan et al. 2020) ...
    neural_nc1: float = 0.1
    #: ... and below this times the random-label null's nc1
    neural_nc1_null_ratio: float = 0.1
    #: neural collapse: etf_error below this (absolute) ...
    neural_etf_error: float = 0.25
    #: ... and below this times the null's etf_error (random means are near an ETF in high D)
    neural_etf_null_ratio: float = 0.6
    #: neural collapse: equinorm below this
    neural_equinorm: float = 0.2
    #: neural collapse (with classifier weights): ncc_agreement at least this
    neural_ncc_agreement: float = 0.99
    #: neural collapse needs at least this many rows in every class
    neural_min_rows_per_class: float = 2
    #: merged classes: family-wise level of the pairwise test (Bonferroni over pairs)
    merged_alpha: float = 0.01
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
        return asdict(self)


#: The default thresholds (immutable).
THRESHOLDS = Thresholds()


@dataclass
class Evidence:
    """One test behind the verdict: ``value`` against ``threshold``; ``baseline`` is the null."""

    metric: str
    value: float
    threshold: float
    rule: str
    fired: bool
    baseline: float | None = None
    indicates: str = ""  # the verdict this test supports when it fires


@dataclass
class Verdict:
    """Label, summary, evidence of the global rules, per-class findings, tests not run."""

    label: str
    summary: str
    evidence: list[Evidence] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=THRESHOLDS.to_dict)
    findings: list[dict[str, Any]] = field(default_factory=list)
    tests_not_run: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        """Inverse of :meth:`to_dict` (JSON reports)."""
        return cls(
            label=data["label"],
            summary=data["summary"],
            evidence=[Evidence(**e) for e in data.get("evidence", [])],
            thresholds=dict(data.get("thresholds", {})),
            findings=[dict(f) for f in data.get("findings", [])],
            tests_not_run=list(data.get("tests_not_run", [])),
        )

    def findings_lines(self) -> list[str]:
        """One line per finding (class names, statistic, threshold and null) plus the tests not
        run, for the terminal."""
        lines = [_finding_line(f) for f in self.findings]
        lines += [f"not tested: {t}" for t in self.tests_not_run]
        return lines


def _names(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def _finding_line(f: Mapping[str, Any]) -> str:
    e = f.get("evidence", {})
    classes = list(f.get("classes", []))
    if f["kind"] == MERGED:
        return (
            f"merged classes: {_names(classes)} -- largest T {e['largest_statistic']:.3g} < "
            f"threshold {e['threshold']:.3g} (null mean {e['null_mean']:.3g}, null sd "
            f"{e['null_spread']:.3g})"
        )
    if f["kind"] == COLLAPSED_CLASS:
        return f"collapsed class: {_names(classes)} -- {e['reason']}"
    if f["kind"] == MINORITY:
        return (
            f"minority collapse: {_names(classes)} -- minority classifier rows' mean cosine "
            f"{e['minority_mean_cos']:.3g} (majority {e['majority_mean_cos']:.3g}, ETF "
            f"{e['etf_cos']:.3g}, random rows {e['null_cos']:.3g})"
        )
    return f"{f['kind']}: {_names(classes)}"


def merged_pairs(verdict: Verdict) -> list[tuple[int, int]]:
    """Dense class-id pairs ``(i, j)`` of every merged-classes finding (to mark the centroid
    heatmap), at most ``MAX_PAIR_IDS`` of them.

    Example:
        >>> merged_pairs(Verdict("healthy", ""))
        []
    """
    out: list[tuple[int, int]] = []
    for f in verdict.findings:
        if f.get("kind") == MERGED:
            out += [(int(a), int(b)) for a, b in f["evidence"].get("pair_ids", [])]
    return out


def _ratio(value: float, baseline: float) -> float:
    if baseline > 0:
        return value / baseline
    return 0.0 if value <= 0 else math.inf


def _robust_log_z(values: torch.Tensor) -> torch.Tensor:
    """(log v - median log v) / (1.4826 MAD); -inf/inf where MAD is 0 and v differs."""
    logs = values.clamp_min(1e-300).log()
    med = logs.median()
    mad = (logs - med).abs().median() * 1.4826
    dev = logs - med
    if float(mad) > 0:
        return dev / mad
    return torch.where(dev == 0, torch.zeros_like(dev), dev.sign() * math.inf)


# --------------------------------------------------------------------------- findings
def merged_class_findings(
    stats: ClassStats,
    names: Sequence[str],
    thresholds: Thresholds,
) -> tuple[list[dict[str, Any]], bool]:
    """``merged classes`` findings from the streamed moments (glue around
    :func:`~collapsekit.functional.class_separation.pairwise_separation_from_moments`).

    Returns the findings and whether one group spans every tested class.
    """
    present = stats.present_classes()
    counts = stats.counts[present]
    within = stats.within_scatter()
    d_eff = effective_dimension(within)
    res = pairwise_separation_from_moments(
        stats.class_means(),
        counts,
        stats.class_sq_deviation(),
        d_eff,
        alpha=thresholds.merged_alpha,
        tile_bytes=stats.tile_bytes,
    )
    ids = present.tolist()
    tested = int((counts >= 2).sum())
    pairs = [(ids[int(a)], ids[int(b)]) for a, b in res.pairs.tolist()]
    stat = res.statistic.tolist()
    groups = connected_groups(pairs, stats.num_classes)
    findings = []
    for group in groups:
        members = set(group)
        inside = [(p, t) for p, t in zip(pairs, stat, strict=True) if p[0] in members]
        inside.sort(key=lambda pt: pt[1])
        findings.append(
            {
                "kind": MERGED,
                "classes": [names[c] for c in group],
                "evidence": {
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
                    "alpha": thresholds.merged_alpha,
                    "effective_dim": res.effective_dim,
                    "pairs_tested": res.num_pairs,
                },
            }
        )
    spans_all = tested >= 2 and any(len(g) >= tested for g in groups)
    return findings, spans_all


def collapsed_class_findings(
    counts: torch.Tensor,
    names: Sequence[str],
    thresholds: Thresholds,
    baseline: Mapping[str, float],
    variances: torch.Tensor | None = None,
    per_class_rank: Mapping[str, float] | None = None,
) -> list[dict[str, Any]]:
    """``collapsed class`` findings: a class far below the others (robust z on the log scale,
    median/MAD) in spread (unbiased variance) or in effective rank relative to its isotropic
    null, and (rank rule) below ``collapsed_class_null_ratio`` x that null (MONAI's
    "asymmetric collapse"). Needs three or more classes with at least 2 rows."""
    t = thresholds
    out: dict[int, dict[str, Any]] = {}
    ok = torch.nonzero(counts >= 2).flatten()
    if variances is not None and ok.numel() >= 3:
        v = variances[ok].double()
        n = counts[ok].double()
        v = v * n / (n - 1.0)
        med = v.median()
        if float(med) > 0:
            ratio = v / med
            z = _robust_log_z(v)
            low = (ratio < t.collapsed_class_spread_ratio) & (z < -t.collapsed_class_mad_z)
            for i in torch.nonzero(low).flatten().tolist():
                c = int(ok[i])
                out[c] = {
                    "reason": (
                        f"variance {float(ratio[i]):.3g} x the median class's (threshold "
                        f"{t.collapsed_class_spread_ratio:g}, null 1); robust z "
                        f"{float(z[i]):.3g} (threshold -{t.collapsed_class_mad_z:g})"
                    ),
                    "variance_ratio": float(ratio[i]),
                    "variance_ratio_threshold": t.collapsed_class_spread_ratio,
                    "variance_ratio_null": baseline.get("class_variance_ratio", 1.0),
                    "spread_z": float(z[i]),
                }
    if per_class_rank:
        rows = []
        for c in ok.tolist():
            r = per_class_rank.get(names[c])
            null = per_class_rank_null(baseline, int(counts[c]))
            if r is not None and math.isfinite(r) and null > 0:
                rows.append((c, float(r), null))
        if len(rows) >= 3:
            q = torch.tensor([r / null for _, r, null in rows], dtype=torch.float64)
            med = q.median()
            if float(med) > 0:
                rel = q / med
                z = _robust_log_z(q)
                for i, (c, r, null) in enumerate(rows):
                    fired = (
                        float(rel[i]) < t.collapsed_class_rank_ratio
                        and float(z[i]) < -t.collapsed_class_mad_z
                        and r < t.collapsed_class_null_ratio * null
                    )
                    if fired:
                        entry = out.setdefault(c, {"reason": ""})
                        text = (
                            f"effective rank {r:.3g} (isotropic null {null:.3g}, threshold "
                            f"{t.collapsed_class_null_ratio:g} x null); relative to the median "
                            f"class {float(rel[i]):.3g} (threshold "
                            f"{t.collapsed_class_rank_ratio:g}); robust z {float(z[i]):.3g}"
                        )
                        entry["reason"] = "; ".join(x for x in (entry["reason"], text) if x)
                        entry.update(
                            {
                                "effective_rank": r,
                                "effective_rank_null": null,
                                "rank_ratio_to_median": float(rel[i]),
                                "rank_z": float(z[i]),
                            }
                        )
    return [
        {"kind": COLLAPSED_CLASS, "classes": [names[c]], "evidence": ev}
        for c, ev in sorted(out.items())
    ]


def minority_collapse_findings(
    weights: Any,
    counts: torch.Tensor,
    names: Sequence[str],
    thresholds: Thresholds,
) -> tuple[list[dict[str, Any]], str | None]:
    """``minority collapse`` (Fang et al. 2021, "Exploring deep neural networks via layer-peeled
    model: minority collapse in imbalanced training", PNAS): with class-size imbalance
    ``max n / min n >= minority_imbalance``, the classes below the geometric mid-size are the
    minority; it fires when the mean pairwise cosine of their classifier rows is at least
    ``minority_cos`` and ``minority_cos_margin`` above both the majority rows' mean cosine and
    the simplex-ETF value ``-1/(K-1)`` (random rows: 0).

    Returns the findings and, when the test cannot run, the reason.
    """
    t = thresholds
    w = torch.as_tensor(weights).detach().to("cpu", torch.float64)
    k = counts.numel()
    if w.ndim != 2 or w.shape[0] != k:
        raise ValueError(
            f"weights: expected one classifier row per class ({k} x D), received shape "
            f"{tuple(w.shape)}"
        )
    present = torch.nonzero(counts > 0).flatten()
    n = counts[present].double()
    if present.numel() < 3:
        return [], "minority collapse (needs 3 or more classes)"
    imbalance = float(n.max() / n.min())
    if imbalance < t.minority_imbalance:
        return [], (
            f"minority collapse (classes balanced: largest/smallest {imbalance:.3g} < "
            f"{t.minority_imbalance:g})"
        )
    cut = math.sqrt(float(n.max() * n.min()))
    minority = present[n < cut]
    majority = present[n >= cut]
    if minority.numel() < 2:
        return [], "minority collapse (fewer than 2 minority classes)"
    norms = torch.linalg.vector_norm(w, dim=1, keepdim=True)
    u = w / torch.where(norms > 0, norms, torch.ones_like(norms))

    def mean_cos(ids: torch.Tensor) -> float:
        if ids.numel() < 2:
            return math.nan
        c = u[ids] @ u[ids].T
        m = ids.numel()
        return float((c.sum() - c.diagonal().sum()) / (m * (m - 1)))

    kp = int(present.numel())
    etf = -1.0 / (kp - 1)
    cos_min, cos_maj = mean_cos(minority), mean_cos(majority)
    reference = max(etf, cos_maj) if math.isfinite(cos_maj) else etf
    fired = cos_min >= t.minority_cos and cos_min - reference >= t.minority_cos_margin
    if not fired:
        return [], None
    return [
        {
            "kind": MINORITY,
            "classes": [names[c] for c in minority.tolist()],
            "evidence": {
                "minority_mean_cos": cos_min,
                "majority_mean_cos": cos_maj,
                "etf_cos": etf,
                "null_cos": 0.0,
                "threshold_cos": t.minority_cos,
                "threshold_margin": t.minority_cos_margin,
                "imbalance": imbalance,
                "imbalance_threshold": t.minority_imbalance,
                "minority_sizes": [int(x) for x in counts[minority].tolist()],
            },
        }
    ], None


# --------------------------------------------------------------------------- decide
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

    Example:
        >>> v = decide({"std_of_l2_normalized": 0.001, "effective_rank": 1.0},
        ...            {"std_of_l2_normalized": 0.2, "effective_rank": 30.0})
        >>> v.label, v.tests_not_run[0]
        ('complete collapse', 'class separation (no labels)')
    """
    t = thresholds if thresholds is not None else THRESHOLDS
    if not isinstance(t, Thresholds):
        raise TypeError(f"thresholds: expected a Thresholds, received {type(t).__name__}")
    ev: list[Evidence] = []
    not_run: list[str] = []
    findings: list[dict[str, Any]] = []

    counts: torch.Tensor | None = None
    if stats is not None:
        counts = stats.counts.detach().to("cpu", torch.int64)
    elif class_counts is not None:
        counts = torch.as_tensor(class_counts).detach().to("cpu", torch.int64).flatten()
    has_labels = labels
    if has_labels is None:
        has_labels = counts is not None or any(
            key in metrics
            for key in ("nc1", "linear_probe_accuracy", "silhouette", "chance_accuracy")
        )
    k_present = int((counts > 0).sum()) if counts is not None else None
    names: list[str] = []
    if counts is not None:
        names = (
            [str(c) for c in class_names]
            if class_names is not None
            else [str(i) for i in range(counts.numel())]
        )
        if len(names) != counts.numel():
            raise ValueError(
                f"class_names: expected one name per class id ({counts.numel()}), received "
                f"{len(names)}"
            )

    # 1. complete collapse
    spread = metrics.get("std_of_l2_normalized")
    spread_base = baseline.get("std_of_l2_normalized", 0.0)
    complete = False
    if spread is not None and math.isfinite(spread):
        ratio = _ratio(spread, spread_base)
        complete = ratio < t.complete_spread_ratio
        ev.append(
            Evidence(
                "std_of_l2_normalized / null",
                ratio,
                t.complete_spread_ratio,
                "complete collapse if below",
                complete,
                spread_base,
                COMPLETE,
            )
        )

    # 2. class collapse (global)
    class_fired = False
    class_rule = ""
    class_tested = False
    if not has_labels:
        not_run += [
            "class separation (no labels)",
            "neural collapse (no labels)",
            "merged classes (no labels)",
            "collapsed class (no labels)",
            "minority collapse (no labels)",
        ]
    elif k_present is not None and k_present < 2:
        not_run += [
            "class separation (a single class)",
            "neural collapse (a single class)",
            "merged classes (a single class)",
        ]
    else:
        chance = baseline.get("linear_probe_accuracy", metrics.get("chance_accuracy"))
        if "linear_probe_accuracy" in metrics and chance is not None:
            acc = metrics["linear_probe_accuracy"]
            limit = chance + t.class_probe_margin * (1.0 - chance)
            class_fired = acc <= limit
            class_tested = True
            class_rule = (
                f"the linear probe's accuracy {acc:.3g} is at most chance ({chance:.3g}) plus "
                f"{t.class_probe_margin:g} of the gap to 1 (limit {limit:.3g})"
            )
            ev.append(
                Evidence(
                    "linear_probe_accuracy",
                    acc,
                    limit,
                    f"class collapse if at or below chance + {t.class_probe_margin:g} x "
                    "(1 - chance)",
                    class_fired,
                    chance,
                    CLASS,
                )
            )
        elif "silhouette" in metrics and "silhouette" in baseline:
            base = baseline["silhouette"]
            limit = base + t.class_silhouette_margin
            class_fired = metrics["silhouette"] <= limit
            class_tested = True
            class_rule = (
                f"the silhouette {metrics['silhouette']:.3g} is at most its random-label value "
                f"({base:.3g}) plus {t.class_silhouette_margin:g} (limit {limit:.3g})"
            )
            ev.append(
                Evidence(
                    "silhouette",
                    metrics["silhouette"],
                    limit,
                    f"class collapse if at or below the random-label value + "
                    f"{t.class_silhouette_margin:g}",
                    class_fired,
                    base,
                    CLASS,
                )
            )
        else:
            not_run.append(
                "class separation (no linear probe or silhouette: too few rows per class)"
            )

    # findings (need labels and class statistics)
    spans_all = False
    if has_labels and counts is not None and k_present is not None and k_present >= 2:
        if stats is not None:
            merged, spans_all = merged_class_findings(stats, names, t)
            findings += merged
        else:
            not_run.append("merged classes (no class statistics)")
        variances = None
        if stats is not None:
            variances = torch.zeros(counts.numel(), dtype=torch.float64)
            variances[stats.present_classes().cpu()] = stats.class_variances().cpu()
        if int((counts >= 2).sum()) >= 3 and (variances is not None or per_class_rank):
            findings += collapsed_class_findings(
                counts, names, t, baseline, variances, per_class_rank
            )
        else:
            not_run.append(
                "collapsed class (needs 3 or more classes with 2 or more rows and per-class "
                "statistics)"
            )
        w_rows = None if weights is None else int(torch.as_tensor(weights).shape[0])
        if weights is not None and w_rows != counts.numel():
            not_run.append(
                f"minority collapse (classifier weights have {w_rows} rows for "
                f"{counts.numel()} class ids; pass rows aligned to the class ids)"
            )
        elif weights is not None:
            found, reason = minority_collapse_findings(weights, counts, names, t)
            findings += found
            if reason:
                not_run.append(reason)
        else:
            not_run.append("minority collapse (no classifier weights)")
    if spans_all and not class_fired:
        group = next(f for f in findings if f["kind"] == MERGED)
        class_fired = True
        class_rule = (
            "every class falls in one merged group: no pair of classes differs more than random "
            "halves of one class would (every linking T below "
            f"{group['evidence']['threshold']:.3g})"
        )
    if spans_all:
        ev.append(
            Evidence(
                "merged group covers every class",
                1.0,
                1.0,
                "class collapse if every class is in one merged group",
                True,
                None,
                CLASS,
            )
        )

    # 3. neural collapse
    neural = False
    if has_labels and "nc1" in metrics and (k_present is None or k_present >= 2):
        min_rows = int(counts[counts > 0].min()) if counts is not None else None
        if min_rows is not None and min_rows < t.neural_min_rows_per_class:
            not_run.append(
                f"neural collapse (a class has {min_rows} row(s); needs "
                f"{t.neural_min_rows_per_class:g})"
            )
        else:
            nc1_null = baseline.get("nc1", math.inf)
            etf_null = baseline.get("etf_error", math.inf)
            nc1_limit = min(t.neural_nc1, t.neural_nc1_null_ratio * nc1_null)
            etf_limit = min(t.neural_etf_error, t.neural_etf_null_ratio * etf_null)
            checks = [
                ("nc1", metrics["nc1"], nc1_limit, nc1_null, "below min(abs, ratio x null)"),
                ("etf_error", metrics["etf_error"], etf_limit, etf_null,
                 "below min(abs, ratio x null)"),
                ("equinorm", metrics["equinorm"], t.neural_equinorm, baseline.get("equinorm"),
                 "below"),
            ]  # fmt: skip
            oks = [math.isfinite(v) and v < limit for _, v, limit, _, _ in checks]
            if "ncc_agreement" in metrics:
                agree = metrics["ncc_agreement"]
                checks.append(("ncc_agreement", agree, t.neural_ncc_agreement, None, "at least"))
                oks.append(agree >= t.neural_ncc_agreement)
            neural = all(oks)
            for (name, value, limit, null, how), ok in zip(checks, oks, strict=True):
                ev.append(
                    Evidence(
                        name,
                        value,
                        limit,
                        f"neural collapse needs every one of these ({how})",
                        ok,
                        null,
                        NEURAL,
                    )
                )

    # 4. dimensional collapse
    rank = metrics.get("effective_rank")
    rank_base = baseline.get("effective_rank", 0.0)
    dimensional = False
    rank_ratio = math.nan
    if rank is not None and math.isfinite(rank):
        rank_ratio = _ratio(rank, rank_base)
        dimensional = rank_ratio < t.dimensional_rank_ratio
        ev.append(
            Evidence(
                "effective_rank / null",
                rank_ratio,
                t.dimensional_rank_ratio,
                "dimensional collapse if below",
                dimensional,
                rank_base,
                DIMENSIONAL,
            )
        )

    merged_groups = [f for f in findings if f["kind"] == MERGED]
    if complete:
        label = COMPLETE
        summary = (
            "Every embedding points (almost) the same way: the spread of the L2-normalised rows "
            f"is {_ratio(spread or 0.0, spread_base):.3g} x its isotropic value "
            f"({spread_base:.3g}), below the threshold {t.complete_spread_ratio:g} x. The "
            "representation carries no usable information."
        )
    elif class_fired:
        label = CLASS
        summary = f"The classes are not separable in this embedding space: {class_rule}."
    elif neural:
        label = NEURAL
        summary = (
            "Terminal-phase geometry (Papyan et al. 2020): rows sit tightly on their class means "
            f"(NC1 {metrics['nc1']:.3g}; random-label null {baseline.get('nc1', math.nan):.3g}) "
            "and the means form a near simplex equiangular tight frame (ETF error "
            f"{metrics['etf_error']:.3g}; null {baseline.get('etf_error', math.nan):.3g}). At "
            "the end of supervised training this is expected; for a frozen encoder it means "
            "these classes are trivially separable. Any low rank that comes with it (down to "
            "K-1 dimensions) belongs to this geometry; it is not dimensional collapse."
        )
    elif dimensional:
        label = DIMENSIONAL
        summary = (
            f"The embeddings use only a few directions: the effective rank {rank:.3g} is "
            f"{rank_ratio:.3g} x its isotropic value ({rank_base:.3g}), below the threshold "
            f"{t.dimensional_rank_ratio:g} x (dimensional collapse)."
        )
    elif merged_groups:
        label = PARTIAL
        groups = "; ".join(_names(f["classes"]) for f in merged_groups)
        summary = (
            f"Partial class collapse: {len(merged_groups)} group(s) of classes cannot be told "
            f"apart (their means differ no more than random halves of one class would): "
            f"{groups}. The other classes are separated."
        )
    else:
        label = HEALTHY
        ran = ["spread", "effective rank"]
        if class_tested:
            ran.append(
                "class separation (above chance + margin)"
                if "linear_probe_accuracy" in metrics
                else "class separation (silhouette above the random-label value + margin)"
            )
        summary = "No collapse detected: " + ", ".join(ran) + " within range."
    others = [f for f in findings if f["kind"] != MERGED or label not in (PARTIAL, CLASS)]
    if others:
        summary += (
            " Findings: "
            + "; ".join(f"{f['kind']} ({_names(f['classes'], 6)})" for f in others)
            + "."
        )
    stated = [x for x in not_run if not x.startswith(MINORITY)]
    if stated:
        summary += " Not tested: " + "; ".join(stated) + "."
    return Verdict(
        label=label,
        summary=summary,
        evidence=ev,
        thresholds=t.to_dict(),
        findings=findings,
        tests_not_run=not_run,
    )


__all__ = [
    "CLASS",
    "COLLAPSED_CLASS",
    "COMPLETE",
    "DIMENSIONAL",
    "FINDING_KINDS",
    "HEALTHY",
    "LABELS",
    "MERGED",
    "MINORITY",
    "NEURAL",
    "PARTIAL",
    "THRESHOLDS",
    "Evidence",
    "Thresholds",
    "Verdict",
    "decide",
    "merged_pairs",
]
