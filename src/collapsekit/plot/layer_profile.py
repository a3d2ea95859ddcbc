"""Collapse across depth: NC1 and effective rank per layer (the layer profile)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from collapsekit.plot._matplotlib import linear_axis, log_y_axis, new_figure
from collapsekit.render.figure_data import spans_decades

#: (metric key, axis label, log allowed) drawn when present, one axis each
PROFILE_PANELS = (
    ("separation_fuzziness", "D  Tr(SS_W SS_B⁺)", True),
    ("nc1", "NC1  Tr(Σ_W Σ_B⁺) / K", True),
    ("effective_rank", "effective rank", True),
    ("ncc_accuracy", "nearest-centroid accuracy", False),
)


def _layers(profile: Any) -> tuple[dict[str, Mapping[str, Any]], Mapping[str, Any]]:
    layers = getattr(profile, "layers", profile)
    if not isinstance(layers, Mapping) or not all(isinstance(m, Mapping) for m in layers.values()):
        raise TypeError(
            "profile: expected a LayerProfile or a mapping {layer name: {'nc1': ..., "
            f"'effective_rank': ...}}, received {type(profile).__name__}"
        )
    law = dict(getattr(profile, "separation_law", None) or {})
    law.setdefault("metric", getattr(profile, "separation_metric", "nc1"))
    return {str(k): v for k, v in layers.items()}, law


def _number(v: Any) -> float:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else math.nan


def plot_layer_profile(profile: Any) -> Any:
    """One panel per metric (NC1, effective rank, NCC accuracy where present) against the
    layers in order, for a :class:`collapsekit.profile.LayerProfile` or any mapping
    ``{layer name: {"nc1": ..., "effective_rank": ...}}``.

    With a profile that carries He & Su's separation-law fit (``separation_law`` with
    ``slope`` and ``intercept``), the fitted geometric decay is drawn dashed on the panel of
    the metric it was fitted to (``profile.separation_metric``: the separation fuzziness D by
    default; a plain mapping is read as fitted to NC1).

    How to read it: in a well-trained network NC1 falls layer after layer (a straight line
    on the log axis: the law of data separation, He & Su 2023); a layer where it stops
    falling adds no class separation.

    Example:
        >>> fig = plot_layer_profile({"block1": {"nc1": 40.0, "effective_rank": 30.0},
        ...                           "block2": {"nc1": 0.5, "effective_rank": 12.0}})
        >>> [ax.get_ylabel() for ax in fig.axes]
        ['NC1  Tr(Σ_W Σ_B⁺) / K (log scale)', 'effective rank']
    """
    layers, law = _layers(profile)
    if not layers:
        raise ValueError("profile: expected at least one layer, received none")
    names = list(layers)
    panels = [
        (key, label, log)
        for key, label, log in PROFILE_PANELS
        if any(math.isfinite(_number(m.get(key))) for m in layers.values())
    ]
    if not panels:
        raise ValueError(
            "profile: expected layers with 'nc1' or 'effective_rank', received keys "
            f"{sorted(next(iter(layers.values())))}"
        )
    width = max(4.5, min(10.0, 2.5 + 0.5 * len(names)))
    fig, axes = new_figure(width * len(panels), 3.8, ncols=len(panels), grid=True)
    axes_list = list(axes.flat)
    positions = list(range(len(names)))
    for ax, (key, label, may_log) in zip(axes_list, panels, strict=True):
        values = [_number(layers[n].get(key)) for n in names]
        log = may_log and spans_decades(values)
        shown = [
            (i, v)
            for i, v in zip(positions, values, strict=True)
            if math.isfinite(v) and (not log or v > 0)
        ]
        ax.plot(
            [p[0] for p in shown], [p[1] for p in shown], "o-", color="#1f77b4", lw=1.8, label=key
        )
        drawn = [p[1] for p in shown]
        slope, intercept = _number(law.get("slope")), _number(law.get("intercept"))
        if key == law["metric"] and math.isfinite(slope) and math.isfinite(intercept):
            fit = [math.exp(intercept + slope * i) for i in positions]
            ax.plot(
                positions,
                fit,
                "--",
                color="#d62728",
                lw=1.3,
                label=f"separation law, ρ = {math.exp(slope):.3g} per layer",
            )
            drawn += fit
            ax.legend(loc="best", fontsize=8)  # inside: room under rotated names is not kept
        if log:
            log_y_axis(ax, drawn)
        else:
            linear_axis(ax.yaxis)
        ax.set_xticks(positions)
        ax.set_xticklabels(
            names,
            rotation=45 if len(names) > 4 else 0,
            ha="right" if len(names) > 4 else "center",
            fontsize=8,
        )
        ax.set_xlabel("layer")
        ax.set_ylabel(label + (" (log scale)" if log else ""))
        ax.set_title(key.replace("_", " "), fontsize=11)
        ax.grid(True, which="major", color="#e6e6e6", lw=0.8)
    return fig
