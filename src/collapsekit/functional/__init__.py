"""Pure kernels: tensors in, floats or tensors out (every metric of docs/metrics.md)."""

from collapsekit.functional.alpha_req import alpha_req, alpha_req_from_eigenvalues, power_law_fit
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
from collapsekit.functional.lidar import lidar, lidar_from_moments
from collapsekit.functional.linear_cka import linear_cka
from collapsekit.functional.linear_probe import linear_probe_accuracy
from collapsekit.functional.neco import neco_basis, neco_from_basis, neco_score
from collapsekit.functional.neural_collapse import NC_KEYS, neural_collapse
from collapsekit.functional.rankme import rankme
from collapsekit.functional.regression_collapse import (
    regression_collapse,
    regression_collapse_from_moments,
)
from collapsekit.functional.silhouette import silhouette, silhouette_samples
from collapsekit.functional.spectrum import singular_values
from collapsekit.functional.std_of_l2_normalized import std_of_l2_normalized
from collapsekit.functional.uniformity import uniformity

__all__ = [
    "NC_KEYS",
    "alpha_req",
    "alpha_req_from_eigenvalues",
    "centroid_similarity",
    "effective_rank",
    "effective_rank_score",
    "leave_one_out_similarities",
    "lidar",
    "lidar_from_moments",
    "linear_cka",
    "linear_probe_accuracy",
    "loo_centroid_stability",
    "neco_basis",
    "neco_from_basis",
    "neco_score",
    "neural_collapse",
    "per_class_effective_rank",
    "power_law_fit",
    "rankme",
    "regression_collapse",
    "regression_collapse_from_moments",
    "silhouette",
    "silhouette_samples",
    "singular_values",
    "std_of_l2_normalized",
    "uniformity",
]
