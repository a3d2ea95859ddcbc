"""Pure kernels: tensors in, floats or tensors out (every metric of docs/metrics.md)."""

from collapsekit.functional.centroid_similarity import (
    centroid_similarity,
    leave_one_out_similarities,
    loo_centroid_stability,
)
from collapsekit.functional.effective_rank import (
    effective_rank,
    effective_rank_score,
    per_class_effective_rank,
)
from collapsekit.functional.linear_cka import linear_cka
from collapsekit.functional.linear_probe import linear_probe_accuracy
from collapsekit.functional.neural_collapse import NC_KEYS, neural_collapse
from collapsekit.functional.rankme import rankme
from collapsekit.functional.silhouette import silhouette, silhouette_samples
from collapsekit.functional.spectrum import singular_values
from collapsekit.functional.std_of_l2_normalized import std_of_l2_normalized
from collapsekit.functional.uniformity import uniformity

__all__ = [
    "NC_KEYS",
    "centroid_similarity",
    "effective_rank",
    "effective_rank_score",
    "leave_one_out_similarities",
    "linear_cka",
    "linear_probe_accuracy",
    "loo_centroid_stability",
    "neural_collapse",
    "per_class_effective_rank",
    "rankme",
    "silhouette",
    "silhouette_samples",
    "singular_values",
    "std_of_l2_normalized",
    "uniformity",
]
