"""Independent float64 checks of the real-runs fixtures (numpy + scikit-learn, no collapsekit).

Every expectation of ``docs/real_runs.md`` rests on these numbers:

* spectrum of the centred rows: singular values s_1 >= ... >= s_D; ``dead_1pct`` counts
  s_i < 0.01 s_1 (variance below 1e-4 of the top direction's), ``dead_1e4`` counts
  s_i < 1e-4 s_1; effective rank exp(H(p)), p_i = s_i / sum s (Roy & Vetterli 2007); the same
  three on isotropic Gaussian rows of the same N and D (``null_*``, mean of 5 draws);
* ``rel_spread`` = RMS distance of the rows to their mean / norm of the mean;
  ``std_l2_normalized`` = mean over coordinates of the std of the L2-normalised rows (about
  1/sqrt(D) for isotropic rows, 0 when every row points the same way: complete collapse) and
  ``min_cos_to_mean_direction``, the smallest cosine of a row to the mean direction;
* with labels: NC1 = tr(Sigma_W Sigma_B^+) / K (Papyan et al. 2020) and its quotient
  tr(Sigma_W) / tr(Sigma_B); class-mean geometry of the means centred on their average:
  equinorm (std / mean of the norms), mean and std (equiangularity) of the pairwise cosines
  (an ETF has -1/(K-1), std 0), ETF error ||G/||G|| - (I - 11^T/K)/sqrt(K-1)||_F with G the
  Gram of the centred means; definitions as in collapsekit's metric contract;
* with classifier rows W: NCC agreement (argmax of Wh + b against the nearest class mean), NC3
  ||W/||W|| - M/||M|| ||_F^2, mean pairwise cosine of chosen classifier rows;
* probes: 5-fold stratified cross-validated ``LogisticRegression`` on standardised features
  (all classes with >= 5 rows), and the same for one pair of classes (binary).
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def spectrum(x: np.ndarray) -> dict[str, float]:
    """Dead directions, effective rank and relative spread of the rows ``x`` (float64)."""
    x = np.asarray(x, np.float64)
    mu = x.mean(0)
    s = np.linalg.svd(x - mu, compute_uv=False)
    p = s / s.sum() if s.sum() > 0 else np.full_like(s, 1.0 / len(s))
    p = p[p > 0]
    rms = np.sqrt(((x - mu) ** 2).sum(1).mean())
    unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-300)
    direction = unit.mean(0) / max(np.linalg.norm(unit.mean(0)), 1e-300)
    return {
        "rows": float(x.shape[0]),
        "dim": float(x.shape[1]),
        "dead_1pct": float((s < 0.01 * s[0]).sum() + max(0, x.shape[1] - len(s))),
        "dead_1e4": float((s < 1e-4 * s[0]).sum() + max(0, x.shape[1] - len(s))),
        "effective_rank": float(np.exp(-(p * np.log(p)).sum())),
        "top_variance_share": float(s[0] ** 2 / (s**2).sum()),
        "rel_spread": float(rms / max(np.linalg.norm(mu), 1e-300)),
        "std_l2_normalized": float(unit.std(0).mean()),
        "null_std_l2_normalized": float(1.0 / np.sqrt(x.shape[1])),
        "min_cos_to_mean_direction": float((unit @ direction).min()),
    }


def null_spectrum(n: int, d: int, draws: int = 5) -> dict[str, float]:
    """:func:`spectrum` of isotropic Gaussian rows of the same N and D (mean over ``draws``)."""
    rng = np.random.default_rng(0)
    runs = [spectrum(rng.standard_normal((n, d)) + 1.0) for _ in range(draws)]
    keys = ("dead_1pct", "dead_1e4", "effective_rank")
    return {f"null_{k}": float(np.mean([r[k] for r in runs])) for k in keys}


def class_geometry(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """NC1 and the geometry of the class means, as in collapsekit's metric contract (module
    docstring): Sigma_W over rows (1/N), Sigma_B^+ on its top K-1 eigenvalues."""
    x = np.asarray(x, np.float64)
    classes = np.unique(y)
    k = len(classes)
    means = np.stack([x[y == c].mean(0) for c in classes])
    centred = means - means.mean(0)
    within = x - means[np.searchsorted(classes, y)]
    sw = within.T @ within / len(x)
    evals, evecs = np.linalg.eigh(centred.T @ centred / k)
    top = evals[::-1][: k - 1]
    vecs = evecs[:, ::-1][:, : k - 1]
    keep = top > 1e-12 * top[0]
    sb_pinv = (vecs[:, keep] / top[keep]) @ vecs[:, keep].T
    norms = np.linalg.norm(centred, axis=1)
    unit = centred / norms[:, None]
    off = (unit @ unit.T)[np.triu_indices(k, 1)]
    gram = centred @ centred.T
    etf = (np.eye(k) - 1.0 / k) / np.sqrt(k - 1)
    return {
        "classes": float(k),
        "nc1": float(np.trace(sw @ sb_pinv) / k),
        "nc1_quotient": float(np.trace(sw) / np.trace(centred.T @ centred / k)),
        "equinorm": float(norms.std(ddof=1) / norms.mean()),
        "mean_cos": float(off.mean()),
        "equiangularity": float(off.std(ddof=1)),
        "etf_cos": -1.0 / (k - 1),
        "etf_error": float(np.linalg.norm(gram / np.linalg.norm(gram) - etf)),
    }


def null_etf_error(k: int, d: int, draws: int = 200) -> dict[str, float]:
    """ETF error, equinorm and equiangularity of K random Gaussian means in D dimensions: mean
    and std over ``draws`` (how close to an ETF chance alone puts the means)."""
    rng = np.random.default_rng(0)
    etf = (np.eye(k) - 1.0 / k) / np.sqrt(k - 1)
    runs = []
    for _ in range(draws):
        m = rng.standard_normal((k, d))
        m -= m.mean(0)
        g = m @ m.T
        norms = np.sqrt(np.diag(g))
        cos = (g / np.outer(norms, norms))[np.triu_indices(k, 1)]
        runs.append(
            (
                np.linalg.norm(g / np.linalg.norm(g) - etf),
                norms.std(ddof=1) / norms.mean(),
                cos.std(ddof=1),
            )
        )
    a = np.array(runs)
    out = {}
    for i, key in enumerate(("etf_error", "equinorm", "equiangularity")):
        out[f"null_{key}_mean"] = float(a[:, i].mean())
        out[f"null_{key}_std"] = float(a[:, i].std())
    return out


def classifier(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, b: np.ndarray | None
) -> dict[str, float]:
    """NCC agreement and NC3 of the classifier rows ``w`` (K x D) against the class means."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    classes = np.unique(y)
    means = np.stack([x[y == c].mean(0) for c in classes])
    logits = x @ w.T + (0.0 if b is None else np.asarray(b, np.float64))
    ncc = np.argmin(((x[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    m = means - means.mean(0)
    wc = w[classes]
    nc3 = np.linalg.norm(wc / np.linalg.norm(wc) - m / np.linalg.norm(m)) ** 2
    return {
        "ncc_agreement": float((classes[ncc] == np.argmax(logits, 1)).mean()),
        "classifier_accuracy": float((np.argmax(logits, 1) == y).mean()),
        "nc3": float(nc3),
    }


def mean_pairwise_cos(w: np.ndarray, rows: list[int]) -> float:
    """Mean cosine between the classifier rows ``rows`` of ``w`` (centred on the mean row)."""
    w = np.asarray(w, np.float64)
    c = w - w.mean(0)
    u = c[rows] / np.linalg.norm(c[rows], axis=1, keepdims=True)
    g = u @ u.T
    return float(g[~np.eye(len(rows), dtype=bool)].mean())


def probe(x: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated accuracy of a standardised logistic regression (classes with >= folds
    rows only)."""
    keep = np.isin(y, [c for c in np.unique(y) if (y == c).sum() >= folds])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return float(cross_val_score(model, x[keep], y[keep], cv=cv).mean())


def pair_probe(x: np.ndarray, y: np.ndarray, a: int, b: int, folds: int = 5) -> float:
    """:func:`probe` on the rows of classes ``a`` and ``b`` only (chance 0.5 when balanced)."""
    rows = np.isin(y, [a, b])
    return probe(x[rows], y[rows], folds)


def class_span(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """How much of the spectrum the class means explain: the share of the centred rows'
    variance inside the span of the centred class means (rank <= K-1), and how many directions
    of the rest (the residual, projected off that span) keep s_i >= 0.01 s_1 of the whole."""
    x = np.asarray(x, np.float64)
    classes = np.unique(y)
    means = np.stack([x[y == c].mean(0) for c in classes])
    centred = means - means.mean(0)
    q, r = np.linalg.qr(centred.T)
    q = q[:, np.abs(np.diag(r)) > 1e-10 * np.abs(r).max()]
    xc = x - x.mean(0)
    inside = xc @ q
    resid = xc - inside @ q.T
    top = np.linalg.svd(xc, compute_uv=False)[0]
    s_res = np.linalg.svd(resid, compute_uv=False)
    return {
        "class_span_dim": float(q.shape[1]),
        "class_span_share": float((inside**2).sum() / (xc**2).sum()),
        "residual_live_1pct": float((s_res >= 0.01 * top).sum()),
    }
