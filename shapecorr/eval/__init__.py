"""Evaluation of correspondences: geodesic error, PCK curves, symmetry flips, coverage, plots.

All functions take and return NumPy arrays. The error measure is the usual one of the
shape-correspondence literature (see ``evaluate_map``): for a map ``p2p_21`` (target vertex ->
source vertex) and ground-truth vertex lists ``gt_source``, ``gt_target`` (0-based; point ``i``
of one matches point ``i`` of the other), ``err_i = d_source(p2p_21[gt_target[i]], gt_source[i])
/ sqrt(area_source)`` with geodesic distances by the heat method on the source.
"""

from .datasets import (
    Dataset,
    DatasetError,
    all_pairs,
    find_pairs_file,
    read_pairs,
    read_vts,
)
from .metrics import (
    GeodesicDistances,
    auc,
    coverage,
    evaluate_map,
    flip_rate,
    flip_stats,
    geodesic_errors,
    is_flipped,
    pck_curve,
    summarize_pairs,
    symmetric_errors,
    DEFAULT_THRESHOLDS,
    FLIP_FRACTION,
)
from .plot import plot_pck
from .runner import PairEvaluator

__all__ = [
    "GeodesicDistances", "geodesic_errors", "symmetric_errors", "pck_curve", "summarize_pairs", "auc", "flip_stats",
    "is_flipped", "flip_rate", "coverage", "evaluate_map", "DEFAULT_THRESHOLDS", "FLIP_FRACTION", "plot_pck",
    "Dataset", "DatasetError", "PairEvaluator", "read_vts", "read_pairs", "all_pairs", "find_pairs_file",
]
