"""Metrics of B bootstrap resamples at once, from the original rows and each resample's
multiplicities (how many times it drew each row).

A resample with replacement is a multiset of the N rows: row i drawn ``w_bi`` times. Every
sum over the resample's rows is a weighted sum over the original rows, so class sums, scatters
and Gram entries of all B resamples are products of the B x N multiplicity matrix with
per-row terms computed once, instead of B copies of the rows recomputed from scratch. Each
function here gives, to rounding, the value the metric's own kernel gives on the resample's
rows ``x[idx]`` (tests/functional/test_resampled.py holds them to that).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from collapsekit._threads import factorization_threads, map_independent
from collapsekit.functional._common import l2_normalize, power_of_two_scale
from collapsekit.functional.centroid_similarity import centroid_similarity_from_means
from collapsekit.functional.silhouette import cosine_silhouette_rows

#: rounding floors of a class mean, as in functional/neural_collapse.py
_SPREAD_EPS = 4.0 * float(torch.finfo(torch.float32).eps)
_OFFSET_EPS = 64.0 * float(torch.finfo(torch.float64).eps)
_EPS = float(torch.finfo(torch.float64).eps)


def multiplicities(indices: torch.Tensor, n: int) -> torch.Tensor:
    """B x N float64 counts of each row in each resample, from B x N' drawn row indices.

    Example:
        >>> multiplicities(torch.tensor([[0, 0, 2], [1, 2, 2]]), 3)
        tensor([[2., 0., 1.],
                [0., 1., 2.]], dtype=torch.float64)
    """
    b = indices.shape[0]
    out = torch.zeros(b, n, dtype=torch.float64, device=indices.device)
    return out.scatter_add_(1, indices, torch.ones_like(indices, dtype=torch.float64))


def resampled_class_sums(
    rows: torch.Tensor, labels: torch.Tensor, k: int, weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(counts B x K, sums B x K x D)``: each resample's rows and row sums per class.

    ``labels`` are compact (0..K-1); cost O(B N D), one product per class.

    Example:
        >>> x = torch.tensor([[1.0], [2.0], [5.0]], dtype=torch.float64)
        >>> w = torch.tensor([[2.0, 0.0, 1.0]], dtype=torch.float64)
        >>> c, s = resampled_class_sums(x, torch.tensor([0, 0, 1]), 2, w)
        >>> c.tolist(), s.flatten().tolist()
        ([[2.0, 1.0]], [2.0, 5.0])
    """
    b, d = weights.shape[0], rows.shape[1]
    counts = torch.zeros(b, k, dtype=torch.float64, device=rows.device)
    sums = torch.zeros(b, k, d, dtype=torch.float64, device=rows.device)
    for c in range(k):
        idx = torch.nonzero(labels == c).flatten()
        wc = weights[:, idx]
        counts[:, c] = wc.sum(1)
        sums[:, c] = wc @ rows[idx]
    return counts, sums


def std_of_l2_normalized_resampled(units: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """:func:`~collapsekit.functional.std_of_l2_normalized.std_of_l2_normalized` of each
    resample (ddof 1), from the unit rows: per-dimension weighted sums around the first row.

    Example:
        >>> u = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
        >>> w = torch.tensor([[1.0, 1.0], [2.0, 0.0]], dtype=torch.float64)
        >>> std_of_l2_normalized_resampled(u, w).tolist()
        [0.7071067811865476, 0.0]
    """
    n = weights.sum(1, keepdim=True)
    dev = units - units[0]
    s, q = weights @ dev, weights @ dev.square()
    var = (q - s.square() / n) / (n - 1.0)
    return var.clamp_min(0.0).sqrt().mean(1)


def centroid_similarity_resampled(means: torch.Tensor) -> torch.Tensor:
    """Mean pairwise cosine of the uncentred class means of each resample (B x K x D).

    Example:
        >>> m = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [2.0, 0.0]]])
        >>> centroid_similarity_resampled(m.double()).tolist()
        [0.0, 1.0]
    """
    vals = [centroid_similarity_from_means(m) for m in means]
    return torch.tensor(vals, dtype=torch.float64)


def silhouette_resampled(
    units: torch.Tensor, labels: torch.Tensor, k: int, weights: torch.Tensor
) -> torch.Tensor:
    """Cosine silhouette of each resample: every copy of row i scores the same, so the mean
    over the resample is ``sum_i w_i s_i / N`` with ``s_i`` from the resample's class sums of
    unit vectors (:func:`~collapsekit.functional.silhouette.cosine_silhouette_rows`).

    Example:
        >>> u = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]).double()
        >>> w = torch.tensor([[1.0, 1.0, 2.0, 0.0]], dtype=torch.float64)
        >>> silhouette_resampled(u, torch.tensor([0, 0, 1, 1]), 2, w).tolist()
        [1.0]
    """
    counts, totals = resampled_class_sums(units, labels, k, weights)
    out = torch.empty(weights.shape[0], dtype=torch.float64)
    for b in range(weights.shape[0]):
        s = cosine_silhouette_rows(units, labels, totals[b], counts[b].round().long())
        out[b] = (weights[b] @ s) / weights[b].sum()
    return out


def nc1_cdnv_resampled(
    rows: torch.Tensor, labels: torch.Tensor, k: int, weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(nc1, cdnv, class means)`` of each resample, as
    :func:`~collapsekit.functional.neural_collapse.neural_collapse` (``global_mean="class"``).

    nc1 = Tr(Sigma_W Sigma_B^+)/K through the K x K Gram A = M~ M~^T = V L V^T of the centred
    class means: nc1 = sum_k v_k^T M~ Sigma_W M~^T v_k / L_k^2, and M~ Sigma_W M~^T needs only
    the rows' residuals projected on the K class means (O(B N D K), no D x D scatter).
    cdnv = mean over pairs of (var_c + var_c') / (2 ||mu_c - mu_c'||^2). Residuals are taken
    around the full data's class means, so nothing cancels. Coincident means give inf, as the
    kernel does. The means are returned in the rows' units (uncentred).

    Example:
        >>> x = torch.tensor([[0.0, 0.0], [0.0, 2.0], [4.0, 0.0], [4.0, 2.0]]).double()
        >>> nc1, cdnv, _ = nc1_cdnv_resampled(x, torch.tensor([0, 0, 1, 1]), 2,
        ...                                   torch.ones(1, 4, dtype=torch.float64))
        >>> nc1.tolist(), cdnv.tolist()
        ([0.0], [0.0625])
    """
    b, (n, d) = weights.shape[0], rows.shape
    counts0 = torch.bincount(labels, minlength=k).double()
    base = torch.zeros(k, d, dtype=torch.float64, device=rows.device)
    base.index_add_(0, labels, rows)
    base /= counts0.clamp_min(1.0)[:, None]
    resid = rows - base[labels]  # around the full data's class means
    scale = power_of_two_scale(resid) if bool((resid != 0).any()) else power_of_two_scale(rows)
    resid, base = resid / scale, base / scale
    counts, dsum = resampled_class_sums(resid, labels, k, weights)
    shift = dsum / counts[:, :, None]  # B x K x D: resample mean - full mean
    means = base + shift
    centred = means - means.mean(1, keepdim=True)
    _, sq_sum = resampled_class_sums(resid.square().sum(1, keepdim=True), labels, k, weights)
    var = sq_sum[:, :, 0] / counts - shift.square().sum(2)
    floor = _SPREAD_EPS**2 * var + _OFFSET_EPS**2 * means.square().sum(2)
    spread = centred.square().sum(2)
    collapsed = spread.amax(1) <= 2.0 * floor.amax(1)
    # projections of each resample's residuals on its centred means: B x N x K
    proj = torch.matmul(resid, centred.transpose(1, 2))
    own = (shift @ centred.transpose(1, 2)).gather(
        1, labels.expand(b, n)[:, :, None].expand(b, n, k)
    )
    proj = proj - own
    gram = centred @ centred.transpose(1, 2)
    lam, vecs = torch.linalg.eigh(gram)
    lam, vecs = lam.flip(1), vecs.flip(2)
    keep = (lam > max(k, d) * _EPS * lam[:, :1]) & (torch.arange(k, device=lam.device) < k - 1)
    pv = torch.matmul(proj, vecs)  # B x N x K: (v_k^T M~) r_i
    within = (weights[:, :, None] * pv.square()).sum(1) / n
    terms = torch.where(keep, within / torch.where(keep, lam, 1.0).square(), 0.0)
    nc1 = torch.where(collapsed, math.inf, terms.sum(1))
    diff = (means[:, :, None, :] - means[:, None, :, :]).square().sum(3)
    pair = var[:, :, None] + var[:, None, :]
    upper = torch.triu(torch.ones(k, k, dtype=torch.bool, device=rows.device), 1)
    coincident = diff <= floor[:, :, None] + floor[:, None, :]
    ratio = torch.where(coincident, math.inf, pair / (2.0 * torch.where(coincident, 1.0, diff)))
    cdnv = ratio[:, upper].mean(1)
    cdnv = torch.where(collapsed, math.inf, cdnv)
    return nc1, cdnv, means * scale


def _support_grams(gram: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """B x S x S Grams of each resample's rows, centred on the resample's mean and weighted by
    ``sqrt(w_i w_j)``, over its support (S = the largest support; shorter supports are padded
    with rows of weight 0, which add exact zero eigenvalues): ``G_ij - a_i - a_j + c`` with
    ``a = G w / n``, ``c = w^T G w / n^2`` from the N x N Gram ``gram``."""
    drawn = weights > 0
    s = int(drawn.sum(1).max())
    order = torch.argsort(drawn.to(torch.int8), dim=1, descending=True, stable=True)[:, :s]
    ws = weights.gather(1, order)
    g = gram[order[:, :, None], order[:, None, :]]
    n = ws.sum(1, keepdim=True)
    a = (g @ ws[:, :, None])[:, :, 0] / n
    c = (ws * a).sum(1, keepdim=True) / n
    root = ws.sqrt()
    centred = g - a[:, :, None] - a[:, None, :] + c[:, :, None]
    return centred * root[:, :, None] * root[:, None, :]


def centred_spectrum_resampled(
    rows: torch.Tensor, weights: torch.Tensor, device: torch.device | None = None
) -> list[torch.Tensor]:
    """Centred singular values of each resample (as
    :func:`~collapsekit.functional.spectrum.singular_values` of ``x[idx]``), non-zero part.

    The resample's centred scatter is ``Z^T Z`` with ``Z = sqrt(w) (x - mu_w)`` over the rows it
    drew (about 63% of N), so each spectrum is one eigendecomposition of the smaller of the
    support's weighted Gram (all resamples' Grams gathered at once from the N x N Gram of the
    rows, then one batched ``eigvalsh``) and the D x D scatter (one resample at a time, side by
    side: :func:`~collapsekit._threads.map_independent`).

    Example:
        >>> x = torch.tensor([[3.0, 0.0], [-3.0, 0.0], [0.0, 1.0], [0.0, -1.0]]).double()
        >>> [s.tolist() for s in centred_spectrum_resampled(x, torch.ones(1, 4).double())]
        [[4.242640687119285, 1.4142135623730951]]
    """
    x = rows - rows.mean(0)
    scale = power_of_two_scale(x)
    x = x / scale
    n, d = x.shape
    limit = max(n, d) * _EPS

    def kept(eig: torch.Tensor) -> torch.Tensor:
        eig = eig.flip(0)
        top = float(eig[0]) if eig.numel() else 0.0
        return eig[eig > limit * top].clamp_min(0.0).sqrt() * scale

    if int((weights > 0).sum(1).max()) <= d:  # every support fits: the Gram route
        with factorization_threads(x.device):
            eigs = torch.linalg.eigvalsh(_support_grams(x @ x.T, weights))
        return [kept(e) for e in eigs]

    def one(w: torch.Tensor) -> torch.Tensor:
        support = torch.nonzero(w).flatten()
        ws = w[support]
        z = (x[support] - (ws @ x[support]) / ws.sum()) * ws.sqrt()[:, None]
        return kept(torch.linalg.eigvalsh(z.T @ z if support.numel() > d else z @ z.T))

    return map_independent(one, list(weights), device)


def effective_rank_linearised(
    rows: torch.Tensor, weights: torch.Tensor, influence: tuple[float, torch.Tensor] | None = None
) -> torch.Tensor:
    """Effective rank of each resample to first order in its multiplicities:
    ``er(w) ~ er + sum_i (w_i - 1) IF_i`` (the nonparametric delta method, Efron 1982), from
    one eigendecomposition of the rows instead of one per resample.

    With the centred rows' scatter eigenpairs (lambda_k, u_k), s_k = sqrt(lambda_k),
    p_k = s_k / sum s, H = -sum p log p: d lambda_k / d w_i = (u_k . x~_i)^2, so
    ``IF_i = -er / 2 sum_k p_k (H + log p_k) (u_k . x~_i)^2 / lambda_k``. Exact for the
    spread of a smooth statistic as N grows; it leaves out the resampling's own bias (duplicated
    rows lower the rank), which the re-centred interval removes anyway
    (benchmarks/README.md, section I, measures its coverage). ``influence``: the
    ``(er, IF)`` of :func:`effective_rank_influence` when already computed.

    Example:
        >>> x = torch.randn(60, 5, generator=torch.Generator().manual_seed(0)).double()
        >>> er = effective_rank_linearised(x, torch.ones(2, 60, dtype=torch.float64))
        >>> from collapsekit.functional.effective_rank import effective_rank
        >>> [round(v - effective_rank(x), 12) for v in er.tolist()]
        [0.0, 0.0]
    """
    er, infl = effective_rank_influence(rows) if influence is None else influence
    return er + (weights - 1.0) @ infl


def effective_rank_influence(rows: torch.Tensor) -> tuple[float, torch.Tensor]:
    """``(er, IF)``: the effective rank of the rows and each row's influence on it (see
    :func:`effective_rank_linearised`); an all-zero spectrum gives ``(0, zeros)``.

    Example:
        >>> er, infl = effective_rank_influence(torch.eye(3, dtype=torch.float64))
        >>> round(er, 6), infl.shape
        (2.0, torch.Size([3]))
    """
    x = rows - rows.mean(0)
    x = x / power_of_two_scale(x)
    n, d = x.shape
    with factorization_threads(x.device):
        lam, vecs = torch.linalg.eigh(x @ x.T if n <= d else x.T @ x)
    proj = vecs * lam.clamp_min(0.0).sqrt() if n <= d else x @ vecs  # N x r: u_k . x~_i
    top = float(lam.max()) if lam.numel() else 0.0
    keep = lam > max(n, d) * _EPS * top
    if not bool(keep.any()):
        return 0.0, torch.zeros(n, dtype=torch.float64, device=x.device)
    lam, proj = lam[keep], proj[:, keep]
    s = lam.sqrt()
    p = s / s.sum()
    h = float(-(p * p.log()).sum())
    er = math.exp(h)
    return er, -0.5 * er * (proj.square() * (p * (h + p.log()) / lam)).sum(1)


def linear_cka_resampled(
    x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, cache: dict[str, Any] | None = None
) -> torch.Tensor:
    """Linear CKA (biased HSIC, as :func:`~collapsekit.functional.linear_cka.linear_cka`) of
    each resample's paired rows.

    With K, L the Grams of the (column-centred) rows, a = K w / n, b = L w / n: the resample's
    centred Gram Kc = K - a 1^T - 1 a^T + (w.a / n) has w-weighted row sums of zero, so
    ``||X_c^T D Y_c||_F^2 = sum_ij w_i w_j Kc_ij L_ij = w^T (K o L) w - 2 n sum_i w_i a_i b_i +
    (w.a)(w.b)``: three products of the B x N multiplicities with N x N matrices, O(B N^2).
    When N^2 exceeds the feature-space cost, each resample's weighted D_x x D_y cross products
    are used instead (O(B N D^2)). ``cache``: a dict that keeps the N x N products between
    calls on the same rows (chunks of one bootstrap).

    Example:
        >>> x = torch.randn(30, 4, generator=torch.Generator().manual_seed(0)).double()
        >>> w = torch.ones(2, 30, dtype=torch.float64)
        >>> [round(v, 6) for v in linear_cka_resampled(x, 2 * x, w).tolist()]
        [1.0, 1.0]
    """
    xc, yc = x - x.mean(0), y - y.mean(0)
    xc, yc = xc / power_of_two_scale(xc), yc / power_of_two_scale(yc)
    n, dx, dy = x.shape[0], x.shape[1], y.shape[1]
    if n * n > dx * dx + dy * dy + dx * dy:
        return torch.stack([_cka_features(xc, yc, w) for w in weights])
    w = weights
    total = w.sum(1)
    store = {} if cache is None else cache
    if "cka_grams" not in store:
        kx, ky = xc @ xc.T, yc @ yc.T
        store["cka_grams"] = (kx, ky, kx * ky, kx * kx, ky * ky)
    kx, ky, kxy, kxx, kyy = store["cka_grams"]
    a, b = w @ kx, w @ ky  # n a, n b
    wa, wb = (w * a).sum(1), (w * b).sum(1)

    def hsic(prod: torch.Tensor, p: torch.Tensor, q: torch.Tensor, wp: torch.Tensor,
             wq: torch.Tensor) -> torch.Tensor:  # fmt: skip
        return ((w @ prod) * w).sum(1) - 2.0 * (w * p * q).sum(1) / total + wp * wq / total**2

    xty = hsic(kxy, a, b, wa, wb)
    xtx = hsic(kxx, a, a, wa, wa)
    yty = hsic(kyy, b, b, wb, wb)
    return xty / (xtx.clamp_min(0.0).sqrt() * yty.clamp_min(0.0).sqrt())


def _cka_features(xc: torch.Tensor, yc: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Linear CKA of one resample from its weighted D_x x D_y cross products."""
    s = w.sum()
    xw, yw = xc - (w @ xc) / s, yc - (w @ yc) / s
    wx, wy = xw * w[:, None], yw * w[:, None]
    xty = torch.linalg.matrix_norm(wx.T @ yw) ** 2
    xtx, yty = torch.linalg.matrix_norm(wx.T @ xw) ** 2, torch.linalg.matrix_norm(wy.T @ yw) ** 2
    return xty / (xtx.sqrt() * yty.sqrt())


def units_of(rows: torch.Tensor) -> torch.Tensor:
    """L2-normalised rows (float64, zero rows stay zero), shared by the spread and silhouette.

    Example:
        >>> units_of(torch.tensor([[3.0, 4.0]])).tolist()
        [[0.6, 0.8]]
    """
    return l2_normalize(rows)
