"""The Analyzer's state: created on the first batch, grown with new classes, and checked
before a saved ``Analyzer.state_dict()`` is loaded.

:func:`start_empty` creates the accumulators once the width is known (first batch, or a rank
without rows joining ``all_reduce``); :func:`started` returns them or raises a clear
ValueError (no ``assert``); :func:`grow` widens the class axis within the memory budget
(:mod:`collapsekit.engine.budget`).

The checks run before anything changes; a failure is a ValueError that names the key, what
was expected and what was received. The accumulators check their own tensors when loaded; this
module checks what ties them together (widths, counts, class ids, label values).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import torch

from collapsekit.engine.budget import (
    check_class_memory,
    grown_capacity,
    per_class_budget_note,
    per_class_fits,
)
from collapsekit.stats._accumulator import distributed_active
from collapsekit.stats.class_scatter import PerClassScatter
from collapsekit.stats.class_stats import ClassStats
from collapsekit.stats.cross_moments import CrossMoments
from collapsekit.stats.unit_moments import UnitVectorMoments

if TYPE_CHECKING:  # annotations only
    from collapsekit.engine.analyzer import Analyzer

STATE_VERSION = 1
_KEYS = (
    "version",
    "options",
    "dim",
    "labelled",
    "reference_dim",
    "input_dtype",
    "n_rows",
    "capacity",
    "encoder",
    "class_stats",
    "units",
    "per_class",
    "per_class_note",
    "cross",
    "reservoir",
)
_OPTIONS = ("sample_rows", "seed", "global_mean", "max_memory_bytes")


def _fail(key: str, expected: str, received: Any) -> None:
    raise ValueError(
        f"state[{key!r}]: expected {expected}, received {received!r}; pass a dictionary written "
        "by Analyzer.state_dict() unchanged"
    )


def _int(state: dict[str, Any], key: str, minimum: int, optional: bool = False) -> int | None:
    value = state[key]
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        _fail(key, f"an integer >= {minimum}" + (" or None" if optional else ""), value)
    return int(value)


def _counts(section: Any, key: str) -> torch.Tensor:
    if not isinstance(section, dict) or "counts" not in section:
        _fail(key, "a dictionary with 'counts'", type(section).__name__)
    counts = torch.as_tensor(section["counts"])
    if counts.dim() != 1 or counts.dtype.is_floating_point or bool((counts < 0).any()):
        _fail(f"{key}.counts", "a 1-D tensor of non-negative integers", counts)
    return counts


def check_state(state: Any) -> None:
    """Raise ValueError naming the key when ``state`` is not a consistent Analyzer state.

    Checks: the version, every key present, the options, ``dim`` / ``labelled`` /
    ``reference_dim`` against the accumulators' widths, ``n_rows`` = the class counts' sum,
    ``capacity`` = the class statistics' rows, the label values covering every class with
    rows, and the sampled rows' width and class ids.

    Example:
        >>> check_state({"version": 1})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: state['options']: expected the key (an Analyzer.state_dict()), received ...
    """
    version = state.get("version") if isinstance(state, dict) else None
    if version != STATE_VERSION:
        raise ValueError(
            f"state: expected an Analyzer.state_dict() of version {STATE_VERSION}, received "
            f"{type(state).__name__} with version {version!r}"
        )
    for key in _KEYS:
        if key not in state:
            _fail(key, "the key (an Analyzer.state_dict())", "nothing")
    opts = state["options"]
    if not isinstance(opts, dict):
        _fail("options", "a dictionary", type(opts).__name__)
    for key in _OPTIONS:
        if key not in opts:
            _fail(f"options.{key}", "the key", "nothing")
    dim = _int(state, "dim", 1, optional=True)
    ref_dim = _int(state, "reference_dim", 1, optional=True)
    n_rows = int(_int(state, "n_rows", 0) or 0)
    capacity = int(_int(state, "capacity", 0) or 0)
    labelled = state["labelled"]
    if labelled not in (None, True, False):
        _fail("labelled", "True, False or None", labelled)
    encoder = state["encoder"]
    if not isinstance(encoder, dict) or not isinstance(encoder.get("values", []), list):
        _fail("encoder", "a dictionary with a list of 'values'", type(encoder).__name__)
    num_values = len(encoder.get("values", []))
    cs = state["class_stats"]
    if cs is None:
        _check_empty(state, n_rows)
        return
    if dim is None or labelled is None:
        raise ValueError(
            f"state['dim']: expected the feature width (the class statistics exist), received "
            f"{dim!r}; pass a dictionary written by Analyzer.state_dict() unchanged"
        )
    if not isinstance(cs, dict) or cs.get("dim") != dim or cs.get("num_classes") != capacity:
        _fail(
            "class_stats",
            f"statistics of {capacity} classes (capacity) x {dim} features (dim)",
            None if not isinstance(cs, dict) else (cs.get("num_classes"), cs.get("dim")),
        )
    counts = _counts(cs, "class_stats")
    if counts.numel() != capacity:
        _fail("class_stats.counts", f"{capacity} counts (capacity)", counts.numel())
    left_out = _left_out(state)
    if int(counts.sum()) + left_out != n_rows:
        _fail("n_rows", f"the class counts' sum {int(counts.sum())} + {left_out} left out", n_rows)
    if labelled and bool((counts[num_values:] > 0).any()):
        _fail("encoder.values", f"a label value for each class with rows ({capacity})", num_values)
    if not labelled and (num_values or capacity != 1):
        _fail("encoder.values", "no label values and capacity 1 (unlabelled)", num_values)
    if state["units"] is None:
        _fail("units", "the unit-vector sums (the class statistics exist)", None)
    if (state["cross"] is None) != (ref_dim is None):
        _fail("cross", f"cross moments exactly when reference_dim is set ({ref_dim})", "other")
    if state["per_class"] is not None:
        per = _counts(state["per_class"], "per_class")
        if per.numel() != capacity or int(per.sum()) > n_rows:
            _fail("per_class.counts", f"{capacity} counts summing to <= {n_rows}", per)
    _check_reservoir(state["reservoir"], dim, max(num_values, 1), ref_dim)


def _left_out(state: dict[str, Any]) -> int:
    """Rows the dense-label pass (``num_classes=K``) saw but left out of every class."""
    invalid = state.get("invalid")
    return int(invalid[2]) if isinstance(invalid, list) and len(invalid) == 3 else 0


def _check_empty(state: dict[str, Any], n_rows: int | None) -> None:
    for key in ("units", "per_class", "cross"):
        if state[key] is not None:
            _fail(key, "None (no class statistics yet)", type(state[key]).__name__)
    if n_rows:
        _fail("n_rows", "0 (no class statistics yet)", n_rows)


def _check_reservoir(res: Any, dim: int, num_classes: int, ref_dim: int | None) -> None:
    if not isinstance(res, dict) or "rows" not in res or "labels" not in res:
        _fail("reservoir", "a dictionary with 'rows' and 'labels'", type(res).__name__)
    if res["rows"] is None:
        return
    rows, labels = torch.as_tensor(res["rows"]), torch.as_tensor(res["labels"])
    if rows.dim() != 2 or rows.shape[1] != dim:
        _fail("reservoir.rows", f"rows of width {dim} (dim)", tuple(rows.shape))
    if not bool(torch.isfinite(rows).all()):
        _fail("reservoir.rows", "finite values", "NaN or Inf")
    if labels.shape != rows.shape[:1] or labels.dtype.is_floating_point:
        _fail("reservoir.labels", f"{rows.shape[0]} integer class ids", tuple(labels.shape))
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        _fail("reservoir.labels", f"class ids in 0..{num_classes - 1}", int(labels.max()))
    ref = res.get("reference")
    if (ref is None) != (ref_dim is None):
        _fail("reservoir.reference", "reference rows exactly when reference_dim is set", ref_dim)


# ---------------------------------------------------------------------- first-batch state
class Started(NamedTuple):
    """The state an Analyzer creates on its first batch."""

    dim: int
    class_stats: ClassStats
    units: UnitVectorMoments


def started(a: Analyzer) -> Started:
    """``a``'s first-batch state, or a ValueError when no batch has created it yet.

    Example:
        >>> from collapsekit import Analyzer
        >>> started(Analyzer())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: features: expected the Analyzer to have seen a first batch ...
    """
    if a.class_stats is None or a.units is None or a.dim is None:
        raise ValueError(
            "features: expected the Analyzer to have seen a first batch (its statistics are "
            "created from it), received none; call update() with rows first"
        )
    return Started(a.dim, a.class_stats, a.units)


def start_empty(
    a: Analyzer,
    dim: int,
    labelled: bool,
    reference_dim: int | None,
    input_dtype: str | None,
    device: torch.device,
) -> None:
    """Create ``a``'s (empty) accumulators of ``dim``-wide rows: on the first batch, or on a
    rank without rows that takes part in ``all_reduce``."""
    a.device = a.device or device
    a.dim, a.labelled, a.input_dtype = dim, labelled, input_dtype
    a.capacity = 1 if not labelled else max(1, a.encoder.num_classes, 16)
    a.class_stats = ClassStats(
        a.capacity, dim, device=a.device, global_mean=a.global_mean, precision=a.precision
    )
    a.units = UnitVectorMoments(a.capacity, dim, a.device, a.precision)
    fits = per_class_fits(a.capacity, dim, a.max_memory_bytes)
    if labelled and a.exact_per_class and fits:
        a.per_class_pending = True
    elif labelled and a.exact_per_class:
        drop_per_class(a, a.capacity)
    elif labelled:
        a.per_class_note = (
            "per-class effective ranks from the row sample (exact_per_class=False): exact "
            "only while every row is held in the sample"
        )
    if reference_dim is not None:
        a.reference_dim = reference_dim
        a.cross = CrossMoments(dim, reference_dim, a.device)
    if distributed_active():
        import torch.distributed as dist

        a.reservoir.stream = dist.get_rank()


def start_per_class(a: Analyzer) -> None:
    """Start the exact per-class scatters (when pending) from the rows held so far: all of
    them, since the sample still holds every row (``n_rows <= sample_rows``)."""
    if not a.per_class_pending:
        return
    a.per_class_pending = False
    dim = started(a).dim
    if a.reservoir.size != a.n_rows:
        raise RuntimeError(
            f"per-class scatters start from the sample: expected it to hold all {a.n_rows} "
            f"rows, received {a.reservoir.size}"
        )
    a.per_class = PerClassScatter(a.capacity, dim, a.device)
    res = a.reservoir
    if res.rows is not None and res.labels is not None and res.size:
        a.per_class.update(res.rows.to(a.device), res.labels.to(a.device))


def drop_per_class(a: Analyzer, k: int) -> None:
    """Give up the exact per-class scatters (over the budget for ``k`` classes)."""
    a.per_class = None
    a.per_class_pending = False
    a.per_class_note = per_class_budget_note(k, started(a).dim, a.max_memory_bytes)


def grow(a: Analyzer, k: int) -> None:
    """Widen ``a``'s class axis to hold ``k`` classes (memory checked before anything
    changes; the per-class scatters are dropped when they leave the budget)."""
    dim, class_stats, units = started(a)
    available = check_class_memory(k, dim)
    new_cap = grown_capacity(k, a.capacity, dim, available)
    mapping = torch.arange(a.capacity)
    class_stats.remap_classes(mapping, new_cap)
    units.remap_classes(mapping.to(units.shift.device), new_cap)
    if a.per_class is not None or a.per_class_pending:
        if not per_class_fits(new_cap, dim, a.max_memory_bytes):
            drop_per_class(a, new_cap)
        elif a.per_class is not None:
            a.per_class.remap_classes(mapping.to(a.per_class.counts.device), new_cap)
    a.capacity = new_cap


# ---------------------------------------------------------------------- save and restore
def analyzer_state(a: Analyzer, per_class: bool = True) -> dict[str, Any]:
    """``a.state_dict()``: the options, the shape, the label encoder and every accumulator's
    own ``state_dict`` (tensors cloned); ``per_class=False`` leaves out the per-class
    scatters (``merge`` reads them in place)."""
    return {
        "version": STATE_VERSION,
        "options": {
            "sample_rows": a.sample_rows,
            "seed": a.seed,
            "global_mean": a.global_mean,
            "max_memory_bytes": a.max_memory_bytes,
            "exact_per_class": a.exact_per_class,
            "alpha_fit_range": list(a.alpha_fit_range),
            "precision": a.precision,
            "num_classes": a.num_classes,
        },
        "dim": a.dim,
        "labelled": a.labelled,
        "reference_dim": a.reference_dim,
        "input_dtype": a.input_dtype,
        "n_rows": a.n_rows,
        "capacity": a.capacity,
        "encoder": a.encoder.state_dict(),
        "class_stats": None if a.class_stats is None else a.class_stats.state_dict(),
        "units": None if a.units is None else a.units.state_dict(),
        "per_class": None if a.per_class is None or not per_class else a.per_class.state_dict(),
        "per_class_pending": a.per_class_pending,
        "per_class_note": a.per_class_note,
        "cross": None if a.cross is None else a.cross.state_dict(),
        "reservoir": a.reservoir.state_dict(),
        # rows left out by the dense-label pass (num_classes=K), checked at compute()
        "invalid": None if a.invalid is None else a.invalid.tolist(),
    }


def restore(fresh: Analyzer, state: dict[str, Any], device: torch.device | None) -> None:
    """Fill ``fresh`` (a new Analyzer built with ``state``'s options) from a checked
    ``state`` (:func:`check_state`): its shape, encoder and accumulators on ``device``
    (``None``: where the saved class statistics were)."""
    fresh.encoder.load_state_dict(state["encoder"])
    fresh.dim, fresh.labelled = state["dim"], state["labelled"]
    fresh.reference_dim, fresh.input_dtype = state["reference_dim"], state["input_dtype"]
    fresh.n_rows, fresh.capacity = int(state["n_rows"]), int(state["capacity"])
    fresh.per_class_note = state["per_class_note"]
    fresh.per_class_pending = bool(state.get("per_class_pending", False))
    if state["class_stats"] is not None:
        cs = state["class_stats"]
        dev = device or torch.as_tensor(cs["counts"]).device
        fresh.device = dev
        fresh.class_stats = ClassStats(
            int(cs["num_classes"]),
            int(cs["dim"]),
            device=dev,
            global_mean=fresh.global_mean,
            precision=fresh.precision,
        )
        fresh.class_stats.load_state_dict(cs)
        fresh.units = UnitVectorMoments(fresh.capacity, int(cs["dim"]), dev, fresh.precision)
        fresh.units.load_state_dict(state["units"])
        if state["per_class"] is not None:
            fresh.per_class = PerClassScatter(fresh.capacity, int(cs["dim"]), dev)
            fresh.per_class.load_state_dict(state["per_class"])
        if state["cross"] is not None:
            fresh.cross = CrossMoments(int(cs["dim"]), int(state["reference_dim"]), dev)
            fresh.cross.load_state_dict(state["cross"])
    fresh.reservoir.load_state_dict(state["reservoir"])
    invalid = state.get("invalid")
    if invalid is not None:
        fresh.invalid = torch.as_tensor([int(v) for v in invalid], dtype=torch.int64)
