"""Neural-collapse metrics NC1, NC2, NC3, NC5 from the class moments (Papyan, Han & Donoho
2020 and successors; docs/metrics.md), plus the centroid similarity and chance accuracy.

The NC1/NC2/NC3/NC5 values share one computation (the between-class eigenpairs and one tiled
sweep over class pairs), done once per context; each spec reads its key from it.
"""

from __future__ import annotations

from typing import Any

import torch

from collapsekit._validation import check_features
from collapsekit.functional.centroid_similarity import (
    centroid_similarity_from_means as _from_means,
)
from collapsekit.functional.resampled import centroid_similarity_resampled, nc1_cdnv_resampled
from collapsekit.metrics.context import MetricContext
from collapsekit.metrics.spec import BootstrapFn, Measured, MetricSpec, Panel, Resamples


def nc_values(ctx: MetricContext) -> dict[str, float]:
    """The NC metrics of ``ClassStats.neural_collapse`` over every row, computed once."""
    return ctx.cached("neural_collapse", lambda: _nc_values(ctx))


def _nc_values(ctx: MetricContext) -> dict[str, float]:
    cs, dev = ctx.class_stats, ctx.device
    w_dense = None
    if ctx.classifier is not None:
        clf = ctx.classifier
        w_dense = torch.zeros(cs.num_classes, ctx.d, dtype=clf.weights.dtype, device=dev)
        w_dense[torch.tensor(ctx.ids, device=dev)] = clf.weights[clf.rows]
    ood_mean = None if ctx.ood is None else ctx.ood.double().mean(0)
    return cs.neural_collapse(weights=w_dense, ood_mean=ood_mean)


def ood_provenance(ctx: MetricContext) -> str:
    assert ctx.ood is not None
    return f"exact over all {ctx.n} rows and {ctx.ood.shape[0]} OoD rows"


def _reader(key: str) -> Any:
    def compute(ctx: MetricContext) -> Measured | None:
        values = nc_values(ctx)
        if key not in values:
            return None
        prov = ood_provenance(ctx) if key == "ood_orthogonality" else ctx.one_pass
        return Measured(values[key], prov)

    compute.__name__ = f"_{key}"
    return compute


def resampled_nc(r: Resamples) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """``(nc1, cdnv, class means)`` of every resample, computed once per batch of resamples."""
    if r.y is None or r.k < 2:
        return None
    y = r.y
    return r.cached("neural_collapse", lambda: nc1_cdnv_resampled(r.x, y, r.k, r.weights))


def _nc_rows(key: str) -> BootstrapFn:
    position = {"nc1": 0, "cdnv": 1}[key]

    def of_rows(r: Resamples) -> torch.Tensor:
        nc = resampled_nc(r)
        return r.undefined() if nc is None else nc[position]

    return of_rows


def _centroid_similarity(ctx: MetricContext) -> Measured:
    return Measured(_from_means(ctx.means), ctx.one_pass)


def _chance_accuracy(ctx: MetricContext) -> Measured:
    return Measured(float(ctx.counts.max()) / ctx.n, ctx.one_pass)


def _centroid_rows(r: Resamples) -> torch.Tensor:
    nc = resampled_nc(r)
    return r.undefined() if nc is None else centroid_similarity_resampled(nc[2])


def check_ood(ood_features: Any, d: int, device: torch.device) -> torch.Tensor:
    """The out-of-distribution rows, validated (``ood_features``: M x D, finite)."""
    return check_features(ood_features, "ood_features", d, device)


_CLASSES = frozenset({"classes"})


# size: MetricSpec factory: one keyword per spec field
def _nc(
    key: str,
    summary: str,
    bad: Any,
    *,
    needs: frozenset[str] = _CLASSES,
    null: bool = False,
    boot: bool = False,
    panel: Panel | None = None,
    in_summary: bool = False,
    compare: bool = False,
    profile: bool = False,
) -> MetricSpec:
    return MetricSpec(
        key=key,
        compute=_reader(key),
        needs=needs,
        exactness="one pass",
        bad=bad,
        doc=key,
        summary=summary,
        null=null,
        bootstrap=_nc_rows(key) if boot else None,
        panel=panel,
        monitor=True,
        in_summary=in_summary,
        compare=compare,
        profile=profile,
        section="neural collapse",
    )


#: where this module's metrics stand in the registry (and in reports)
POSITION = 30

SPECS = (
    _nc(
        "nc1",
        "NC1: Tr(Sigma_W Sigma_B^+)/K; 0 = every row on its class mean",
        "low",
        null=True,
        boot=True,
        in_summary=True,
        compare=True,
        profile=True,
        panel=Panel("Within-class variability (NC1)", "Tr(Σ_W Σ_B⁺) / K", None, ("neural_nc1",)),
    ),
    _nc(
        "nc1_quotient",
        "Tr(Sigma_W)/Tr(Sigma_B) (Tirer et al. 2023)",
        "low",
        null=True,
        profile=True,
        panel=Panel("Trace quotient (NC1)", "Tr(Σ_W) / Tr(Σ_B)"),
    ),
    _nc(
        "cdnv",
        "class-distance normalised variance (Galanti et al. 2021)",
        "low",
        null=True,
        boot=True,
        compare=True,
        profile=True,
        panel=Panel("Class-distance normalised variance (NC1)", "CDNV"),
    ),
    _nc(
        "equinorm",
        "NC2: std/mean of the centred class-mean norms",
        "low",
        null=True,
        panel=Panel("Equinorm (NC2)", "std / mean of centroid norms", None, ("neural_equinorm",)),
    ),
    _nc(
        "equiangularity",
        "NC2: std of the pairwise cosines of centred class means",
        "low",
        null=True,
        panel=Panel("Equiangularity (NC2)", "std of centroid cosines"),
    ),
    _nc(
        "max_angle",
        "NC2: mean |cos + 1/(K-1)| over class pairs",
        "low",
        null=True,
        panel=Panel("Max-angle (NC2)", "mean |cos + 1/(K-1)|"),
    ),
    _nc(
        "etf_error",
        "NC2: distance of the normalised class-mean Gram to the simplex ETF",
        "low",
        null=True,
        in_summary=True,
        compare=True,
        panel=Panel("Distance to simplex ETF (NC2)", "ETF error", None, ("neural_etf_error",)),
    ),
    _nc(
        "hyperspherical_log_mean",
        "GNC2: mean of -log distance of unit class means (Liu et al. 2023)",
        None,
    ),
    _nc(
        "hyperspherical_log_var",
        "GNC2: variance of -log distance of unit class means",
        None,
    ),
    _nc(
        "self_duality",
        "NC3: distance of normalised classifier rows to normalised centred class means",
        "low",
        needs=frozenset({"classes", "weights"}),
        panel=Panel("Self-duality (NC3)", "‖W/‖W‖ − M/‖M‖‖"),
    ),
    _nc(
        "ood_orthogonality",
        "NC5: mean |cos| of centred class means with the centred OoD mean",
        "low",
        needs=frozenset({"classes", "ood"}),
    ),
    MetricSpec(
        key="centroid_similarity",
        compute=_centroid_similarity,
        needs=_CLASSES,
        exactness="one pass",
        bad="high",
        doc="centroid_similarity",
        summary="mean pairwise cosine of the uncentred class means; 1 = identical centroids",
        null=True,
        bootstrap=_centroid_rows,
        compare=True,
    ),
    MetricSpec(
        key="chance_accuracy",
        compute=_chance_accuracy,
        needs=_CLASSES,
        exactness="one pass",
        bad=None,
        doc="chance_accuracy",
        summary="share of the largest class: the accuracy of always guessing it",
        null=True,
    ),
)
