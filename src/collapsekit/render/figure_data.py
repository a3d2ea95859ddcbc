"""What each figure shows, decided once for both renderers: the inline SVG of the HTML report
(:mod:`collapsekit.render.svg`) and the matplotlib figures of :mod:`collapsekit.plot`.

Nothing here draws; it picks the series, the axis scale, the threshold lines, the class names
and the start of the terminal phase of training from a :class:`Report` or history rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from collapsekit.metrics import panels as registry_panels
from collapsekit.verdict import THRESHOLDS

if TYPE_CHECKING:
    from collapsekit.report.report import Report

#: history keys holding the training accuracy, in the order they are looked for
TRAIN_ACCURACY_KEYS = ("train_accuracy", "train_acc", "accuracy")
#: history keys never plotted
NOT_PLOTTED = frozenset({"epoch", "step", "num_samples", "warnings", "global_step"})


@dataclass(frozen=True)
class PanelSpec:
    """One tracking panel: one quantity (``ylabel``), one or more series of it.

    ``log``: True, False or None (log when the values are positive and span more than a
    decade). ``thresholds``: names of :data:`collapsekit.verdict.THRESHOLDS` entries
    drawn as dashed lines.
    """

    title: str
    ylabel: str
    keys: tuple[str, ...]
    log: bool | None = None
    thresholds: tuple[str, ...] = ()


#: panels of quantities that are not collapse metrics (training loss and accuracy)
_TRAINING_PANELS: tuple[PanelSpec, ...] = (
    PanelSpec("Training loss", "loss", ("train_loss", "val_loss", "test_loss")),
    PanelSpec(
        "Accuracy",
        "accuracy",
        ("train_accuracy", "train_acc", "val_accuracy", "test_accuracy"),
        log=False,
    ),
)

#: Papyan-style panels (Papyan, Han & Donoho 2020, Fig. 2-7), one quantity per axis: the
#: training panels, then every registry metric with a ``panel``, grouped by panel title
TRACK_PANELS: tuple[PanelSpec, ...] = _TRAINING_PANELS + tuple(
    PanelSpec(panel.title, panel.ylabel, keys, panel.log, panel.thresholds)
    for panel, keys in registry_panels()
)


@dataclass
class Panel:
    """A panel ready to draw: ``series`` ``{name: (epochs, values)}``, the resolved scale,
    threshold lines ``[(value, label)]`` and the start of the terminal phase (or None)."""

    title: str
    ylabel: str
    series: dict[str, tuple[list[float], list[float]]]
    log: bool
    thresholds: list[tuple[float, str]] = field(default_factory=list)
    terminal_phase: float | None = None


def _number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return math.nan
    return float(v)


def spans_decades(values: Sequence[float], decades: float = 1.0) -> bool:
    """True when every finite value is positive and max/min exceeds ``10**decades``."""
    vals = [v for v in values if math.isfinite(v)]
    if not vals or min(vals) <= 0:
        return False
    return math.log10(max(vals) / min(vals)) > decades


def terminal_phase_epoch(rows: Sequence[Mapping[str, Any]]) -> float | None:
    """The first epoch at which the training accuracy reaches 100 % (the start of the
    terminal phase of training, Papyan et al. 2020), or None when it never does or the rows
    have no training accuracy (keys tried: :data:`TRAIN_ACCURACY_KEYS`; 100 % or 1.0).

    Example:
        >>> terminal_phase_epoch([{"epoch": 0, "train_accuracy": 0.9},
        ...                       {"epoch": 1, "train_accuracy": 1.0},
        ...                       {"epoch": 2, "train_accuracy": 1.0}])
        1.0
    """
    key = next((k for k in TRAIN_ACCURACY_KEYS if any(k in r for r in rows)), None)
    if key is None:
        return None
    values = [_number(r.get(key)) for r in rows]
    scale = 100.0 if any(v > 1.0 for v in values if math.isfinite(v)) else 1.0
    for i, (r, v) in enumerate(zip(rows, values, strict=True)):
        if math.isfinite(v) and v >= scale * (1 - 1e-9):
            return _number(r.get("epoch", i)) if "epoch" in r else float(i)
    return None


def tracking_panels(rows: Sequence[Mapping[str, Any]]) -> list[Panel]:
    """Panels for per-epoch history rows: the Papyan-style ones of :data:`TRACK_PANELS` that
    the rows have, then one panel for every other numeric key."""
    epochs = [_number(r.get("epoch", i)) for i, r in enumerate(rows)]
    tpt = terminal_phase_epoch(rows)
    used: set[str] = set()
    panels: list[Panel] = []
    specs = list(TRACK_PANELS)
    known = {k for s in TRACK_PANELS for k in s.keys}
    extra = []
    for r in rows:
        for k, v in r.items():
            if k not in known and k not in NOT_PLOTTED and k not in extra:
                if isinstance(v, int | float) and not isinstance(v, bool):
                    extra.append(k)
    specs += [PanelSpec(k.replace("_", " ").capitalize(), k, (k,)) for k in extra]
    for spec in specs:
        series: dict[str, tuple[list[float], list[float]]] = {}
        for key in spec.keys:
            if key in used:
                continue
            ys = [_number(r.get(key)) for r in rows]
            if any(math.isfinite(y) for y in ys):
                series[key] = (epochs, ys)
                used.add(key)
        if not series:
            continue
        values = [y for _, ys in series.values() for y in ys]
        log = spans_decades(values) if spec.log is None else spec.log
        rules = THRESHOLDS.to_dict()
        thresholds = [
            (rules[t], f"threshold {rules[t]:g} ({t.replace('_', ' ')})")
            for t in spec.thresholds
            if t in rules
        ]
        panels.append(Panel(spec.title, spec.ylabel, series, log, thresholds, tpt))
    return panels


def class_names(report: Report, k: int) -> list[str]:
    """Names of the ``k`` classes of a report: ``inputs["class_names"]`` when it has ``k``
    entries, else the keys of ``inputs["class_counts"]``, else ``0 .. k-1``."""
    inp = report.inputs or {}
    names = inp.get("class_names")
    if names and len(names) == k:
        return [str(n) for n in names]
    counts = list((inp.get("class_counts") or {}).keys())
    if len(counts) == k:
        return [str(c) for c in counts]
    return [str(i) for i in range(k)]


def per_class_ranks(report: Report) -> tuple[list[str], list[float]]:
    """(class names, effective ranks) of ``report.per_class_effective_rank``; keys that are
    integer positions are mapped through ``inputs["class_names"]``."""
    ranks = report.per_class_effective_rank or {}
    names = (report.inputs or {}).get("class_names") or []
    out_names = []
    for key in ranks:
        text = str(key)
        if text.isdigit() and names and int(text) < len(names) and text not in map(str, names):
            out_names.append(str(names[int(text)]))
        else:
            out_names.append(text)
    return out_names, [float(v) for v in ranks.values()]


def spectrum_series(report: Report) -> dict[str, tuple[list[float], list[float]]]:
    """``{"embeddings": (index, share), "isotropic baseline": ...}`` (index from 1)."""
    out = {}
    for key, name in (("data", "embeddings"), ("isotropic", "isotropic baseline")):
        values = (report.spectrum or {}).get(key)
        if values:
            out[name] = (
                [float(i) for i in range(1, len(values) + 1)],
                [_number(v) for v in values],
            )
    return out
