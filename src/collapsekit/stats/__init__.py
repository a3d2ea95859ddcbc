"""Streaming sufficient statistics: one pass, mergeable, checkpointable, distributed."""

from collapsekit.stats.class_stats import ClassStats
from collapsekit.stats.lidar_stats import LiDARStats
from collapsekit.stats.ncc_agreement import NCCAgreement
from collapsekit.stats.regression_stats import RegressionStats

__all__ = ["ClassStats", "LiDARStats", "NCCAgreement", "RegressionStats"]
