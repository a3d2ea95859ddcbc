"""Rendering: the HTML report, SVG charts, figure data, metric docs and the shared axis maths."""
