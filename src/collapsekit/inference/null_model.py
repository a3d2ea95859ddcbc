"""The null model every verdict rule compares with: isotropic rows, random labels, same sizes.

"Isotropic Gaussian rows with the same N, D and class sizes, labels assigned at random" is what
an embedding that carries no structure at all looks like. Each rule of
:func:`collapsekit.verdict.decide` reads a metric *relative to its value here*, so the same
rule means the same thing for 14 slides in 1,536 dimensions and for 50,000 sentences in 384.

How each null value is obtained (all seeded, so a report is reproducible):

* ``effective_rank``, ``effective_rank_score``, ``dead_directions`` (and the report's isotropic
  spectrum): closed
  form, the Marchenko-Pastur quantile spectrum of a centred N x D Gaussian matrix
  (:func:`collapsekit.functional.marchenko_pastur.isotropic_singular_values`): the typical
  spectrum, within 0.15% of the mean effective rank of simulated draws (closer than a single
  draw), at no eigendecomposition's cost.
* ``std_of_l2_normalized``, ``centroid_similarity``, ``silhouette``: seeded simulation on
  ``min(N, max_rows)`` Gaussian rows (labels: a random permutation of the real label
  multiset, cut to the simulated rows).
* ``nc1``, ``nc1_quotient``, ``etf_error``, ``equinorm``, ``equiangularity``, ``max_angle``,
  ``cdnv``: the mean over :func:`null_draws` seeded simulations (32 for up to ~145 classes,
  down to 4 from ~290) of the K class means and the within-class scatter, with their standard
  deviation as
  ``<key>_null_sd`` (the verdict's neural-collapse z-scores read it). Each simulation is *exact
  in distribution*: the mean of ``n_c`` iid ``N(0, I_D)`` rows is ``N(0, I_D / n_c)``,
  independent of the within-class scatter ``Wishart_D(N - K, I)``, whose compression onto the
  (independent) span of the means, all that NC1 reads, is drawn as a Wishart of that dimension
  (with few rows per class in many dimensions its fluctuation sets NC1's null spread). Every
  NC metric depends on the means only through their Gram matrix, so when ``D > K`` the means
  are drawn in K dimensions with the Gram of a ``Wishart_K(D, I)`` (Bartlett decomposition):
  the cost is O(K^2) (O(K^2 N) for the within scatter of small N), whatever D.
  The metrics are then computed with the very kernel that computes them on data
  (``neural_collapse_from_moments``), so the definitions cannot drift. No cap on N: the real
  class sizes are used.
* ``linear_probe_accuracy`` (and ``chance_accuracy``): closed form, the majority-class fraction
  ``max_c n_c / N`` (the best a classifier does on random labels in expectation).
* ``pairwise_separation`` (the merged-classes statistic, see
  :mod:`collapsekit.functional.class_separation`): closed form, 1.
* ``class_variance_ratio`` (a class's variance over the median class's): closed form, 1.
* ``per_class_effective_rank_n{s}``: closed form (Marchenko-Pastur, as above) for a class of
  ``s`` isotropic rows, for up to ``per_class_sizes`` representative class sizes;
  :func:`per_class_rank_null` interpolates in log size for the others.
  ``per_class_effective_rank`` is the value at the median class size.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import torch

from collapsekit.functional.centroid_similarity import centroid_similarity
from collapsekit.functional.effective_rank import entropy_rank, score_from_singular_values
from collapsekit.functional.marchenko_pastur import isotropic_singular_values
from collapsekit.functional.neural_collapse import neural_collapse_from_moments
from collapsekit.functional.silhouette import silhouette
from collapsekit.functional.spectrum import dead_directions
from collapsekit.functional.std_of_l2_normalized import std_of_l2_normalized
from collapsekit.metrics.registry import keys

#: Cap on simulated rows (cost): the spread and centroid-similarity nulls use at most this many.
NULL_MAX_ROWS = 5_000
#: Silhouette of the null is simulated only up to this many rows (it is O(N K D)).
NULL_SILHOUETTE_MAX_ROWS = 5_000
#: The nulls obtained by simulating rows (the others are closed forms or cost O(K^2)):
#: ``isotropic_null(simulate=...)`` can leave out those of metrics nobody asked for.
SIMULATED_NULLS = frozenset(
    {"std_of_l2_normalized", "centroid_similarity", "silhouette", "neural_collapse"}
)
#: The keys the NC null gives (simulated class means; ``"neural_collapse"`` in ``simulate``):
#: the registry's neural-collapse metrics that have a null.
NC_NULL_KEYS = frozenset(keys("null")) & frozenset(keys("neural collapse", by="section"))
#: Cap on K * min(K, D) doubles for the simulated class means (128 MiB).
NULL_MAX_MEAN_ENTRIES = 2**24
#: Cap on simulated classes (the NC pair sums are O(K^2 D): 200,000 classes would cost as much
#: as the data's own sweep): past it the null's class sizes are a random subset of this many.
NULL_MAX_CLASSES = 20_000
#: Draws of the class means behind each NC null (mean and spread), and the work bound
#: (K^3 per draw) that lowers it for many classes.
NULL_NC_DRAWS = 32
NULL_NC_WORK = 10**8
#: ``null[key + NULL_SD_SUFFIX]`` is the standard deviation of ``null[key]`` over the draws.
NULL_SD_SUFFIX = "_null_sd"

#: Steps the null's ``progress`` counts: spectrum and spread, class geometry, NC, per-class.
NULL_STEPS = 4

_PER_CLASS_KEY = re.compile(r"^per_class_effective_rank_n(\d+)$")


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed) + 7919)


def _simulated_means(counts: torch.Tensor, d: int, g: torch.Generator) -> tuple[torch.Tensor, int]:
    """Class means of isotropic rows (rows ``N(0, I/n_c)``), or a K-dimensional draw with the same
    Gram distribution when D > K (Bartlett: ``L L^T ~ Wishart_K(D, I)``)."""
    k = counts.numel()
    scale = counts.double().rsqrt()[:, None]
    if d <= k:
        return torch.randn(k, d, generator=g, dtype=torch.float64) * scale, d
    # Bartlett: L lower triangular, L_ii = sqrt(chi2(D - i)), i = 0..K-1, L_ij ~ N(0, 1) below
    low = torch.randn(k, k, generator=g, dtype=torch.float64).tril(-1)
    chi2 = _chi2(torch.arange(d, d - k, -1, dtype=torch.float64), g)
    low = low + torch.diag(chi2.sqrt())
    return low * scale, k


def _wishart(dim: int, dof: int, g: torch.Generator) -> torch.Tensor:
    """A ``Wishart_dim(dof, I)`` draw: the within-class scatter of isotropic rows compressed onto
    the (independent) span of the simulated means. Its fluctuation matters when the classes
    have few rows in many dimensions (NC1's null spread would be 10x too narrow with the
    expectation ``dof x I`` in its place)."""
    if dof <= 0:
        return torch.zeros(dim, dim, dtype=torch.float64)
    if dof <= 2 * dim:
        z = torch.randn(dof, dim, generator=g, dtype=torch.float64)
        return z.T @ z
    low = torch.randn(dim, dim, generator=g, dtype=torch.float64).tril(-1)
    chi2 = _chi2(torch.arange(dof, dof - dim, -1, dtype=torch.float64), g)
    low = low + torch.diag(chi2.sqrt())
    return low @ low.T


def _chi2(dof: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Chi-square draws of the given degrees of freedom, seeded by ``g`` (torch's Gamma sampler
    takes no generator: the global one is forked and seeded from ``g``)."""
    with torch.random.fork_rng(devices=[]):
        # the CPU generator alone: torch.manual_seed also queues a seed for every accelerator,
        # recording a stack trace each time (a third of the null's cost at K = 10)
        torch.default_generator.manual_seed(int(torch.randint(0, 2**62, (1,), generator=g)))
        return torch.distributions.Chi2(dof).sample()


def _nc_draw(counts: torch.Tensor, d: int, g: torch.Generator) -> dict[str, float]:
    """The NC metrics of one draw of isotropic class means (module docstring)."""
    k = counts.numel()
    means, dim = _simulated_means(counts, d, g)
    n_sub = int(counts.sum())
    within = _wishart(dim, n_sub - k, g)
    sq_dev = (counts.double() - 1.0) * d  # E sum_{i in c} ||h_i - mu_c||^2
    out = neural_collapse_from_moments(
        means=means,
        counts=counts,
        within_scatter=within,
        class_sq_deviation=sq_dev,
        global_mean=means.mean(0),
    )
    res = {key: float(out[key]) for key in keys("null") if key in out}
    # nc1_quotient = tr(Sigma_W) / tr(Sigma_B) needs the full D-dimensional within trace
    centred = means - means.mean(0)
    tr_b = float(centred.square().sum()) / k
    if tr_b > 0:
        res["nc1_quotient"] = (n_sub - k) / n_sub * d / tr_b
    return res


def null_draws(k: int) -> int:
    """How many draws of the class means the NC null averages (their spread is the null's
    ``*_null_sd``): 32, fewer for many classes (each draw costs O(K^3); many classes also
    concentrate the null, so a rough sd serves), never below 4.

    Example:
        >>> null_draws(10), null_draws(5000)
        (32, 4)
    """
    return int(min(NULL_NC_DRAWS, max(4, NULL_NC_WORK // max(k, 1) ** 3)))


def _nc_null(counts: torch.Tensor, n: int, d: int, g: torch.Generator) -> dict[str, float]:
    k = counts.numel()
    if k * min(k, d) > NULL_MAX_MEAN_ENTRIES or k > NULL_MAX_CLASSES:
        # keep a random subset of classes (documented cost cap); sizes keep their distribution
        keep = max(2, min(NULL_MAX_MEAN_ENTRIES // min(k, d), NULL_MAX_CLASSES))
        counts = counts[torch.randperm(k, generator=g)[:keep]]
        k = keep
    draws = [_nc_draw(counts, d, g) for _ in range(null_draws(k))]
    res: dict[str, float] = {}
    for key in draws[0]:
        vals = torch.tensor([dr[key] for dr in draws], dtype=torch.float64)
        vals = vals[torch.isfinite(vals)]
        if vals.numel():
            res[key] = float(vals.mean())
            res[f"{key}{NULL_SD_SUFFIX}"] = float(vals.std()) if vals.numel() > 1 else math.nan
    return res


def _representative_sizes(sizes: torch.Tensor, most: int, min_ratio: float = 1.1) -> list[int]:
    """At most ``most`` class sizes spanning the real ones on a log grid, consecutive picks at
    least ``min_ratio`` apart: the null per-class rank is smooth in log size (interpolated
    between picks), so sizes within 10% of each other share one simulation (ten classes of
    970-1,030 rows need one, not eight)."""
    distinct = sorted({int(s) for s in sizes.tolist() if s >= 2})
    if not distinct:
        return []
    span = math.log(distinct[-1] / distinct[0])
    points = min(most, len(distinct), 1 + int(span / math.log(min_ratio)))
    if points <= 1:
        return [distinct[(len(distinct) - 1) // 2]]
    logs = torch.tensor([math.log(s) for s in distinct], dtype=torch.float64)
    grid = torch.linspace(float(logs[0]), float(logs[-1]), points, dtype=torch.float64)
    picked = {distinct[int((logs - v).abs().argmin())] for v in grid.tolist()}
    return sorted(picked)


_CACHE: OrderedDict[tuple[Any, ...], tuple[dict[str, float], list[float]]] = OrderedDict()
_CACHE_SIZE = 16


# size: public function: the shape to simulate plus keyword-only options
def isotropic_null(
    n: int,
    d: int,
    class_counts: torch.Tensor | None,
    seed: int,
    device: torch.device | str | None = None,
    *,
    max_rows: int = NULL_MAX_ROWS,
    with_silhouette: bool = True,
    silhouette_max_rows: int = NULL_SILHOUETTE_MAX_ROWS,
    per_class_sizes: int = 8,
    simulate: frozenset[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, float], list[float]]:
    """Metrics of isotropic Gaussian rows of the same N, D and class sizes, random labels.

    Args:
        n, d: rows and width of the data.
        class_counts: rows per class (dense ids; zeros are ignored), or ``None`` without labels.
        seed: the null is seeded (same seed, same values).
        device: where the row simulation runs (the data's device); results are floats.
        max_rows: cap on simulated rows for the spread and centroid-similarity nulls (cost).
        with_silhouette: simulate the silhouette null (needed when no probe is fitted); it is
            always simulated up to ``silhouette_max_rows`` rows.
        per_class_sizes: how many representative class sizes get a per-class effective-rank
            null (the others are interpolated).
        simulate: the simulated nulls to compute (keys of :data:`SIMULATED_NULLS`;
            ``"neural_collapse"`` stands for the :data:`NC_NULL_KEYS`, 32 draws of class means);
            ``None``: all. The others are left out (``analyze(metrics=...)`` skips the
            simulation of metrics it does not compute); the values kept are unchanged.
        progress: ``progress(done, total)`` after each of the simulation's
            :data:`NULL_STEPS` steps (at once with ``(total, total)`` for a cached null).

    Returns:
        ``(null, spectrum)``: the null metrics (module docstring says how each is obtained) and
        the isotropic normalised singular values ``s / sum(s)`` (Marchenko-Pastur).

    Read it: a metric near its null value means "no more structure than noise"; the verdict's
    thresholds are ratios or margins relative to these values.

    The last 16 nulls are kept (keyed by every argument): a monitor that analyses the same
    shapes every epoch pays for the simulation once.

    Example:
        >>> null, spectrum = isotropic_null(600, 16, torch.tensor([200, 200, 200]), seed=0)
        >>> round(null["linear_probe_accuracy"], 3), null["pairwise_separation"]
        (0.333, 1.0)
        >>> 14 < null["effective_rank"] <= 16
        True
    """
    if n < 1 or d < 1:
        raise ValueError(f"n, d: expected positive sizes, received n={n!r}, d={d!r}")
    dev = torch.device(device) if device is not None else torch.device("cpu")
    counts_key = (
        None
        if class_counts is None
        else tuple(torch.as_tensor(class_counts).detach().to("cpu", torch.int64).flatten().tolist())
    )
    key = (
        int(n), int(d), counts_key, int(seed), str(dev), int(max_rows), bool(with_silhouette),
        int(silhouette_max_rows), int(per_class_sizes),
        None if simulate is None else tuple(sorted(simulate)),
    )  # fmt: skip
    step = progress or (lambda done, total: None)
    if key in _CACHE:  # a monitor or a sweep asks for the same null again and again
        _CACHE.move_to_end(key)
        cached, spectrum = _CACHE[key]
        step(NULL_STEPS, NULL_STEPS)
        return dict(cached), list(spectrum)
    wanted = SIMULATED_NULLS if simulate is None else frozenset(simulate) & SIMULATED_NULLS
    out, spectrum = _simulate(
        n, d, class_counts, seed, dev, max_rows, with_silhouette, silhouette_max_rows,
        per_class_sizes, wanted, step,
    )  # fmt: skip
    _CACHE[key] = (dict(out), list(spectrum))
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return out, spectrum


# size: isotropic_null's arguments passed through unchanged
def _simulate(
    n: int,
    d: int,
    class_counts: torch.Tensor | None,
    seed: int,
    dev: torch.device,
    max_rows: int,
    with_silhouette: bool,
    silhouette_max_rows: int,
    per_class_sizes: int,
    wanted: frozenset[str],
    step: Callable[[int, int], None],
) -> tuple[dict[str, float], list[float]]:
    g = _generator(seed)
    step(0, NULL_STEPS)
    s = isotropic_singular_values(n, d)
    out: dict[str, float] = {
        "effective_rank": entropy_rank(s),
        "effective_rank_score": score_from_singular_values(s, n, d),
        "dead_directions": float(dead_directions(s, n, d)),
    }
    rows = min(int(n), int(max_rows))
    # drawn even when no simulated null is wanted: the draws below continue the same generator
    # widened once (exactly): every null kernel below works in float64 and would copy it
    z = torch.randn(rows, d, generator=g).to(dev, torch.float64)
    if rows >= 2 and "std_of_l2_normalized" in wanted:
        out["std_of_l2_normalized"] = std_of_l2_normalized(z)
    step(1, NULL_STEPS)
    if class_counts is not None:
        counts = torch.as_tensor(class_counts).detach().to("cpu", torch.int64).flatten()
        counts = counts[counts > 0]
        k = int(counts.numel())
        total = int(counts.sum())
        if total != n:
            raise ValueError(
                f"class_counts: expected counts summing to n={n}, received a total of {total}"
            )
        if k >= 2:
            out["linear_probe_accuracy"] = float(counts.max()) / total
            out["chance_accuracy"] = out["linear_probe_accuracy"]
            out["pairwise_separation"] = 1.0
            out["class_variance_ratio"] = 1.0
            labels = torch.repeat_interleave(torch.arange(k), counts)
            yb = labels[torch.randperm(total, generator=g)[:rows]].to(dev)
            if int(torch.unique(yb).numel()) >= 2:
                if "centroid_similarity" in wanted:
                    out["centroid_similarity"] = centroid_similarity(z, yb)
                kb = int(torch.unique(yb).numel())
                wants_silhouette = with_silhouette or rows <= silhouette_max_rows
                if kb < rows and wants_silhouette and "silhouette" in wanted:
                    out["silhouette"] = silhouette(z, yb)
            step(2, NULL_STEPS)
            if "neural_collapse" in wanted:
                out.update(_nc_null(counts, total, d, g))
            step(3, NULL_STEPS)
            sizes = _representative_sizes(counts, per_class_sizes)
            for size in sizes:
                out[f"per_class_effective_rank_n{size}"] = entropy_rank(
                    isotropic_singular_values(size, d)
                )
            if sizes:
                median = int(counts.median())
                out["per_class_effective_rank"] = per_class_rank_null(out, max(median, 2))
    spectrum = (s / s.sum().clamp_min(1e-300)).tolist() if s.numel() else []
    step(NULL_STEPS, NULL_STEPS)
    return out, spectrum


def per_class_rank_null(null: Mapping[str, Any], size: int) -> float:
    """The null per-class effective rank for a class of ``size`` rows, read from the
    ``per_class_effective_rank_n{s}`` entries of ``null`` (linear in log size between the
    simulated sizes, constant beyond them). NaN when ``null`` holds none or ``size < 2``.

    Example:
        >>> per_class_rank_null({"per_class_effective_rank_n10": 8.0,
        ...                      "per_class_effective_rank_n1000": 20.0}, 100)
        14.0
    """
    points = sorted(
        (int(m.group(1)), float(v))
        for key, v in null.items()
        if (m := _PER_CLASS_KEY.match(key)) is not None
    )
    if not points or size < 2:
        return math.nan
    if size <= points[0][0]:
        return points[0][1]
    if size >= points[-1][0]:
        return points[-1][1]
    for (s0, v0), (s1, v1) in itertools.pairwise(points):
        if s0 <= size <= s1:
            w = (math.log(size) - math.log(s0)) / (math.log(s1) - math.log(s0))
            return v0 + w * (v1 - v0)
    return points[-1][1]  # pragma: no cover
