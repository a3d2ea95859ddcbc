"""Neural-collapse metrics NC1-NC5 (Papyan, Han & Donoho 2020 and successors).

Definitions: docs/metrics.md (section "Neural collapse"). Everything is computed in float64
from the sufficient statistics (:func:`neural_collapse_from_moments`), which
:class:`collapsekit.ClassStats` streams and :func:`neural_collapse` forms in memory.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch

from collapsekit._threads import factorization_threads
from collapsekit._validation import (
    as_tensor,
    check_features,
    check_labels,
    check_nonnegative_float,
)
from collapsekit.functional._common import power_of_two_of
from collapsekit.functional.class_pair_geometry import (
    ClassPairSums,
    PairBlock,
    pair_sums_from_raw,
    tile_rows_for_budget,
)
from collapsekit.functional.class_shards import ONE_PROCESS, ClassReduce
from collapsekit.functional.ncc_agreement import ncc_predictions

NC_KEYS = (
    "nc1",
    "nc1_quotient",
    "cdnv",
    "equinorm",
    "equiangularity",
    "max_angle",
    "etf_error",
    "hyperspherical_log_mean",
    "hyperspherical_log_var",
    "self_duality",
    "ncc_agreement",
    "ood_orthogonality",
)


def between_class_eigen(
    centred_means: torch.Tensor, rtol: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenpairs of Sigma_B = M~^T M~ / K kept by its pseudo-inverse.

    Keeps at most the top K-1 eigenvalues and drops those below ``rtol * largest`` (default
    ``max(K, D) * eps``). Uses the thin SVD of M~ when K <= D and the D x D eigendecomposition
    otherwise (:func:`between_class_eigen_from_gram`), so K = 50,000 classes cost one D x D
    problem. Returns (eigenvalues descending, eigenvectors as rows).
    """
    k, d = centred_means.shape
    if k > d:
        return between_class_eigen_from_gram(centred_means.T @ centred_means, k, rtol)
    with factorization_threads(centred_means.device):
        _, s, vh = torch.linalg.svd(centred_means, full_matrices=False)
    return _kept(s.square() / k, vh, k, d, rtol)


def between_class_eigen_from_gram(
    gram: torch.Tensor, k: int, rtol: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`between_class_eigen` from ``gram`` = M~^T M~ (D x D, float64) of ``k`` class
    means: the form for K > D, and for class means sharded across processes (the Gram is a
    sum over shards)."""
    with factorization_threads(gram.device):
        lam, v = torch.linalg.eigh(gram / k)
    return _kept(lam.flip(0), v.flip(1).T, k, gram.shape[0], rtol)


def _kept(
    lam: torch.Tensor, vecs: torch.Tensor, k: int, d: int, rtol: float | None
) -> tuple[torch.Tensor, torch.Tensor]:
    if rtol is None:
        rtol = max(k, d) * torch.finfo(torch.float64).eps
    else:
        rtol = check_nonnegative_float(rtol, "rtol", "e.g. 1e-12, or None for the default")
    top = float(lam[0]) if lam.numel() else 0.0
    keep = (lam > rtol * top) & (torch.arange(lam.numel(), device=lam.device) < k - 1)
    return lam[keep], vecs[keep]


#: rounding floors of a class mean: float32 accumulation of residuals (relative to the class
#: spread) and float64 storage of the mean (relative to its magnitude), with a safety factor
_SPREAD_EPS = 4.0 * float(torch.finfo(torch.float32).eps)
_OFFSET_EPS = 64.0 * float(torch.finfo(torch.float64).eps)

#: NC2 geometry keys, undefined (NaN) when every class mean coincides with the global mean
GEOMETRY_KEYS = (
    "equinorm",
    "equiangularity",
    "max_angle",
    "etf_error",
    "hyperspherical_log_mean",
    "hyperspherical_log_var",
)


def _pair_geometry(pair: ClassPairSums) -> dict[str, float]:
    """CDNV, equiangularity, max angle, ETF error and the hyperspherical energy's mean and
    variance from the pairwise sums."""
    p = pair.pairs
    mean_dev = pair.cos_dev_sum / p
    equiangularity = (
        math.sqrt(max(pair.cos_dev_sq_sum - p * mean_dev**2, 0.0) / (p - 1)) if p > 1 else math.nan
    )
    log_mean_dev = pair.log_dev_sum / p
    return {
        "cdnv": pair.cdnv_sum / p,
        "equiangularity": equiangularity,
        "max_angle": pair.cos_abs_dev_sum / p,
        "etf_error": math.sqrt(max(pair.etf_sq_sum, 0.0)),
        "hyperspherical_log_mean": pair.log_etf_value + log_mean_dev,
        "hyperspherical_log_var": max(pair.log_dev_sq_sum / p - log_mean_dev**2, 0.0),
    }


# size: public function: the class moments plus optional inputs and tiling options
def neural_collapse_from_moments(
    means: torch.Tensor,
    counts: torch.Tensor,
    within_scatter: torch.Tensor,
    class_sq_deviation: torch.Tensor,
    global_mean: torch.Tensor,
    weights: torch.Tensor | None = None,
    ood_mean: torch.Tensor | None = None,
    rtol: float | None = None,
    tile_bytes: int = 256 * 2**20,
    tile_rows: int | None = None,
    shards: ClassReduce | None = None,
) -> dict[str, float]:
    """NC metrics from class moments (all float64, non-empty classes only).

    Args:
        means: (K, D) class means; counts: (K,) rows per class.
        within_scatter: (D, D) ``sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T``.
        class_sq_deviation: (K,) ``sum_{i in c} ||h_i - mu_c||^2``.
        global_mean: (D,) mu_G.
        weights: optional (K, D) classifier rows of the same classes (adds ``self_duality``).
        ood_mean: optional (D,) mean of out-of-distribution rows (adds ``ood_orthogonality``).
        tile_rows: force the pairwise tile edge (default: from ``tile_bytes``).
        shards: the class axis split across processes (:class:`~collapsekit.functional.
            class_shards.ClassReduce`): ``means``, ``counts``, ``within_scatter``,
            ``class_sq_deviation`` and ``weights`` are then this shard's part, ``global_mean``
            the global one, and every sum over classes goes through it (default: one process
            holds every class).

    Scale: every quantity is divided by a power of two near the largest centred class mean
    before any square is formed, so data at 1e-160 or 1e150 gives the same (scale-invariant)
    values as data at 1.

    Degenerate values (documented, never a silent NaN from 0/0):

    * Two class means *coincide* when ``||mu_c - mu_c'||^2`` is within their rounding floor
      ``floor_c + floor_c'``, ``floor_c = (4 eps32)^2 var_c + (64 eps64)^2 ||mu_c||^2`` (the
      float32 accumulation error relative to the class spread plus the float64 storage error
      of the mean): such a pair has ``cdnv = inf`` (not a huge ratio of round-off). A CDNV
      above about 1e13 cannot be told from coincident means at float32 precision.
    * Every class mean coincides with mu_G (complete collapse, e.g. identical rows): there
      is no between-class spread, so ``nc1 = nc1_quotient = cdnv = inf`` (no separation at
      all) and the NC2 geometry (``equinorm``, ``equiangularity``, ``max_angle``,
      ``etf_error``, ``hyperspherical_log_mean``, ``hyperspherical_log_var``), ``self_duality``
      and ``ood_orthogonality`` are NaN: class means with no direction have no angles.
    * A single centred class mean of zero length (one class at mu_G) has cosine 0 with every
      other class (and ``ood_orthogonality`` term 0).
    * K = 2: ``equiangularity`` is NaN (a std with ddof=1 of a single pair; two centred
      means are always antipodal).
    * ``nc1_quotient = inf`` when Tr(Sigma_B) = 0; ``nc1 = 0`` when Sigma_W = 0 and the class
      means are spread (perfect collapse onto the means).
    """
    red = ONE_PROCESS if shards is None else shards
    k = int(red.sum(torch.tensor([means.shape[0]], dtype=torch.int64, device=means.device)))
    if k < 2:
        raise ValueError(f"labels: expected at least 2 non-empty classes, received {k}")
    n = counts.double()
    total = float(red.sum(n.sum()))
    mu = means.double()
    m = mu - global_mean.double()
    var = class_sq_deviation.double() / n
    top = _shard_max(red, m.abs())
    scale = power_of_two_of(top if top > 0 else _shard_max(red, mu.abs()))
    m.div_(scale)  # m is this function's own copy (mu - mu_G)
    var = var / (scale * scale)
    floor = _SPREAD_EPS**2 * var + _OFFSET_EPS**2 * (mu / scale).square().sum(1)
    spread = m.square().sum(1)
    if _shard_max(red, spread) <= 2.0 * _shard_max(red, floor):
        out = {"nc1": math.inf, "nc1_quotient": math.inf, "cdnv": math.inf}
        out.update(dict.fromkeys(GEOMETRY_KEYS, math.nan))
        if weights is not None:
            out["self_duality"] = math.nan
        if ood_mean is not None:
            out["ood_orthogonality"] = math.nan
        return out
    sigma_w = red.sum(within_scatter.double()) / (total * scale * scale)
    gram = red.sum(m.T @ m)  # M~^T M~, D x D
    if k > m.shape[1]:
        lam, vecs = between_class_eigen_from_gram(gram, k, rtol)
    else:  # K <= D: the K x D means are no larger than the Gram
        lam, vecs = between_class_eigen(red.all_rows(m), rtol)
    projected = ((vecs @ sigma_w) * vecs).sum(1)
    nc1 = float((projected / lam).sum()) / k
    m_sq = float(red.sum(spread.sum()))
    tr_b = m_sq / k
    nc1_quotient = float(torch.trace(sigma_w)) / tr_b if tr_b > 0 else math.inf
    norms = spread.sqrt()
    mean_norm = float(red.sum(norms.sum())) / k
    norm_var = float(red.sum((norms - mean_norm).square().sum())) / (k - 1)
    equinorm = math.sqrt(norm_var) / mean_norm
    gram_fro = float(torch.linalg.matrix_norm(gram))
    rows = tile_rows or tile_rows_for_budget(tile_bytes, k)
    raw = red.pair_sums(PairBlock(m, var, floor), k, gram_fro, rows)
    geometry = _pair_geometry(pair_sums_from_raw(raw, k))
    out = {
        "nc1": nc1,
        "nc1_quotient": nc1_quotient,
        "cdnv": geometry.pop("cdnv"),
        "equinorm": equinorm,
        **geometry,
    }
    if weights is not None:
        out["self_duality"] = _self_duality(red, weights, m, m_sq)
    if ood_mean is not None:
        v = (ood_mean.double() - global_mean.double()) / scale
        vn = torch.linalg.norm(v)
        cos = (m @ v) / (norms * vn).clamp_min(torch.finfo(torch.float64).tiny)
        out["ood_orthogonality"] = float(red.sum(cos.abs().sum())) / k
    return out


def _shard_max(red: ClassReduce, t: torch.Tensor) -> float:
    """The largest entry of ``t`` over every shard (0 for shards without entries)."""
    local = t.max() if t.numel() else torch.zeros((), dtype=t.dtype, device=t.device)
    return float(red.max(local.reshape(1)))


def _self_duality(red: ClassReduce, weights: torch.Tensor, m: torch.Tensor, m_sq: float) -> float:
    """NC3 ``|| W/||W||_F - M~/||M~||_F ||_F`` from this shard's rows (``m_sq``:
    ``||M~||_F^2`` over every shard)."""
    w = weights.double()
    w = w / power_of_two_of(_shard_max(red, w.abs()))
    wn, mn = math.sqrt(float(red.sum(w.square().sum()))), math.sqrt(m_sq)
    if wn == 0:
        return math.nan
    return math.sqrt(float(red.sum((w / wn - m / mn).square().sum())))


# size: public entry point: features, labels and optional inputs/options
def neural_collapse(
    features: Any,
    labels: Any,
    weights: Any = None,
    bias: Any = None,
    ood_features: Any = None,
    num_classes: int | None = None,
    global_mean: Literal["class", "sample"] = "class",
    rtol: float | None = None,
) -> dict[str, float]:
    """Neural-collapse metrics of in-memory features (N x D) with labels (N,).

    * ``nc1`` = Tr(Sigma_W Sigma_B^+)/K: within-class variability relative to the class-mean
      spread; healthy training drives it towards 0 (terminal phase ~1e-2 or lower); values of
      order 1 or more mean classes overlap.
    * ``nc1_quotient`` = Tr(Sigma_W)/Tr(Sigma_B); ``cdnv`` = mean over class pairs of
      (var_c + var_c') / (2 ||mu_c - mu_c'||^2) (Galanti et al. 2021): 0 when collapsed.
    * NC2: ``equinorm`` (std/mean of ||mu_c - mu_G||), ``equiangularity`` (std of pairwise
      cosines), ``max_angle`` (mean |cos + 1/(K-1)|), ``etf_error`` (distance of the normalised
      Gram to the simplex ETF): all 0 for a simplex ETF; ``hyperspherical_log_mean`` and
      ``hyperspherical_log_var`` (GNC2, Liu et al. 2023): the log-energy of unit class means,
      lowest (and variance 0) for a uniform spread.
    * ``self_duality`` (NC3, needs ``weights`` K x D): ||W/||W|| - M~/||M~|| ||, 0 when the
      classifier aligns with the class means.
    * ``ncc_agreement`` (NC4, needs ``weights``): fraction of rows where the classifier agrees
      with the nearest class mean; tends to 1.
    * ``ood_orthogonality`` (NC5, needs ``ood_features``): mean |cos| between centred class
      means and the centred OoD mean; near 0 when OoD features are orthogonal.

    Degenerate inputs give documented values (see :func:`neural_collapse_from_moments`):
    identical class means (complete collapse) give ``nc1 = nc1_quotient = cdnv = inf`` and NaN
    NC2 geometry; two coincident classes give ``cdnv = inf``; the values do not depend on the
    scale of the data (1e-160 and 1e150 alike).

    Keys whose inputs are missing are left out. Empty classes are dropped. Raises ValueError
    with fewer than two non-empty classes.

    Reference: Papyan, Han & Donoho, "Prevalence of neural collapse during the terminal phase of
    deep learning training", PNAS 2020.

    Example (a perfect simplex ETF, no within-class spread):
        >>> import torch
        >>> from collapsekit.functional import neural_collapse
        >>> k = 4
        >>> etf = torch.eye(k) - 1.0 / k
        >>> x = etf.repeat_interleave(5, 0) + 1e-6 * torch.randn(20, k)
        >>> y = torch.arange(k).repeat_interleave(5)
        >>> nc = neural_collapse(x, y, weights=etf)
        >>> nc["nc1"] < 1e-9, round(nc["etf_error"], 6), round(nc["self_duality"], 6)
        (True, 0.0, 0.0)
        >>> nc["ncc_agreement"]
        1.0
    """
    x = check_features(features, "features")
    y = check_labels(labels, x.shape[0], num_classes, "labels", x.device)
    if global_mean not in ("class", "sample"):
        raise ValueError(f"global_mean: expected 'class' or 'sample', received {global_mean!r}")
    present, yc = torch.unique(y, return_inverse=True)
    k = present.numel()
    if k < 2:
        raise ValueError(
            f"labels: expected rows from at least 2 classes, received {k} non-empty class(es) "
            f"over {x.shape[0]} row(s); class-separation statistics need two or more classes"
        )
    moments = class_moments(x, yc, k)
    means, counts = moments["means"], moments["counts"]
    n = counts.double()
    mu_g = means.mean(0) if global_mean == "class" else (n[:, None] * means).sum(0) / n.sum()
    w = None
    if weights is not None:
        w_all = check_features(weights, "weights", x.shape[1], x.device)
        if w_all.shape[0] <= int(present.max()):
            raise ValueError(
                f"weights: expected at least {int(present.max()) + 1} rows (one per class "
                f"index), received shape {tuple(w_all.shape)}"
            )
        w = w_all[present]
    ood_mean = None
    if ood_features is not None:
        ood = check_features(ood_features, "ood_features", x.shape[1], x.device)
        ood_mean = ood.double().mean(0)
    out = neural_collapse_from_moments(
        means=means,
        counts=counts,
        within_scatter=moments["within_scatter"],
        class_sq_deviation=moments["class_sq_deviation"],
        global_mean=mu_g,
        weights=w,
        ood_mean=ood_mean,
        rtol=rtol,
    )
    if w is not None:
        b = None
        if bias is not None:
            b = as_tensor(bias, "bias", x.device).double().flatten()
            if b.numel() != w_all.shape[0]:
                raise ValueError(
                    f"bias: expected {w_all.shape[0]} values (one per weight row), received "
                    f"{b.numel()}"
                )
        clf, nearest = ncc_predictions(x, means - mu_g, mu_g, w_all, b)
        out["ncc_agreement"] = float((clf == present[nearest]).double().mean())
    return out


def class_moments(x: torch.Tensor, y_compact: torch.Tensor, k: int) -> dict[str, torch.Tensor]:
    """Counts, float64 means, within-class scatter and per-class squared deviations of
    in-memory rows with labels 0..k-1 (residuals formed in float64: exact at any offset)."""
    counts = torch.bincount(y_compact, minlength=k)
    sums = torch.zeros(k, x.shape[1], dtype=torch.float64, device=x.device)
    sums.index_add_(0, y_compact, x.double())
    means = sums / counts[:, None].double()
    resid = x.double() - means[y_compact]
    sq = torch.zeros(k, dtype=torch.float64, device=x.device)
    sq.index_add_(0, y_compact, resid.square().sum(1))
    return {
        "counts": counts,
        "means": means,
        "within_scatter": resid.T @ resid,
        "class_sq_deviation": sq,
    }
