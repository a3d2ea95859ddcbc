"""Publication figures with matplotlib (optional extra: ``pip install 'collapsekit[plot]'``).

Every function returns a ``matplotlib.figure.Figure`` drawn on an Agg canvas (no window is
opened, ``plt.show()`` is never called); save it with ``fig.savefig`` or
:func:`save_figures` (PNG, PDF, SVG). Importing this package does not import matplotlib;
the first drawing call does, and raises ImportError with the install command when missing.

* :func:`plot_spectrum`: singular-value spectrum against the isotropic baseline;
* :func:`plot_centroid_cosine`: class-centroid cosine heatmap with class names and colour bar;
* :func:`plot_per_class_rank`: per-class effective ranks;
* :func:`plot_tracking`: Papyan-style curves of a training history;
* :func:`plot_layer_profile`: collapse across depth (NC1, effective rank per layer);
* :func:`report_figures` / :func:`save_figures`: all figures of a report, written to disk.
"""

from collapsekit.plot._matplotlib import INSTALL_HINT, require_matplotlib
from collapsekit.plot.export import report_figures, save_figures
from collapsekit.plot.layer_profile import plot_layer_profile
from collapsekit.plot.report_figures import (
    plot_centroid_cosine,
    plot_per_class_rank,
    plot_spectrum,
)
from collapsekit.plot.tracking import plot_tracking

__all__ = [
    "INSTALL_HINT",
    "plot_centroid_cosine",
    "plot_layer_profile",
    "plot_per_class_rank",
    "plot_spectrum",
    "plot_tracking",
    "report_figures",
    "require_matplotlib",
    "save_figures",
]
