"""Heat-method geodesics: known distances on a sphere, one value per vertex on imperfect meshes."""

from __future__ import annotations

import numpy as np

import shapecorr
from shapecorr.geodesic import GeodesicSolver, geodesic_matrix

from helpers import icosphere


def _great_circle(v: np.ndarray, i: int) -> np.ndarray:
    u = v / np.linalg.norm(v, axis=1, keepdims=True)
    return np.arccos(np.clip(u @ u[i], -1.0, 1.0))


def test_sphere_distances_are_great_circles():
    s = icosphere(4)
    d = GeodesicSolver(s).distances_from(0)
    exact = _great_circle(s.vertices, 0)
    assert d.shape == (s.n_vertices,)
    assert np.median(np.abs(d - exact)) < 0.02 * np.pi


def test_vertices_off_the_surface_get_their_nearest_surface_vertex_distances():
    """An unused vertex (and a degenerate face, dropped) no longer shortens the result: every
    vertex has a distance, an unused one that of the surface vertex it sits next to."""
    s = icosphere(3)
    extra = s.vertices[5] * 1.01  # just off vertex 5, used by no face
    faces = np.vstack([s.faces, [[0, 0, 1]]])  # and a degenerate face
    imperfect = shapecorr.Shape(np.vstack([s.vertices, extra]), faces, validate=False)
    solver = GeodesicSolver(imperfect)
    d = solver.distances_from(0)
    ref = GeodesicSolver(s).distances_from(0)
    assert d.shape == (s.n_vertices + 1,)
    np.testing.assert_allclose(d[:-1], ref, rtol=1e-10, atol=1e-12)
    assert d[-1] == d[5]
    np.testing.assert_allclose(solver.distances_from(s.n_vertices), solver.distances_from(5))  # as a source too
    D = geodesic_matrix(imperfect, np.array([0, s.n_vertices]), cache=False)
    assert D.shape == (2, s.n_vertices + 1)
