"""The plain verdict: healthy, or which kind of collapse, with the evidence and thresholds.

Every threshold is relative to what isotropic Gaussian data of the same N and D (and the same
class sizes, labels assigned at random) gives, so the same rule reads the same way for 14
slides in 1,536 dimensions and for 50,000 sentences in 384.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

HEALTHY = "healthy"
DIMENSIONAL = "dimensional collapse"
CLASS = "class collapse"
COMPLETE = "complete collapse"
NEURAL = "neural collapse"

#: Thresholds used by :func:`decide` (documented in the report and the README).
THRESHOLDS: dict[str, float] = {
    # complete collapse: directions barely vary compared with isotropic data
    "complete_spread_ratio": 0.1,  # std_of_l2_normalized / isotropic value below this
    # dimensional collapse: far fewer effective dimensions than isotropic data uses
    "dimensional_rank_ratio": 0.1,  # effective_rank / isotropic value below this
    # class collapse: a linear probe does barely better than the majority class ...
    "class_probe_margin": 0.1,  # accuracy <= chance + margin * (1 - chance)
    # ... or (no probe possible) silhouette no better than random labels
    "class_silhouette_margin": 0.02,  # silhouette <= random-label value + margin
    # neural collapse (terminal-phase geometry, Papyan et al. 2020)
    "neural_nc1": 0.1,  # nc1 below
    "neural_etf_error": 0.25,  # etf_error below
    "neural_equinorm": 0.2,  # equinorm below
    "neural_ncc_agreement": 0.99,  # ncc_agreement at least (when classifier weights given)
}


@dataclass
class Evidence:
    """One test behind the verdict."""

    metric: str
    value: float
    threshold: float
    rule: str
    fired: bool
    baseline: float | None = None
    indicates: str = ""  # the verdict this test supports when it fires


@dataclass
class Verdict:
    label: str
    summary: str
    evidence: list[Evidence] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=lambda: dict(THRESHOLDS))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline > 0 else float("inf")


def decide(metrics: dict[str, float], baseline: dict[str, float]) -> Verdict:
    """Classify the embedding geometry from ``metrics`` and the isotropic ``baseline``.

    Order of the tests: complete collapse (nothing varies), class collapse (classes not
    separable), neural collapse (classes collapsed onto a simplex ETF: the *expected* end of
    supervised training, low-dimensional by design, so it is tested before dimensional
    collapse), dimensional collapse, otherwise healthy.
    """
    t = THRESHOLDS
    ev: list[Evidence] = []

    spread = metrics.get("std_of_l2_normalized")
    spread_base = baseline.get("std_of_l2_normalized", 0.0)
    complete = False
    if spread is not None:
        ratio = _ratio(spread, spread_base)
        complete = ratio < t["complete_spread_ratio"]
        ev.append(
            Evidence(
                "std_of_l2_normalized / isotropic",
                ratio,
                t["complete_spread_ratio"],
                "complete collapse if below",
                complete,
                spread_base,
                COMPLETE,
            )
        )

    class_fired = False
    if "linear_probe_accuracy" in metrics and "chance_accuracy" in metrics:
        chance = metrics["chance_accuracy"]
        limit = chance + t["class_probe_margin"] * (1.0 - chance)
        class_fired = metrics["linear_probe_accuracy"] <= limit
        ev.append(
            Evidence(
                "linear_probe_accuracy",
                metrics["linear_probe_accuracy"],
                limit,
                "class collapse if at or below chance + margin",
                class_fired,
                chance,
                CLASS,
            )
        )
    elif "silhouette" in metrics:
        base = baseline.get("silhouette", 0.0)
        limit = base + t["class_silhouette_margin"]
        class_fired = metrics["silhouette"] <= limit
        ev.append(
            Evidence(
                "silhouette",
                metrics["silhouette"],
                limit,
                "class collapse if at or below the random-label value + margin",
                class_fired,
                base,
                CLASS,
            )
        )

    neural = False
    if "nc1" in metrics:
        checks = [
            ("nc1", metrics["nc1"], t["neural_nc1"], metrics["nc1"] < t["neural_nc1"]),
            (
                "etf_error",
                metrics["etf_error"],
                t["neural_etf_error"],
                metrics["etf_error"] < t["neural_etf_error"],
            ),
            (
                "equinorm",
                metrics["equinorm"],
                t["neural_equinorm"],
                metrics["equinorm"] < t["neural_equinorm"],
            ),
        ]
        if "ncc_agreement" in metrics:
            agree = metrics["ncc_agreement"]
            checks.append(
                (
                    "ncc_agreement",
                    agree,
                    t["neural_ncc_agreement"],
                    agree >= t["neural_ncc_agreement"],
                )
            )
        neural = all(c[3] for c in checks)
        for name, value, limit, ok in checks:
            ev.append(
                Evidence(
                    name,
                    value,
                    limit,
                    "neural collapse needs every one of these"
                    + (" (at least)" if name == "ncc_agreement" else " (below)"),
                    ok,
                    baseline.get(name),
                    NEURAL,
                )
            )

    rank = metrics.get("effective_rank")
    rank_base = baseline.get("effective_rank", 0.0)
    dimensional = False
    if rank is not None:
        ratio = _ratio(rank, rank_base)
        dimensional = ratio < t["dimensional_rank_ratio"]
        ev.append(
            Evidence(
                "effective_rank / isotropic",
                ratio,
                t["dimensional_rank_ratio"],
                "dimensional collapse if below",
                dimensional,
                rank_base,
                DIMENSIONAL,
            )
        )

    if complete:
        label = COMPLETE
        summary = (
            "Every embedding points (almost) the same way: the spread of the normalised "
            "embeddings is under a tenth of what isotropic data gives. The representation "
            "carries no usable information."
        )
    elif class_fired:
        label = CLASS
        summary = (
            "The classes are not separable in this embedding space: a linear read-out (or the "
            "silhouette) does no better than chance. Class information has collapsed."
        )
    elif neural:
        label = NEURAL
        summary = (
            "Terminal-phase geometry (Papyan et al. 2020): rows sit tightly on their class means "
            "(NC1) and the means form a near simplex equiangular tight frame (NC2), the most "
            "separated arrangement possible. At the end of supervised training this is expected; "
            "for a frozen encoder it means these classes are trivially separable. Any low rank "
            "that comes with it (down to K-1 dimensions) belongs to this geometry; it is not "
            "dimensional collapse."
        )
    elif dimensional:
        label = DIMENSIONAL
        summary = (
            "The embeddings use only a few directions: the effective rank is under a tenth of "
            "what isotropic data of the same size gives (dimensional collapse)."
        )
    else:
        label = HEALTHY
        summary = "No collapse detected: spread, rank and class separation are within range."
    return Verdict(label=label, summary=summary, evidence=ev)
