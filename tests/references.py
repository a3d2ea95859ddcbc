"""Independent float64 numpy references, written straight from the formulas in METRICS.md.

Deliberately naive (explicit per-class loops, full pairwise matrices, scipy distances) so they
share no code or shortcut with collapsekit.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.spatial.distance import cdist


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
