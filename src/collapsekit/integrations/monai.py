"""MONAI's ``EmbeddingCollapseMetric`` (MONAI 1.6.1) through collapsekit's metric registry.

When MONAI is installed, :class:`EmbeddingCollapseMetric` *is* a ``monai.metrics.Metric``
(the base class MONAI 1.6.1's own ``EmbeddingCollapseMetric`` uses), so it goes wherever MONAI
expects a metric. Without MONAI it is a plain class with the same constructor, call signature
and return value; MONAI is never required.

Scores are in [0, 1], higher = more collapsed (reference: docs/metrics.md, section
"MONAI EmbeddingCollapseMetric"):

* ``centroid_similarity`` = (mean pairwise cosine of the class centroids + 1) / 2
* ``effective_rank_score`` = 1 - effective_rank / min(N-1, D) (Roy & Vetterli 2007)
* ``per_class_rank_<c>`` = ``effective_rank_score`` of class c (``None`` for single-row classes)
* ``domain_shift`` = linear CKA between ``embeddings`` and ``target_embeddings``
* ``separation`` = (1 - cosine silhouette) / 2
* ``aggregate`` = max (or mean) of the available global scores

The raw quantities (centroid cosine, silhouette, effective ranks, CKA) come from one
evaluation of collapsekit's metric registry over the rows, the same values
``collapsekit.analyze(..., metrics=[...])`` gives; MONAI's definitions are applied on top by
:func:`monai_centroid_similarity`, :func:`monai_separation` and :func:`monai_rank_score`.

**The default mode equals MONAI 1.6.1 on every key, ``aggregate`` included** (cross-checked
against the installed MONAI in tests/integrations/test_monai_upstream.py). Options, all off by
default, and the documented differences:

* ``per_class_in_aggregate=True``: the worst per-class rank enters ``aggregate`` as one more
  term (MONAI's main branch after 1.6.1 does this; 1.6.1 does not). A class that collapsed to
  a point then reaches the summary score even when the global indicators look healthy.
* ``debiased_cka=True``: ``domain_shift`` uses the unbiased HSIC estimator (Song et al. 2012).
  The default (biased) estimator is inflated for small N: two independent 30 x 40 matrices
  score about 0.5 instead of about 0.
* ``unpaired_domains="raise"``: refuse ``target_embeddings`` whose row count differs from
  ``embeddings``. CKA compares two representations of the *same* inputs; MONAI 1.6.1 (and the
  default here, with a ``UserWarning``) silently compares a seeded random subset of unrelated
  rows, which is meaningless.
* Always, whatever the options: ``separation`` is the registry's exact cosine silhouette,
  computed in O(N K D) without scikit-learn (MONAI calls scikit-learn's O(N^2)
  ``silhouette_score`` and returns ``None`` when scikit-learn is missing); the values agree
  to float precision.
* Always: NaN/Inf embeddings and non-integer float labels raise ``ValueError`` naming the
  argument (MONAI propagates NaN or truncates the labels with ``.long()``); numpy arrays are
  accepted as well as tensors; values are computed in float64 and returned as float32 scalar
  tensors on the embeddings' device, like MONAI.

``EmbeddingCollapseMetric`` subclasses ``monai.metrics.Metric`` rather than
``CumulativeIterationMetric``: MONAI 1.6.1's metric returns a dict of scores from one call
(no per-iteration buffers, no ``aggregate()`` method), and a drop-in must keep that contract.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import torch

from collapsekit._validation import as_tensor, check_features
from collapsekit.engine.analyzer import Analyzer
from collapsekit.engine.computation import Request, build_context
from collapsekit.functional.linear_probe import fit_logistic
from collapsekit.integrations.monai_definitions import (
    VALID_INDICATORS,
    check_class_labels,
    check_options,
    monai_centroid_similarity,
    monai_rank_score,
    monai_separation,
)
from collapsekit.metrics import Options, evaluate

if TYPE_CHECKING:
    _MetricBase = object
    HAS_MONAI = False
else:
    try:  # MONAI's import is slow (seconds); it only happens when this module is imported
        from monai.metrics.metric import Metric as _MetricBase

        HAS_MONAI = True
    except ImportError:
        _MetricBase = object
        HAS_MONAI = False

__all__ = [
    "HAS_MONAI",
    "EmbeddingCollapseMetric",
    "compute_embedding_collapse",
    "linear_probe_accuracy",
    "monai_centroid_similarity",
    "monai_rank_score",
    "monai_separation",
]

_PRIMARY = ("centroid_similarity", "effective_rank_score", "domain_shift", "separation")
_SUBSAMPLE_SEED = 42  # MONAI 1.6.1's seed for the unpaired-domain subset


def _registry_values(
    emb: torch.Tensor, y: torch.Tensor | None, reference: torch.Tensor | None, metrics: list[str]
) -> dict[str, float]:
    """One registry evaluation of ``metrics`` over the rows (every row held, so the row
    metrics are exact; no probe, null model or verdict)."""
    if not metrics:
        return {}
    a = Analyzer(sample_rows=emb.shape[0], exact_per_class=False, device=emb.device)
    a.update(emb, y, reference)
    ctx = build_context(a, Request(metrics=tuple(metrics), options=Options(probe=False)))
    values, _ = evaluate(ctx, metrics)
    return values


def _wanted(inc: set[str], k: int, cka_key: str | None) -> list[str]:
    """The registry metrics the requested MONAI indicators read."""
    out = []
    if "centroid_similarity" in inc and k >= 2:
        out.append("centroid_similarity")
    if "separation" in inc and k >= 2:
        out.append("silhouette")
    if "per_class_rank" in inc:
        # one class: its rows are all the rows, whose effective rank the spectrum gives
        out.append("per_class_effective_rank_min" if k >= 2 else "effective_rank")
    if "effective_rank" in inc:
        out.append("effective_rank_score")
    if cka_key is not None:
        out.append(cka_key)
    return out


def _per_class_scores(
    values: dict[str, float], y: torch.Tensor, dim: int
) -> dict[str, float | None]:
    """``per_class_rank_<c>`` for every label value c (``None`` for single-row classes)."""
    labels, counts = torch.unique(y, return_counts=True)
    out: dict[str, float | None] = {}
    for c, n_c in zip(labels.tolist(), counts.tolist(), strict=True):
        rank = values.get(f"per_class_effective_rank_{c}")
        if labels.numel() == 1:
            rank = values.get("effective_rank")
        out[f"per_class_rank_{c}"] = None if rank is None else monai_rank_score(rank, n_c, dim)
    return out


def _pair_domains(
    source: torch.Tensor, target: torch.Tensor, unpaired_domains: str
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The paired rows CKA compares: MONAI 1.6.1's seeded subset when the row counts differ
    (with a warning, or a ValueError with ``unpaired_domains="raise"``); None when a side
    has fewer than 2 rows."""
    n_s, n_t = source.shape[0], target.shape[0]
    if n_s != n_t:
        if unpaired_domains == "raise":
            raise ValueError(
                f"target_embeddings: expected {n_s} rows paired with embeddings (row i of both "
                f"from the same input), received {n_t}; CKA of unpaired domains is meaningless. "
                "Embed the same inputs in both domains, or pass unpaired_domains='subsample' "
                "for MONAI's random subset"
            )
        if min(n_s, n_t) >= 2:
            warnings.warn(
                f"domain_shift: embeddings ({n_s} rows) and target_embeddings ({n_t} rows) are "
                "not paired; comparing a random subset of unrelated rows as MONAI 1.6.1 does. "
                "Pass unpaired_domains='raise' to refuse",
                UserWarning,
                stacklevel=4,
            )
    if n_s < 2 or n_t < 2:
        return None
    if n_s != n_t:  # MONAI 1.6.1: seeded random rows of the larger set, same permutation
        n = min(n_s, n_t)
        gen = torch.Generator().manual_seed(_SUBSAMPLE_SEED)
        if n_s > n:
            source = source[torch.randperm(n_s, generator=gen)[:n].to(source.device)]
        else:
            target = target[torch.randperm(n_t, generator=gen)[:n].to(target.device)]
    return source, target


def _is_constant(m: torch.Tensor) -> bool:
    return bool((m - m.mean(0)).abs().max() == 0)


def _check_embeddings(embeddings: Any) -> torch.Tensor:
    emb_in = as_tensor(embeddings, "embeddings")
    if emb_in.dim() != 2:
        raise ValueError(
            f"embeddings: expected a 2-D [N, D] matrix, received shape {tuple(emb_in.shape)}; "
            "flatten or pool the other dimensions first"
        )
    # float64 throughout: a float32 Gram leaves the centring null eigenvalue at ~1e-7 of the
    # largest, which shifts small-class effective ranks by up to ~1e-3 (MONAI's SVD does not)
    return check_features(emb_in, "embeddings", min_rows=2).double()


def _check_target(target_embeddings: Any, dev: torch.device) -> torch.Tensor:
    tgt_in = as_tensor(target_embeddings, "target_embeddings", dev)
    if tgt_in.dim() != 2:
        raise ValueError(
            f"target_embeddings: expected a 2-D [M, D] matrix, received shape {tuple(tgt_in.shape)}"
        )
    return check_features(tgt_in, "target_embeddings", device=dev).double()


def _aggregate(
    scores: dict[str, torch.Tensor | None], reduction: str, per_class_in_aggregate: bool
) -> torch.Tensor | None:
    pool = [v for key, v in scores.items() if key in _PRIMARY and v is not None]
    worst = [v for key, v in scores.items() if key.startswith("per_class_rank_") and v is not None]
    if per_class_in_aggregate and worst:
        pool.append(torch.stack(worst).max())
    if not pool:
        return None
    return torch.stack(pool).max() if reduction == "max" else torch.stack(pool).mean()


# size: public entry point: MONAI's inputs plus keyword options
def compute_embedding_collapse(
    embeddings: Any,
    labels: Any = None,
    target_embeddings: Any = None,
    target_labels: Any = None,
    reduction: str = "max",
    include_indicators: Sequence[str] | None = None,
    *,
    per_class_in_aggregate: bool = False,
    debiased_cka: bool = False,
    unpaired_domains: Literal["subsample", "raise"] = "subsample",
) -> dict[str, torch.Tensor | None]:
    """Functional form of :class:`EmbeddingCollapseMetric` (MONAI 1.6.1's keys and values).

    The raw quantities come from one evaluation of collapsekit's metric registry over the
    rows (``centroid_similarity``, ``silhouette``, ``effective_rank_score``, the per-class
    effective ranks, ``linear_cka`` / ``linear_cka_debiased``); MONAI's definitions
    (:func:`monai_centroid_similarity`, :func:`monai_separation`, :func:`monai_rank_score`)
    are applied on top and clamped to [0, 1].

    Args:
        embeddings: ``[N, D]`` features, N >= 2 (tensor or array).
        labels: ``[N]`` integer class labels, or ``None`` (label-free indicators only).
        target_embeddings: ``[M, D']`` embeddings of the same inputs in another domain.
        target_labels: unused, as in MONAI 1.6.1.
        reduction: ``"max"`` (worst score), ``"mean"`` or ``"none"`` (no ``aggregate``).
        include_indicators: subset of ``centroid_similarity``, ``effective_rank``,
            ``per_class_rank``, ``domain_shift``, ``separation``; ``None`` = all.
        per_class_in_aggregate: add the worst per-class rank to ``aggregate`` as one term.
        debiased_cka: unbiased HSIC estimator for ``domain_shift``.
        unpaired_domains: ``"subsample"`` (MONAI, warns) or ``"raise"`` when M != N.

    Returns:
        Scalar float32 tensors in [0, 1] (higher = more collapsed), ``None`` where an
        indicator does not apply (fewer than 2 classes, no labels, no target, single-row class).

    Example:
        >>> import torch
        >>> emb = torch.randn(60, 8, generator=torch.Generator().manual_seed(0))
        >>> scores = compute_embedding_collapse(emb, torch.arange(60) % 2)
        >>> sorted(scores)  # doctest: +NORMALIZE_WHITESPACE
        ['aggregate', 'centroid_similarity', 'domain_shift', 'effective_rank_score',
         'per_class_rank_0', 'per_class_rank_1', 'separation']
        >>> scores["domain_shift"] is None
        True
    """
    check_options(reduction, include_indicators, unpaired_domains)
    emb = _check_embeddings(embeddings)
    dev = emb.device
    inc = set(include_indicators) if include_indicators is not None else set(VALID_INDICATORS)
    y = None if labels is None else check_class_labels(labels, emb.shape[0], dev)
    k = 0 if y is None else int(torch.unique(y).numel())
    cka_key = "linear_cka_debiased" if debiased_cka else "linear_cka"
    pair = None
    if "domain_shift" in inc and target_embeddings is not None:
        pair = _pair_domains(emb, _check_target(target_embeddings, dev), unpaired_domains)
    constant = pair is not None and any(_is_constant(m) for m in pair)
    # the source keeps all its rows (paired, or a larger target subsampled): one evaluation
    same_rows = pair is not None and pair[0] is emb and not constant
    wanted = _wanted(inc, k, cka_key if same_rows else None)
    values = _registry_values(emb, y, pair[1] if same_rows and pair else None, wanted)
    if pair is not None and not same_rows and not constant:  # MONAI's subset of the source
        values.update(_registry_values(pair[0], None, pair[1], [cka_key]))

    def scalar(v: float | None) -> torch.Tensor | None:
        if v is None:
            return None
        return torch.tensor(min(1.0, max(0.0, v)), dtype=torch.float32, device=dev)

    scores: dict[str, torch.Tensor | None] = {}
    if "centroid_similarity" in inc:
        cs = values.get("centroid_similarity")
        scores["centroid_similarity"] = scalar(
            None if cs is None else monai_centroid_similarity(cs)
        )
    if "per_class_rank" in inc and y is not None:
        for key, v in _per_class_scores(values, y, emb.shape[1]).items():
            scores[key] = scalar(v)
    if "separation" in inc:
        sil = values.get("silhouette")
        scores["separation"] = scalar(None if sil is None else monai_separation(sil))
    if "effective_rank" in inc:
        scores["effective_rank_score"] = scalar(values["effective_rank_score"])
    if "domain_shift" in inc:
        scores["domain_shift"] = scalar(0.0 if constant else values.get(cka_key))
    if reduction != "none":
        scores["aggregate"] = _aggregate(scores, reduction, per_class_in_aggregate)
    return scores


class EmbeddingCollapseMetric(_MetricBase):
    """MONAI's collapse metric: ``metric(embeddings, labels, target_embeddings)`` -> dict.

    A ``monai.metrics.Metric`` when MONAI is installed (``HAS_MONAI``), a plain class otherwise.
    The defaults reproduce MONAI 1.6.1 exactly; the keyword-only options are collapsekit's
    additions (see the module docstring and docs/metrics.md#monai-embeddingcollapsemetric).

    Args:
        reduction: ``"max"`` (worst score, default), ``"mean"`` or ``"none"``.
        include_indicators: subset of ``centroid_similarity``, ``effective_rank``,
            ``per_class_rank``, ``domain_shift``, ``separation``; ``None`` = all.
        per_class_in_aggregate: the worst per-class rank enters ``aggregate`` (MONAI main).
        debiased_cka: use the unbiased CKA estimator for ``domain_shift`` (small cohorts).
        unpaired_domains: ``"subsample"`` (MONAI 1.6.1, warns) or ``"raise"``.

    Example:
        >>> import torch
        >>> metric = EmbeddingCollapseMetric()
        >>> out = metric(torch.ones(10, 4) + torch.eye(10, 4), torch.arange(10) % 2)
        >>> float(out["aggregate"]) >= float(out["effective_rank_score"])
        True
    """

    def __init__(
        self,
        reduction: str = "max",
        include_indicators: Sequence[str] | None = None,
        *,
        per_class_in_aggregate: bool = False,
        debiased_cka: bool = False,
        unpaired_domains: Literal["subsample", "raise"] = "subsample",
    ) -> None:
        super().__init__()
        check_options(reduction, include_indicators, unpaired_domains)
        self.reduction = reduction
        self.include_indicators = (
            list(include_indicators) if include_indicators is not None else None
        )
        self.per_class_in_aggregate = per_class_in_aggregate
        self.debiased_cka = debiased_cka
        self.unpaired_domains: Literal["subsample", "raise"] = unpaired_domains

    def __call__(
        self,
        embeddings: Any,
        labels: Any = None,
        target_embeddings: Any = None,
        target_labels: Any = None,
    ) -> dict[str, torch.Tensor | None]:
        """Scores for one set of embeddings (see :func:`compute_embedding_collapse`)."""
        return compute_embedding_collapse(
            embeddings,
            labels,
            target_embeddings,
            target_labels,
            reduction=self.reduction,
            include_indicators=self.include_indicators,
            per_class_in_aggregate=self.per_class_in_aggregate,
            debiased_cka=self.debiased_cka,
            unpaired_domains=self.unpaired_domains,
        )


def linear_probe_accuracy(
    train_embeddings: Any,
    train_labels: Any,
    test_embeddings: Any,
    test_labels: Any,
    max_iter: int = 1000,
) -> torch.Tensor:
    """Test accuracy of a logistic regression fitted on the train embeddings (MONAI's helper).

    Same signature and objective as MONAI 1.6.1's ``linear_probe_accuracy`` (scikit-learn's
    ``LogisticRegression()`` defaults: multinomial, L2 with C = 1, raw features), fitted with
    L-BFGS in torch, so scikit-learn is not needed (MONAI raises ``ImportError`` without it).
    Near 1 = the classes are still linearly separable; near chance = collapsed. Test labels
    never seen in training count as errors. Returns a 0-d float32 tensor.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [0.9, 0.2], [-1.0, 0.1], [-0.8, 0.0]])
        >>> y = torch.tensor([0, 0, 1, 1])
        >>> float(linear_probe_accuracy(x, y, x, y))
        1.0
    """
    x_train = check_features(train_embeddings, "train_embeddings", min_rows=2).double()
    dev = x_train.device
    x_test = check_features(
        test_embeddings, "test_embeddings", dim=x_train.shape[1], device=dev
    ).double()
    y_train = check_class_labels(train_labels, x_train.shape[0], dev, "train_labels")
    y_test = check_class_labels(test_labels, x_test.shape[0], dev, "test_labels")
    values, dense = torch.unique(y_train, return_inverse=True)
    if values.numel() < 2:
        raise ValueError(
            "train_labels: expected at least 2 classes to fit a classifier, received "
            f"{values.numel()}"
        )
    w, b = fit_logistic(x_train, dense, values.numel(), c=1.0, max_iter=max_iter)
    pred = values[(x_test @ w + b).argmax(1)]
    return (pred == y_test).double().mean().to(torch.float32)
