"""Independent float64 numpy references, written straight from the formulas in METRICS.md.

Deliberately naive (explicit per-class loops, full pairwise matrices, scipy distances) so they
share no code or shortcut with collapsekit.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.spatial.distance import cdist
from scipy.special import logsumexp


def nc_reference(X, y, W=None, b=None, X_ood=None, global_mean="class", rtol=None):
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    classes = np.unique(y)
    K, N = len(classes), len(X)
    mus = np.stack([X[y == c].mean(0) for c in classes])
    muG = mus.mean(0) if global_mean == "class" else X.mean(0)
    Mt = mus - muG
    Sw = np.zeros((X.shape[1], X.shape[1]))
    for c, mu in zip(classes, mus, strict=True):
        dev = X[y == c] - mu
        Sw += dev.T @ dev
    Sw /= N
    Sb = Mt.T @ Mt / K
    lam, V = np.linalg.eigh(Sb)
    order = np.argsort(lam)[::-1]
    lam, V = lam[order], V[:, order]
    if rtol is None:
        rtol = max(K, X.shape[1]) * np.finfo(np.float64).eps
    keep = (lam > rtol * lam[0]) & (np.arange(len(lam)) < K - 1)
    pinv = V[:, keep] @ np.diag(1.0 / lam[keep]) @ V[:, keep].T
    out = {
        "nc1": np.trace(Sw @ pinv) / K,
        "nc1_quotient": np.trace(Sw) / np.trace(Sb),
    }
    var = np.array(
        [((X[y == c] - mu) ** 2).sum(1).mean() for c, mu in zip(classes, mus, strict=True)]
    )
    norms = np.linalg.norm(Mt, axis=1)
    U = Mt / norms[:, None]
    cdnv, cos, logd = [], [], []
    for i, j in itertools.combinations(range(K), 2):
        cdnv.append((var[i] + var[j]) / (2 * np.sum((mus[i] - mus[j]) ** 2)))
        cos.append(Mt[i] @ Mt[j] / (norms[i] * norms[j]))
        logd.append(-np.log(np.linalg.norm(U[i] - U[j])))
    cos = np.array(cos)
    out["cdnv"] = np.mean(cdnv)
    out["equinorm"] = np.std(norms, ddof=1) / np.mean(norms)
    out["equiangularity"] = np.std(cos, ddof=1) if len(cos) > 1 else np.nan
    out["max_angle"] = np.mean(np.abs(cos + 1.0 / (K - 1)))
    G = Mt @ Mt.T
    target = (np.eye(K) - np.ones((K, K)) / K) / np.sqrt(K - 1)
    out["etf_error"] = np.linalg.norm(G / np.linalg.norm(G) - target)
    out["hyperspherical_log_mean"] = np.mean(logd)
    out["hyperspherical_log_var"] = np.var(logd)
    if W is not None:
        W = np.asarray(W, dtype=np.float64)
        Wk = W[classes]
        out["self_duality"] = np.linalg.norm(Wk / np.linalg.norm(Wk) - Mt / np.linalg.norm(Mt))
        logits = X @ W.T + (0.0 if b is None else np.asarray(b, dtype=np.float64))
        ncc = classes[np.argmin(cdist(X, mus), axis=1)]
        out["ncc_agreement"] = np.mean(np.argmax(logits, 1) == ncc)
    if X_ood is not None:
        v = np.asarray(X_ood, dtype=np.float64).mean(0) - muG
        out["ood_orthogonality"] = np.mean(np.abs(Mt @ v / (norms * np.linalg.norm(v))))
    return {k: float(v) for k, v in out.items()}


def simplex_etf(k: int, d: int, seed: int = 0) -> np.ndarray:
    """K unit vectors in R^d (d >= k) forming a simplex ETF, randomly rotated."""
    rng = np.random.default_rng(seed)
    m = np.eye(k) - np.ones((k, k)) / k
    m = m / np.linalg.norm(m, axis=1, keepdims=True)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return np.pad(m, ((0, 0), (0, d - k))) @ q


def blobs(n, k, d, seed=0, sep=3.0, offset=0.0, noise=1.0, imbalance=False):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, d)) * sep
    if imbalance:
        p = np.arange(1, k + 1, dtype=float)
        y = rng.choice(k, size=n, p=p / p.sum())
    else:
        y = np.arange(n) % k
        rng.shuffle(y)
    X = offset + centers[y] + noise * rng.standard_normal((n, d))
    return X, y


def ref_erank(X, center=True):
    X = np.asarray(X, np.float64)
    if center:
        X = X - X.mean(0)
    s = np.linalg.svd(X, compute_uv=False)
    s = s[s > s.max() * 1e-12] if s.max() > 0 else s[:0]
    if len(s) == 0:
        return 0.0
    p = s / s.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def ref_rankme(X, eps=1e-7):
    s = np.linalg.svd(np.asarray(X, np.float64), compute_uv=False)
    p = s / s.sum() + eps
    return float(np.exp(-(p * np.log(p)).sum()))


def ref_centroid_similarity(X, y):
    X = np.asarray(X, np.float64)
    mus = [X[y == c].mean(0) for c in np.unique(y)]
    cos = [a @ b / np.linalg.norm(a) / np.linalg.norm(b) for a, b in itertools.combinations(mus, 2)]
    return float(np.mean(cos))


def ref_loo(X, y):
    sims = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        if len(np.unique(y[keep])) < 2:
            continue
        sims.append(ref_centroid_similarity(X[keep], y[keep]))
    return float(np.std(sims))


def ref_uniformity(X, t=2.0):
    U = np.asarray(X, np.float64)
    U = U / np.linalg.norm(U, axis=1, keepdims=True)
    i, j = np.triu_indices(len(U), 1)
    d2 = ((U[i] - U[j]) ** 2).sum(1)
    return float(logsumexp(-t * d2) - np.log(len(d2)))


def ref_cka_gram(X, Y, debiased=False):
    """Gram-matrix CKA exactly as in the Kornblith et al. notebook (gram_linear, center_gram)."""

    def center_gram(gram, unbiased):
        gram = gram.copy()
        n = gram.shape[0]
        if unbiased:
            np.fill_diagonal(gram, 0)
            means = np.sum(gram, 0) / (n - 2)
            means -= np.sum(means) / (2 * (n - 1))
            gram -= means[:, None]
            gram -= means[None, :]
            np.fill_diagonal(gram, 0)
        else:
            means = np.mean(gram, 0)
            means -= np.mean(means) / 2
            gram -= means[:, None]
            gram -= means[None, :]
        return gram

    gx = center_gram(X @ X.T, debiased)
    gy = center_gram(Y @ Y.T, debiased)
    return float(gx.ravel() @ gy.ravel() / (np.linalg.norm(gx) * np.linalg.norm(gy)))
