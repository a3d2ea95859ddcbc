"""The isotropic reference: what the metrics read on structureless data of the same shape."""

from __future__ import annotations

import torch

from collapsekit.functional.centroid_similarity import centroid_similarity
from collapsekit.functional.effective_rank import entropy_rank
from collapsekit.functional.neural_collapse import neural_collapse
from collapsekit.functional.silhouette import silhouette
from collapsekit.functional.spectrum import singular_values
from collapsekit.functional.std_of_l2_normalized import std_of_l2_normalized

#: Cap on baseline rows: the isotropic reference is drawn with at most this many rows.
BASELINE_MAX_ROWS = 20_000


def isotropic_baseline(
    n: int,
    d: int,
    class_counts: torch.Tensor | None,
    seed: int,
    device: torch.device,
    with_silhouette: bool = True,
) -> tuple[dict[str, float], list[float]]:
    """Metrics of isotropic Gaussian data of the same N, D and class sizes (labels shuffled):
    what the verdict compares with. At most ``BASELINE_MAX_ROWS`` rows are drawn (a random
    subset of the labels), so the cost does not grow with N."""
    y = None
    if class_counts is not None:
        y = torch.repeat_interleave(
            torch.arange(class_counts.numel(), device=device), class_counts.to(device)
        )
    g = torch.Generator().manual_seed(seed + 7919)
    rows = min(n, BASELINE_MAX_ROWS)
    z = torch.randn(rows, d, generator=g).to(device)
    s = singular_values(z, center=True)
    out = {
        "effective_rank": entropy_rank(s),
        "std_of_l2_normalized": std_of_l2_normalized(z),
    }
    if y is not None:
        perm = torch.randperm(n, generator=g)[:rows].to(y.device)
        yb = y[perm]
        k = int(torch.unique(yb).numel())
        if k >= 2:
            out["centroid_similarity"] = centroid_similarity(z, yb)
            if k < rows and (with_silhouette or rows <= 5000):
                out["silhouette"] = silhouette(z, yb)
            if rows <= 5000:  # shown for reference only; skipped on large inputs
                nc = neural_collapse(z, yb)
                out.update({key: nc[key] for key in ("nc1", "etf_error", "equinorm", "cdnv")})
    spectrum = (s / s.sum().clamp_min(1e-300)).tolist() if s.numel() else []
    return out, spectrum
