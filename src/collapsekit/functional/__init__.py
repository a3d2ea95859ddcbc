"""Pure kernels: tensors in, floats or tensors out."""

from collapsekit.functional.neural_collapse import NC_KEYS, neural_collapse

__all__ = ["NC_KEYS", "neural_collapse"]
