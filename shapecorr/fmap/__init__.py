"""Functional maps: energies and exact solver, p2p <-> fmap conversion, refinements."""

from .convert import fmap_to_p2p, knn_blocked, p2p_to_fmap, transfer_function
from .refine import farthest_point_sampling, orientation_score, orientation_score_fmap, zoomout
from .solve import FmapWeights, solve_fmap

__all__ = ["fmap_to_p2p", "p2p_to_fmap", "knn_blocked", "transfer_function", "zoomout",
           "orientation_score", "orientation_score_fmap", "farthest_point_sampling", "FmapWeights", "solve_fmap"]
