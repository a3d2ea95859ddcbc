"""``analyze()``: one call over a matrix, a DataLoader or any stream of batches; every metric
the inputs allow, with provenance, intervals, an isotropic baseline and a verdict.

It loops :class:`collapsekit.engine.Analyzer` over the source: one pass for the exact
statistics and the row sample, and a second pass when the source can be read again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import torch

from collapsekit._validation import check_positive_int
from collapsekit.engine.analyzer import AUTO_BOOTSTRAP_MAX_ROWS, Analyzer, Progress
from collapsekit.engine.sources import Batch, batch_source

if TYPE_CHECKING:  # annotations only: the engine does not import the layers above it here
    from collapsekit.report.report import Report
    from collapsekit.verdict import Thresholds

__all__ = ["AUTO_BOOTSTRAP_MAX_ROWS", "analyze"]


def analyze(
    source: Any,
    labels: Any = None,
    weights: Any = None,
    bias: Any = None,
    reference: Any = None,
    ood_features: Any = None,
    bootstrap: int | None = None,
    seed: int = 0,
    interval_level: float = 0.95,
    probe: bool = True,
    probe_folds: int = 5,
    uniformity_rows: int | None = 4_096,
    global_mean: Literal["class", "sample"] = "class",
    *,
    class_names: Sequence[Any] | None = None,
    sample_rows: int = 20_000,
    batch_size: int = 65_536,
    max_memory_mb: float = 4096,
    second_pass: bool = True,
    thresholds: Thresholds | None = None,
    device: torch.device | str | None = None,
    progress: Progress | None = None,
    metrics: Sequence[str] | None = None,
    precision: Literal["float64", "float32"] = "float64",
) -> Report:
    """Analyse embeddings and return a :class:`Report` with a verdict.

    ``source`` is an N x D tensor or array (with ``labels`` and ``reference`` beside it), or
    an iterable of ``(features, labels)`` / ``(features, labels, reference)`` batches (a
    ``DataLoader``, a list, a generator), or a zero-argument callable returning a fresh
    iterator of them. Labels may be any integers (sparse, up to 2**63) or strings.

    Computes every metric the inputs allow: spectrum (effective rank and its score, RankMe),
    spread (std of L2-normalised rows, uniformity), and with labels the neural-collapse
    metrics, centroid similarity and its leave-one-out stability, cosine silhouette,
    per-class effective rank and a linear-probe accuracy; ``weights`` add NC3/NC4 (rows
    matched to classes by label value, or by ``class_names`` for names), ``ood_features`` NC5,
    ``reference`` linear CKA (biased and debiased).

    Exact over every row in one pass: the NC metrics but NC4, effective rank, RankMe,
    centroid similarity, std of normalised rows, CKA, per-class effective rank (within
    ``max_memory_mb``). NC4, silhouette and leave-one-out stability are exact when the source
    can be read twice (``second_pass=True``, the default, for matrices, lists, DataLoaders and
    callables); otherwise each sampled row is scored against the exact class statistics. The
    same second pass resolves a spectrum tail below the moments' float64 floor (rank-deficient
    float32 rows), when there is one; a one-shot source cuts it (within 1e-3) and says so. The
    probe and uniformity use the seeded sample of ``sample_rows`` rows (all rows when N is
    smaller). ``report.provenance`` says, for each metric, which of these applies.

    Args:
        bootstrap: resamples for percentile intervals (stratified by class; paired with
            ``reference``). ``None``: 200 when N <= 500, else 0.
        uniformity_rows: uniformity is O(N^2): at most this many sampled rows (4,096 by
            default: about 8.4 million pairs, within about 0.001 of the exact value on
            10,000 rows, see docs/metrics.md#uniformity; ``None``: every sampled row).
        probe: fit the linear probe (``probe_folds`` stratified folds, fewer when the
            smallest class is smaller).
        batch_size: rows per batch when ``source`` is a matrix.
        progress: ``progress(stage, done, total_or_None)`` as each stage advances: ``"pass 1"``
            and ``"pass 2"`` count rows (total None when the source's length is unknown),
            ``"sample: linear probe"`` rows, ``"baseline"`` the isotropic null's steps and
            ``"bootstrap"`` resamples (every 25).
        thresholds: the verdict's rules (:class:`collapsekit.Thresholds`), echoed in the report.
        metrics: compute only these metrics (registry keys, ``collapsekit.metrics.keys()``)
            and what they depend on; ``None`` (default): every metric the inputs allow. The
            verdict then judges what was computed and lists the tests it could not run.
        precision: ``"float64"`` (default): exact scatter products; ``"float32"``: float32
            GEMMs, about 2x faster on CPU, spectrum tail below ~1e-7 of the top eigenvalue not
            resolved (said in the provenance); see :class:`~collapsekit.Analyzer`.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(300, 16, generator=g)
        >>> report = analyze(x, torch.arange(300) % 3, bootstrap=0)
        >>> report.verdict.label
        'class collapse'
        >>> report.provenance["silhouette"]
        'exact over all 300 rows (every row held in the sample)'
        >>> analyze(x, torch.arange(300) % 3, sample_rows=100).provenance["silhouette"]
        'exact over all 300 rows (second pass)'
        >>> batches = [(x[i : i + 100], torch.arange(100) % 3) for i in range(0, 300, 100)]
        >>> analyze(iter(batches), bootstrap=0).provenance["silhouette"]
        'exact over all 300 rows (every row held in the sample)'
        >>> report = analyze(x[:, :1] * torch.ones(1, 16) + 1e-6 * x, bootstrap=0)
        >>> report.verdict.label
        'dimensional collapse'
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    sample_rows = check_positive_int(sample_rows, "sample_rows")
    src = batch_source(source, labels, reference, batch_size)
    analyzer = Analyzer(
        class_names=class_names,
        sample_rows=sample_rows,
        seed=seed,
        global_mean=global_mean,
        device=device,
        max_memory_mb=max_memory_mb,
        # a matrix that fits in the row sample gives exact per-class ranks from its rows: the
        # per-class D x D scatters (K x D^2 float64 per batch) would be computed for nothing
        exact_per_class=src.rows is None or src.rows > sample_rows,
        precision=precision,
    )
    report_progress: Progress = progress or (lambda stage, done, total: None)
    done = 0
    for x, y, ref in src.batches():
        try:
            analyzer.update(x, y, ref)
        except ValueError as exc:
            if done == 0:
                raise
            # row indices in the message count from the batch: say where the batch starts
            raise ValueError(f"{exc} [in the batch starting at row {done}]") from exc
        done += len(x)
        report_progress("pass 1", done, src.rows)
    again: Callable[[], Iterator[Batch]] | None = (
        src.batches if (second_pass and src.reiterable) else None
    )
    if again is not None and analyzer.reservoir.size == analyzer.n_rows:
        again = None  # every row is in the sample already: the sample pass is exact
    return analyzer.compute(
        weights,
        bias,
        ood_features,
        second_pass=again,
        bootstrap=bootstrap,
        interval_level=interval_level,
        probe=probe,
        probe_folds=probe_folds,
        uniformity_rows=uniformity_rows,
        thresholds=thresholds,
        progress=report_progress,
        metrics=metrics,
    )
