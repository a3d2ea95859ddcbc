"""Inference: the isotropic null model and the bootstrap intervals the verdict relies on."""
