"""Can a linear probe tell two classes apart? A cross-validated ridge probe with an exact
permutation null, for confirming the merged-classes screen.

The merged-classes screen (:mod:`collapsekit.functional.class_separation`) compares the shift of
two class means with the *total* within-class variance, so two classes that differ along one
low-variance direction look merged when there are few rows. This test sees direction: a ridge
classifier on per-feature standardised rows (standardised on the training folds), scored by
``F``-fold cross-validated accuracy

    acc = (1 / m) sum_i [sign(f_{-fold(i)}(x_i)) == y_i],

against its permutation null: the same folds, the labels of the ``m`` rows permuted ``B`` times.
The folds are drawn without looking at the labels, so every permutation is scored by the same
``F`` ridge solves (one solve with ``B + 1`` right-hand sides per fold): exact under the null
"the two classes are one population split at random", at O(F (m^3 + m^2 B)) cost.

Reference: Ojala & Garriga 2010, "Permutation tests for studying classifier performance", JMLR.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PairProbe:
    """Result of :func:`pair_probe_test`.

    Attributes:
        accuracy: cross-validated accuracy of the probe on the two classes' rows.
        p_value: ``(1 + #{permutations >= accuracy}) / (B + 1)``.
        z: ``(accuracy - null_mean) / null_sd`` over the permutations.
        null_mean: mean accuracy over the permutations (about the majority fraction or 1/2).
        null_sd: its standard deviation.
        rows: rows used (at most ``2 x max_rows_per_class``).
        permutations: ``B``.
    """

    accuracy: float
    p_value: float
    z: float
    null_mean: float
    null_sd: float
    rows: int
    permutations: int

    def tail(self) -> float:
        """The smaller of the permutation p-value and the normal tail of ``z`` (the permutation
        p-value cannot go below ``1 / (B + 1)``; beyond it the normal tail reads on).

        Example:
            >>> PairProbe(1.0, 0.001, 8.0, 0.5, 0.06, 120, 999).tail() < 1e-10
            True
        """
        normal = 0.5 * math.erfc(self.z / math.sqrt(2.0)) if math.isfinite(self.z) else 1.0
        floor = 1.0 / (self.permutations + 1)
        return self.p_value if self.p_value > floor else min(self.p_value, normal)


def _subsample(idx: torch.Tensor, most: int, g: torch.Generator) -> torch.Tensor:
    if idx.numel() <= most:
        return idx
    return idx[torch.randperm(idx.numel(), generator=g)[:most].to(idx.device)]


def _fold_scores(
    x: torch.Tensor, t: torch.Tensor, fold: torch.Tensor, ridge: float
) -> torch.Tensor:
    """Held-out decision values of every label column of ``t`` (m x (B+1)), fold by fold."""
    out = torch.zeros_like(t)
    for f in torch.unique(fold).tolist():
        te, tr = fold == f, fold != f
        xt = x[tr]
        mu = xt.mean(0)
        sd = xt.std(0) if xt.shape[0] > 1 else torch.ones_like(mu)
        sd = torch.where(sd > 0, sd, torch.ones_like(sd))
        a, b = (xt - mu) / sd, (x[te] - mu) / sd
        gram = a @ a.T
        lam = ridge * float(gram.diagonal().mean().clamp_min(1e-300))
        eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
        # the held-out rows' hat matrix, shared by every label column: one solve per fold
        hat = torch.linalg.solve(gram + lam * eye, a @ b.T).T
        target = t[tr]
        bias = target.mean(0, keepdim=True)
        out[te] = hat @ (target - bias) + bias
    return out


# size: public kernel, the data plus keyword-only options
def pair_probe_test(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    folds: int = 5,
    permutations: int = 999,
    ridge: float = 0.1,
    max_rows_per_class: int = 200,
    seed: int = 0,
) -> PairProbe:
    """Cross-validated ridge probe between two classes with its permutation null (module
    docstring).

    Args:
        x: (m, D) rows of the two classes.
        y: (m,) labels, two distinct values.
        folds: cross-validation folds (at most ``m``), drawn without the labels.
        permutations: ``B``, label permutations of the null.
        ridge: ridge penalty relative to the mean diagonal of the training Gram.
        max_rows_per_class: rows kept per class (seeded subsample), bounding the cost.
        seed: seeds the subsample, the folds and the permutations.

    Read it: accuracy near ``null_mean`` (about 1/2 for equal classes) and a large ``p_value``
    mean the probe cannot tell the classes apart; a small ``p_value`` means it can.
    Degenerate cases: fewer than 2 rows in a class or constant rows give accuracy at the null
    and ``p_value`` 1 (the classes are not shown to differ).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(80, 50, generator=g, dtype=torch.float64)
        >>> y = torch.arange(80) % 2
        >>> x[y == 1, 49] += 3.0            # one direction only
        >>> r = pair_probe_test(x, y, permutations=199)
        >>> r.accuracy > 0.75, r.p_value < 0.01
        (True, True)
        >>> pair_probe_test(x, torch.randperm(80, generator=g) % 2, permutations=199).p_value > 0.01
        True
    """
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x, y: expected (m, D) rows and (m,) labels, received shapes {tuple(x.shape)} and "
            f"{tuple(y.shape)}; pass the rows of the two classes and their labels"
        )
    values = torch.unique(y)
    if values.numel() != 2:
        raise ValueError(
            f"y: expected exactly two classes, received {values.numel()}; pass one pair's rows"
        )
    g = torch.Generator().manual_seed(int(seed))
    keep = torch.cat(
        [_subsample(torch.nonzero(y == v).flatten(), max_rows_per_class, g) for v in values]
    )
    xs = x[keep].double()
    lab = (y[keep] == values[1]).double()
    m = int(lab.numel())
    smaller = int(min(lab.sum().item(), m - lab.sum().item()))
    if smaller < 2 or m < 4:
        return PairProbe(math.nan, 1.0, math.nan, math.nan, math.nan, m, 0)
    fold = torch.randperm(m, generator=g) % max(2, min(int(folds), m))
    perms = torch.rand(int(permutations), m, generator=g, dtype=torch.float64).argsort(1)
    t = torch.cat([lab[None], lab[perms]], 0).T.to(xs.device) * 2.0 - 1.0
    scores = _fold_scores(xs, t, fold.to(xs.device), ridge)
    acc = ((scores > 0) == (t > 0)).double().mean(0).cpu()
    obs, null = float(acc[0]), acc[1:]
    p = (1 + int((null >= obs - 1e-12).sum())) / (int(permutations) + 1)
    mean, sd = float(null.mean()), float(null.std()) if null.numel() > 1 else math.nan
    z = (obs - mean) / sd if sd > 0 else (math.inf if obs > mean else 0.0)
    return PairProbe(obs, p, z, mean, sd, m, int(permutations))


__all__ = ["PairProbe", "pair_probe_test"]
