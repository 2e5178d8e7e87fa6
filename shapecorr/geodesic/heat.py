"""Geodesic distances by the heat method (Crane et al. 2013) through potpourri3d.

Accuracy: about 1-1.5 % median deviation from exact geodesics on 5k-vertex meshes. Point
clouds use the point-cloud heat solver.
"""

from __future__ import annotations

import logging

import numpy as np

from ..core import Shape

log = logging.getLogger(__name__)


class GeodesicSolver:
    """Reusable heat-method solver for one shape (the factorization is computed once).

    Imperfect meshes are solved on their surface as the Laplacian sees it
    (:attr:`Shape.surface_faces`: degenerate faces dropped, seams joined); a vertex off that
    surface (used by no face, or a joined repeat) takes the distances of its nearest surface
    vertex, so every result has one entry per vertex of the shape.
    """

    def __init__(self, shape: Shape, t_coef: float = 1.0):
        import potpourri3d as pp3d
        from scipy.spatial import cKDTree

        self.shape = shape
        n = shape.n_vertices
        keep = shape.surface_vertices if shape.is_mesh else np.arange(n)
        compact = np.full(n, -1, dtype=np.int64)
        compact[keep] = np.arange(len(keep))
        # each vertex's row in the solver: its own, or its nearest surface vertex's
        self._row = compact.copy()
        others = np.flatnonzero(compact < 0)
        if others.size:
            self._row[others] = cKDTree(shape.vertices[keep]).query(shape.vertices[others])[1]
        if shape.is_mesh:
            self._solver = pp3d.MeshHeatMethodDistanceSolver(shape.vertices[keep], compact[shape.surface_faces],
                                                             t_coef=t_coef)
        else:
            self._solver = pp3d.PointCloudHeatSolver(shape.vertices, t_coef=t_coef)

    def distances_from(self, source: int | list[int]) -> np.ndarray:
        """Distances ``(n,)`` from one vertex (or the nearest of several)."""
        if np.ndim(source) == 0:
            d = self._solver.compute_distance(int(self._row[int(source)]))
        else:
            d = self._solver.compute_distance_multisource(sorted({int(self._row[int(s)]) for s in source}))
        return np.asarray(d)[self._row]


def geodesic_distances(shape: Shape, source) -> np.ndarray:
    return GeodesicSolver(shape).distances_from(source)


def geodesic_matrix(shape: Shape, sources: np.ndarray | None = None, *, dtype=np.float32,
                    cache: bool | None = None, progress=None) -> np.ndarray:
    """Distances from ``sources`` (default: every vertex) to every vertex: ``(len(sources), n)``.

    Memory is ``len(sources) * n * itemsize`` (100 MB for all pairs of a 5k-vertex mesh in
    float32); cached per shape and source set on disk. The matrix is symmetrized when it is
    the all-pairs one (the heat method is not exactly symmetric).
    """
    all_pairs = sources is None
    src = np.arange(shape.n_vertices) if all_pairs else np.asarray(sources, dtype=np.int64)

    def compute():
        solver = GeodesicSolver(shape)
        out = np.empty((len(src), shape.n_vertices), dtype=dtype)
        for i, s in enumerate(src):
            out[i] = solver.distances_from(int(s))
            if progress is not None and (i % 500 == 0 or i == len(src) - 1):
                progress(i + 1, len(src))
        if all_pairs:
            out = 0.5 * (out + out.T)
        return {"D": out.astype(dtype)}

    import hashlib

    params = {"sources": "all" if all_pairs else hashlib.sha256(src.tobytes()).hexdigest(),
              "dtype": np.dtype(dtype).str, "method": "heat"}
    return shape.derived("geodesic_matrix", params, compute, disk=cache)["D"]
