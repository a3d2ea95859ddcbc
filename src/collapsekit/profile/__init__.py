"""Layer-wise collapse profile: NC1, CDNV, effective rank and NCC accuracy across depth."""

from collapsekit.functional.separation_law import separation_law_fit
from collapsekit.profile.analyze_layers import analyze_layers, pool_features
from collapsekit.profile.layer_profile import LayerProfile

__all__ = ["LayerProfile", "analyze_layers", "pool_features", "separation_law_fit"]
