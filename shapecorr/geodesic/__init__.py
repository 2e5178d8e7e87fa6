"""Geodesic distances (heat method), used by evaluation and refinement."""

from .heat import GeodesicSolver, geodesic_distances, geodesic_matrix

__all__ = ["GeodesicSolver", "geodesic_distances", "geodesic_matrix"]
