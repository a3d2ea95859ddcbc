"""Spectrum metrics: effective rank and its score, RankMe, alpha-ReQ (docs/metrics.md).

All four read one pair of spectra, computed once per context: the singular values of the
column-centred rows and of the raw rows, from the streamed D x D moments, or from the rows'
N x N Gram when fewer rows than dimensions are all held in the sample.
"""

from __future__ import annotations

import contextlib

import torch

from collapsekit._threads import map_independent
from collapsekit.functional.alpha_req import alpha_req_from_eigenvalues
from collapsekit.functional.effective_rank import entropy_rank, score_from_singular_values
from collapsekit.functional.rankme import rankme_from_singular_values
from collapsekit.functional.resampled import effective_rank_influence, effective_rank_linearised
from collapsekit.functional.spectrum import singular_values, singular_values_from_covariance
from collapsekit.metrics.context import MetricContext
from collapsekit.metrics.spec import Measured, MetricSpec, Panel, Resamples


def _padded(s: torch.Tensor, d: int) -> torch.Tensor:
    """Singular values padded with zeros to D (the length the D x D moments give)."""
    return torch.cat([s, s.new_zeros(max(0, d - s.numel()))])


def spectra(ctx: MetricContext) -> tuple[torch.Tensor, torch.Tensor, str]:
    """``(centred, raw, provenance)`` singular values of the N rows, each of length D. The raw
    (uncentred) spectrum is only computed when RankMe is asked for (else it is empty)."""
    return ctx.cached("spectra", lambda: _spectra(ctx))


def _spectra(ctx: MetricContext) -> tuple[torch.Tensor, torch.Tensor, str]:
    cs, n, d = ctx.class_stats, ctx.n, ctx.d
    sample = ctx.sample
    if sample is not None and sample.holds_all and n < d:
        # fewer rows than dimensions, every row held: the N x N Gram of the rows gives the
        # same spectra far more cheaply than the D x D moments (14 slides x 1,536 dims)
        rows = sample.x.to(cs.device)
        parts = map_independent(
            lambda center: _padded(singular_values(rows, center=center), d),
            [True, False] if ctx.wants("rankme") else [True],
            cs.device,
        )
        return parts[0], parts[-1] if len(parts) > 1 else parts[0][:0], ctx.sampled
    covs = [cs.total_cov()]
    if ctx.wants("rankme"):
        counts = cs.counts[cs.present_classes()].double()
        mu = cs.class_means()
        covs.append((cs.within_scatter() + (mu * counts[:, None]).T @ mu) / n)
    # the two spectra are independent factorisations: side by side, one thread each
    parts = map_independent(lambda cov: singular_values_from_covariance(cov, n), covs, cs.device)
    s, s_raw = parts[0], parts[-1] if len(parts) > 1 else parts[0][:0]
    # N rows span at most N - 1 centred (N uncentred) dimensions: the eigenvalues past that
    # rank are the moments' round-off, not spectrum
    s[max(n - 1, 0) :] = 0.0
    s_raw[n:] = 0.0
    return s, s_raw, ctx.one_pass


def _effective_rank(ctx: MetricContext) -> Measured:
    s, _, prov = spectra(ctx)
    return Measured(entropy_rank(s), prov)


def _effective_rank_score(ctx: MetricContext) -> Measured:
    s, _, prov = spectra(ctx)
    return Measured(score_from_singular_values(s, ctx.n, ctx.d), prov)


def _rankme(ctx: MetricContext) -> Measured:
    # RankMe over the min(N, D) singular values of the rows (as functional.rankme)
    _, s_raw, prov = spectra(ctx)
    return Measured(rankme_from_singular_values(s_raw[: min(ctx.n, ctx.d)]), prov)


def _alpha_req(ctx: MetricContext) -> Measured | None:
    s, _, prov = spectra(ctx)
    with contextlib.suppress(ValueError):  # fewer than two eigenvalues in the fit range
        return Measured(alpha_req_from_eigenvalues(s.square(), ctx.options.alpha_fit_range), prov)
    ctx.notes.append(
        f"alpha_req left out: fewer than two non-zero eigenvalues in the fit range "
        f"{ctx.options.alpha_fit_range}"
    )
    return None


def _effective_rank_rows(r: Resamples) -> torch.Tensor:
    # to first order in the multiplicities: one eigendecomposition for every resample (the
    # exact per-resample spectra, centred_spectrum_resampled, cost one each)
    infl = r.cached("effective_rank_influence", lambda: effective_rank_influence(r.x), True)
    return effective_rank_linearised(r.x, r.weights, infl)


_DIMENSIONS = Panel("Effective dimensions", "dimensions")

#: where this module's metrics stand in the registry (and in reports)
POSITION = 10

SPECS = (
    MetricSpec(
        key="effective_rank",
        compute=_effective_rank,
        needs=frozenset(),
        exactness="one pass",
        bad="low",
        doc="effective_rank",
        summary="exp of the entropy of the centred singular values (Roy & Vetterli 2007)",
        null=True,
        bootstrap=_effective_rank_rows,
        in_summary=True,
        compare=True,
        monitor=True,
        profile=True,
        panel=_DIMENSIONS,
    ),
    MetricSpec(
        key="effective_rank_score",
        compute=_effective_rank_score,
        needs=frozenset(),
        exactness="one pass",
        bad="high",
        doc="effective_rank_score",
        summary="1 - effective_rank / min(N - 1, D); 1 = collapsed",
        null=True,
        compare=True,
    ),
    MetricSpec(
        key="rankme",
        compute=_rankme,
        needs=frozenset(),
        exactness="one pass",
        bad="low",
        doc="rankme",
        summary="RankMe: effective rank of the uncentred rows (Garrido et al. 2023)",
        in_summary=True,
        compare=True,
        monitor=True,
        panel=_DIMENSIONS,
    ),
    MetricSpec(
        key="alpha_req",
        compute=_alpha_req,
        needs=frozenset(),
        exactness="one pass",
        bad="high",
        doc="alpha_req",
        summary="power-law decay of the eigenvalues (Agrawal et al. 2022)",
        compare=True,
        monitor=True,
        panel=Panel("Eigenvalue decay (alpha-ReQ)", "alpha"),
        options=("alpha_fit_range",),
    ),
)
