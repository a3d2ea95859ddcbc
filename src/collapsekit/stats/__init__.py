"""Streaming sufficient statistics: one pass, mergeable, checkpointable, distributed."""

from collapsekit.stats.class_stats import ClassStats
from collapsekit.stats.ncc_agreement import NCCAgreement

__all__ = ["ClassStats", "NCCAgreement"]
