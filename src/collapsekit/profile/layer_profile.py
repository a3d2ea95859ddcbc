"""LayerProfile: per-layer collapse metrics, the separation-law fit, a table, SVG and HTML."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collapsekit.metrics import keys

#: per-layer keys: the registry's layer-profile metrics and the nearest-centre accuracy
PROFILE_KEYS = (*keys("profile"), "ncc_accuracy")


@dataclass
class LayerProfile:
    """Collapse metrics of several layers of one model on one dataset.

    Attributes:
        layers: ``{layer name: {"nc1", "nc1_quotient", "cdnv", "effective_rank",
            "ncc_accuracy", "dim", "num_samples"}}`` in the order the layers were requested
            (``ncc_accuracy`` is NaN when the loader could not be iterated a second time).
        separation_law: He & Su's fit of log D (or NC1, see ``separation_metric``) against
            the layer index (see
            :func:`collapsekit.functional.separation_law.separation_law_fit`): ``rho``, ``slope``,
            ``intercept``, ``r2``, ``num_layers``.
        pool: the pooling rule applied to maps with more than two dimensions.
        notes: anything the reader should know (skipped second pass, layers with < 2 classes).
    """

    layers: dict[str, dict[str, float]]
    separation_law: dict[str, float]
    pool: str = "avg"
    notes: list[str] = field(default_factory=list)
    #: the per-layer metric the separation law was fitted to
    separation_metric: str = "separation_fuzziness"

    @property
    def names(self) -> list[str]:
        return list(self.layers)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (NaN and Inf become None)."""
        return _json_safe(
            {
                "layers": self.layers,
                "separation_law": self.separation_law,
                "pool": self.pool,
                "notes": list(self.notes),
                "separation_metric": self.separation_metric,
            }
        )

    def to_json(self, path: str | Path | None = None) -> str:
        """JSON text of :meth:`to_dict`; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def table(self) -> str:
        """A plain-text table: layer, D, NC1, CDNV, effective rank, NCC accuracy, plus the fit."""
        rows = [("layer", "dim", "D", "NC1", "CDNV", "eff. rank", "NCC acc.")]
        for name, m in self.layers.items():
            rows.append(
                (
                    name,
                    _fmt(m.get("dim"), 12),
                    _fmt(m.get("separation_fuzziness")),
                    _fmt(m.get("nc1")),
                    _fmt(m.get("cdnv")),
                    _fmt(m.get("effective_rank"), 3),
                    _fmt(m.get("ncc_accuracy"), 3),
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
        law = self.separation_law
        lines.append(
            f"separation law (He & Su 2023, log {self._law_label()} vs layer index): "
            f"rho = {_fmt(law.get('rho'))}"
            f", r2 = {_fmt(law.get('r2'), 3)} over {_fmt(law.get('num_layers'))} layers"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def _law_label(self) -> str:
        return "D" if self.separation_metric == "separation_fuzziness" else "NC1"

    def to_svg(self, width: int = 640, height: int = 300) -> str:
        """An inline SVG figure: log10 NC1 per layer with the fitted law, effective rank bars."""
        return _svg(self, width, height)

    def _html_table(self) -> tuple[str, str]:
        """The page table's header cells and body rows (every name escaped, numbers through
        :func:`_fmt`)."""
        from collapsekit.render.svg import esc

        head = "".join(
            f"<th>{esc(h)}</th>"
            for h in (
                "layer",
                "dim",
                "D",
                "NC1",
                "NC1 quotient",
                "CDNV",
                "effective rank",
                "NCC acc.",
            )
        )
        body = []
        for name, m in self.layers.items():
            cells = [
                esc(name),
                _fmt(m.get("dim"), 12),
                _fmt(m.get("separation_fuzziness")),
                _fmt(m.get("nc1")),
                _fmt(m.get("nc1_quotient")),
                _fmt(m.get("cdnv")),
                _fmt(m.get("effective_rank"), 3),
                _fmt(m.get("ncc_accuracy"), 3),
            ]
            body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        return head, "".join(body)

    def to_html(self, path: str | Path | None = None, title: str = "Layer-wise collapse") -> str:
        """A self-contained HTML page (inline SVG, no JavaScript); written to ``path`` if given.
        Like the report's pages it has a viewport meta and its table scrolls inside its box, so
        nothing overflows a phone's screen."""
        from collapsekit.render.html import VIEWPORT, scroll_tables
        from collapsekit.render.svg import esc

        head, body = self._html_table()
        law = self.separation_law
        notes = "".join(f"<li>{esc(n)}</li>" for n in self.notes)
        page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">{VIEWPORT}<title>{esc(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; padding: 0 1em; color: #222;
max-width: 60em; }}
.scroll {{ overflow-x: auto; max-width: 100%; }} svg {{ max-width: 100%; height: auto; }}
p, li, h1 {{ overflow-wrap: anywhere; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; font-size: 13px; }}
th:first-child, td:first-child {{ text-align: left; }}
.law {{ background: #f4f6fa; padding: 0.6em 1em; border-radius: 4px; }}
</style></head><body>
<h1>{esc(title)}</h1>
<p class="law">Law of data separation (He &amp; Su 2023), fitted to log {self._law_label()}
against the layer
index: <b>rho = {_fmt(law.get("rho"))}</b> per layer (below 1: each layer separates the classes
further), <b>r2 = {_fmt(law.get("r2"), 3)}</b> over {_fmt(law.get("num_layers"))} layers
(close to 1: every layer contributes the same factor).</p>
{self.to_svg()}
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
<p>D = Tr(SS<sub>W</sub> SS<sub>B</sub><sup>+</sup>), the separation fuzziness (class-size
weighted); NC1 = Tr(&Sigma;<sub>W</sub> &Sigma;<sub>B</sub><sup>+</sup>)/K (lower: tighter classes);
CDNV: class-distance normalised variance; effective rank: exp of the entropy of the normalised
singular values of the centred features; NCC acc.: accuracy of the nearest class mean rule.
Maps with more than two dimensions are pooled with rule <code>{esc(self.pool)}</code>.</p>
{f"<ul>{notes}</ul>" if notes else ""}
</body></html>
"""
        page = scroll_tables(page)
        if path is not None:
            Path(path).write_text(page, encoding="utf-8")
        return page


def _fmt(value: Any, digits: int = 4) -> str:
    """A number as text with ``digits`` significant digits; "n/a" for anything else (bool,
    str, None, NaN), so a value from an edited profile never reaches the page as markup."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}g}"


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _svg(profile: LayerProfile, width: int, height: int) -> str:
    """Two charts with the report's axes (1-2-5 log ticks, integer layer index): NC1 per layer
    with the fitted separation law, and the effective rank per layer."""
    from collapsekit.render.axes import as_float
    from collapsekit.render.svg import bar_chart, line_chart

    names = profile.names
    index = [float(i) for i in range(len(names))]
    key = profile.separation_metric
    label = profile._law_label()
    fitted_to = [as_float(profile.layers[k].get(key)) for k in names]
    series = {label: (index, fitted_to)}
    law = profile.separation_law
    slope, intercept = law.get("slope"), law.get("intercept")
    if isinstance(slope, float) and isinstance(intercept, float) and math.isfinite(slope):
        fitted = [math.exp(intercept + slope * i) for i in index]
        series[f"law fit, rho = {_fmt(law.get('rho'))}"] = (index, fitted)
    half = max(280, width // 2)
    left = line_chart(
        series,
        f"{label} per layer (log scale)",
        "layer index (0 = " + (str(names[0]) if names else "-") + ")",
        label,
        log_y=True,
        width=half,
        height=height,
    )
    ranks = [as_float(profile.layers[k].get("effective_rank")) for k in names]
    right = bar_chart(
        names,
        ranks,
        "Effective rank per layer",
        "effective rank",
        width=half,
        height=height,
        xlabel="layer",
    )
    return f"<div style='display:flex;flex-wrap:wrap;gap:12px'>{left}{right}</div>"
