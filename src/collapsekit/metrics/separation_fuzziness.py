"""Separation fuzziness D = Tr(SS_W SS_B^+) (He & Su 2023), the quantity of the law of data
separation.

``SS_W = (1/N) sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T`` and
``SS_B = (1/N) sum_c n_c (mu_c - mu)(mu_c - mu)^T`` with ``mu`` the sample mean of the rows:
both weight classes by their size. For exactly balanced classes D = K x NC1; with unequal
class sizes the two differ (NC1 weights every class mean equally, Papyan 2020).

Read it: small D means the classes are well separated relative to their spread (D -> 0 under
neural collapse); in a trained network D decays geometrically with depth (the separation
law). Degenerate: ``inf`` when every class mean coincides with the sample mean (no
between-class spread), 0 when every row sits on its class mean.

Reference: He & Su, "A law of data separation in deep learning", PNAS 2023 (docs/metrics.md,
section separation_fuzziness).

Example:
    >>> import torch
    >>> from collapsekit.stats.class_stats import ClassStats
    >>> from collapsekit.metrics.context import MetricContext
    >>> cs = ClassStats(2, 2)
    >>> cs.update(torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 4.0]]),
    ...           torch.tensor([0, 0, 1, 1]))
    >>> round(separation_fuzziness_from_moments(cs), 6)
    0.25
"""

from __future__ import annotations

import math

from collapsekit.functional._common import power_of_two_scale
from collapsekit.functional.neural_collapse import between_class_eigen
from collapsekit.metrics.context import MetricContext
from collapsekit.metrics.spec import Measured, MetricSpec, Panel
from collapsekit.stats.class_stats import ClassStats


def separation_fuzziness_from_moments(stats: ClassStats) -> float:
    """D = Tr(SS_W SS_B^+) from streamed class moments (float64), see the module docstring.

    The pseudo-inverse keeps at most the top K-1 eigenvalues of SS_B and drops those below
    ``max(K, D) * eps`` of the largest (as NC1's Sigma_B^+)."""
    present = stats.present_classes()
    counts = stats.counts[present].double()
    n = float(counts.sum())
    means = stats.class_means()
    sample_mean = (means * counts[:, None]).sum(0) / n
    centred = means - sample_mean
    k = centred.shape[0]
    if not bool((centred != 0).any()):
        return math.inf
    scale = power_of_two_scale(centred)
    # rows sqrt(K n_c / N) (mu_c - mu): between_class_eigen's M^T M / K is then SS_B
    weighted = centred / scale * (counts * k / n).sqrt()[:, None]
    lam, vecs = between_class_eigen(weighted)
    if lam.numel() == 0:
        return math.inf
    ss_w = stats.within_scatter() / (n * scale * scale)
    return float((((vecs @ ss_w) * vecs).sum(1) / lam).sum())


def _separation_fuzziness(ctx: MetricContext) -> Measured:
    return Measured(separation_fuzziness_from_moments(ctx.class_stats), ctx.one_pass)


#: where this module's metrics stand in the registry (and in reports)
POSITION = 35

SPECS = (
    MetricSpec(
        key="separation_fuzziness",
        compute=_separation_fuzziness,
        needs=frozenset({"classes"}),
        exactness="one pass",
        bad="low",
        doc="separation_fuzziness",
        summary="He & Su's D = Tr(SS_W SS_B^+), class-size weighted; decays with depth",
        profile=True,
        panel=Panel("Separation fuzziness (He & Su)", "Tr(SS_W SS_B⁺)"),
        monitor=True,
        section="neural collapse",
    ),
)
