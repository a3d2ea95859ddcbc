"""Spectrum metrics: effective rank and its score, RankMe, alpha-ReQ (docs/metrics.md).

All four read one pair of spectra, computed once per context: the singular values of the
column-centred rows and of the raw rows, from the streamed D x D moments, or from the rows'
N x N Gram when fewer rows than dimensions are all held in the sample.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch

from collapsekit._threads import map_independent
from collapsekit._validation import check_features
from collapsekit.functional.alpha_req import alpha_req_from_eigenvalues
from collapsekit.functional.effective_rank import entropy_rank, score_from_singular_values
from collapsekit.functional.rankme import rankme_from_singular_values
from collapsekit.functional.resampled import effective_rank_influence, effective_rank_linearised
from collapsekit.functional.spectrum import (
    dead_directions,
    leading_basis,
    near_floor,
    resolution_floor,
    singular_values,
    singular_values_from_covariance,
)
from collapsekit.metrics.context import MetricContext
from collapsekit.metrics.spec import Measured, MetricSpec, Panel, Resamples
from collapsekit.stats.deflated_scatter import DeflatedScatter


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
        # same spectra far more cheaply than the D x D moments (14 slides x 1,536 dims); a
        # tail below its float64 floor is resolved from the same rows (deflate)
        rows = sample.x.to(cs.device)
        parts = map_independent(
            lambda center: _padded(singular_values(rows, center=center, deflate=True), d),
            [True, False] if ctx.wants("rankme") else [True],
            cs.device,
        )
        return parts[0], parts[-1] if len(parts) > 1 else parts[0][:0], ctx.sampled
    covs, parts = _moments(ctx)
    parts = [p.clone() for p in parts]
    prov = ctx.one_pass
    if near_floor(parts[0], min(n - 1, d), n, d):
        parts, prov = _deflated(ctx, covs, parts)
    s, s_raw = parts[0], parts[-1] if len(parts) > 1 else parts[0][:0]
    # N rows span at most N - 1 centred (N uncentred) dimensions: the eigenvalues past that
    # rank are the moments' round-off, not spectrum
    s[max(n - 1, 0) :] = 0.0
    s_raw[n:] = 0.0
    return s, s_raw, prov


Moments = tuple[list[tuple[torch.Tensor, torch.Tensor]], list[torch.Tensor]]


def _moments(ctx: MetricContext) -> Moments:
    """The moments' (1/N-normalised scatter, centre) pairs, centred and (for RankMe) raw, and
    their singular values; once per context."""
    return ctx.cached("moment spectra", lambda: _moment_spectra(ctx))


def _moment_spectra(ctx: MetricContext) -> Moments:
    cs, n = ctx.class_stats, ctx.n
    counts = cs.counts[cs.present_classes()].double()
    mu = cs.class_means()
    covs = [(cs.total_cov(), (counts[:, None] * mu).sum(0) / counts.sum())]
    if ctx.wants("rankme"):
        raw = (cs.within_scatter() + (mu * counts[:, None]).T @ mu) / n
        covs.append((raw, torch.zeros_like(covs[0][1])))
    # the two spectra are independent factorisations: side by side, one thread each
    parts = map_independent(lambda c: singular_values_from_covariance(c[0], n), covs, cs.device)
    return covs, parts


def deflation(ctx: MetricContext) -> DeflatedScatter | None:
    """A fresh :class:`~collapsekit.stats.deflated_scatter.DeflatedScatter` for a caller that
    runs its own second pass over the rows (``analyze_layers``), when the moments' centred
    spectrum comes near their float64 floor; else None. Give it back, fed with every row, as
    ``ctx.deflated``.

    Example:
        >>> import torch
        >>> from collapsekit.stats.class_stats import ClassStats
        >>> cs = ClassStats(1, 4)
        >>> cs.update(torch.randn(50, 4, generator=torch.Generator().manual_seed(0)),
        ...           torch.zeros(50, dtype=torch.long))
        >>> deflation(MetricContext.from_class_stats(cs)) is None
        True
    """
    covs, parts = _moments(ctx)
    if not near_floor(parts[0], min(ctx.n - 1, ctx.d), ctx.n, ctx.d):
        return None
    return DeflatedScatter(covs[0][1], leading_basis(covs[0][0], ctx.n))


def _deflated(
    ctx: MetricContext, covs: list[tuple[torch.Tensor, torch.Tensor]], parts: list[torch.Tensor]
) -> tuple[list[torch.Tensor], str]:
    """The spectra again from a pass over the rows split along the directions the moments
    resolve (:class:`~collapsekit.stats.deflated_scatter.DeflatedScatter`), when the centred
    spectrum comes near the moments' float64 floor; the uncentred one (RankMe) from the same
    sums. Without a pass over the rows the tail stays cut, and the provenance says so."""
    n, d = ctx.n, ctx.d
    if ctx.deflated is not None:  # the caller ran the pass
        return _from_pass(ctx.deflated, parts, n), f"{ctx.one_pass}; {_TAIL} a second pass"
    passes = _rows_again(ctx)
    if passes is None:
        ctx.cache["tail cut"] = True
        return parts, (
            f"{ctx.one_pass} down to {resolution_floor(n, d):.0e} of the largest eigenvalue; "
            "the tail below is cut (beyond the moments' float64 resolution; on low-rank "
            "float32 rows, their storage round-off: an error up to ~1e-3); a source read "
            "twice resolves it"
        )
    acc = DeflatedScatter(covs[0][1], leading_basis(covs[0][0], n))
    for x in passes():
        acc.update(x)
    how = "the rows held" if ctx.row_pass is None else "a second pass"
    return _from_pass(acc, parts, n), f"{ctx.one_pass}; {_TAIL} {how}"


_TAIL = "tail below the moments' float64 floor from"


def _from_pass(acc: DeflatedScatter, parts: list[torch.Tensor], n: int) -> list[torch.Tensor]:
    if acc.num_samples != n:
        raise ValueError(
            f"source: expected the second pass to give the same {n} rows, received "
            f"{acc.num_samples}; a source read twice must not change between passes"
        )
    out = [acc.singular_values()]
    if len(parts) > 1:  # the uncentred spectrum (RankMe) from the same sums: rows e_i + mu
        raw = acc.uncentred_singular_values()
        out.append(parts[1] if raw is None else raw)
    return out


def _rows_again(ctx: MetricContext) -> Callable[[], Iterator[torch.Tensor]] | None:
    """Every row again, as validated feature batches: the held sample when it holds every
    row, else the source's second pass, else None (a one-shot source)."""
    sample, dev = ctx.sample, ctx.device
    if sample is not None and sample.holds_all:
        held = sample.x
        return lambda: (held[lo : lo + 8192].to(dev) for lo in range(0, held.shape[0], 8192))
    row_pass = ctx.row_pass
    if row_pass is None:
        return None
    return lambda: (check_features(x, "features", ctx.d, dev) for x, _, _ in row_pass())


def _effective_rank(ctx: MetricContext) -> Measured:
    s, _, prov = spectra(ctx)
    return Measured(entropy_rank(s), prov)


def _effective_rank_score(ctx: MetricContext) -> Measured:
    s, _, prov = spectra(ctx)
    return Measured(score_from_singular_values(s, ctx.n, ctx.d), prov)


def _dead_directions(ctx: MetricContext) -> Measured:
    s, _, prov = spectra(ctx)
    return Measured(float(dead_directions(s, ctx.n, ctx.d)), prov)


def _rankme(ctx: MetricContext) -> Measured:
    # RankMe over the min(N, D) singular values of the rows (as functional.rankme)
    _, s_raw, prov = spectra(ctx)
    return Measured(rankme_from_singular_values(s_raw[: min(ctx.n, ctx.d)]), prov)


def _alpha_req(ctx: MetricContext) -> Measured | None:
    s, _, prov = spectra(ctx)
    last = min(ctx.options.alpha_fit_range[1], ctx.n - 1, ctx.d)
    if ctx.cache.get("tail cut") and int((s > 0).sum()) < last:
        # a fit over the resolved ranks only would be another number than the SVD's
        ctx.notes.append(
            "alpha_req left out: its fit range reaches into the spectrum's tail below the "
            "moments' float64 floor, which only a second pass over the rows resolves"
        )
        return None
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
        prepare=spectra,
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
        prepare=spectra,
        exactness="one pass",
        bad="high",
        doc="effective_rank_score",
        summary="1 - effective_rank / min(N - 1, D); 1 = collapsed",
        null=True,
        compare=True,
    ),
    MetricSpec(
        key="dead_directions",
        compute=_dead_directions,
        needs=frozenset(),
        exactness="one pass",
        bad="high",
        doc="dead_directions",
        summary="directions with a singular value below 1% of the largest (Jing et al. 2022)",
        null=True,
        compare=True,
        monitor=True,
    ),
    MetricSpec(
        key="rankme",
        compute=_rankme,
        needs=frozenset(),
        prepare=spectra,
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
        prepare=spectra,
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
