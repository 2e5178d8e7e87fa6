"""Deformation gradients, the gradient operator and the Poisson solve (shapecorr.deform.gradients)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import bumpy, grid, one_triangle

from shapecorr import Shape
from shapecorr.deform import (
    PoissonSolver,
    deformation_gradients,
    gradient_operator,
    solve_from_gradients,
)


def rotation(angle: float, axis=(0.0, 0.0, 1.0)) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    a = np.asarray(axis, dtype=float)
    return Rotation.from_rotvec(angle * a / np.linalg.norm(a)).as_matrix()


def plane_projectors(shape: Shape) -> np.ndarray:
    n = shape.face_normals
    return np.eye(3) - n[:, :, None] * n[:, None, :]


def test_gradients_of_an_affine_map_are_that_matrix():
    s = bumpy(2)
    M = np.array([[1.2, 0.3, -0.1], [0.1, 0.9, 0.2], [0.05, 0.4, 1.1]])
    Q = deformation_gradients(s.vertices, s.faces, s.vertices @ M.T + [1.0, -2.0, 0.5])
    P = plane_projectors(s)
    # a triangle fixes the map on its plane: there it is M exactly
    assert np.allclose(Q @ P, M @ P, atol=1e-12)
    # a rotation times a uniform scaling is recovered in full (Sumner's fourth vertex)
    Rs = 1.7 * rotation(0.8, (1.0, 2.0, -0.5))
    Q = deformation_gradients(s.vertices, s.faces, s.vertices @ Rs.T - 3.0)
    assert np.allclose(Q, Rs, atol=1e-12)
    assert np.allclose(deformation_gradients(s.vertices, s.faces, s.vertices), np.eye(3), atol=1e-12)


def test_gradients_match_a_naive_loop():
    s = bumpy(1)
    rng = np.random.default_rng(0)
    d = s.vertices + 0.1 * rng.standard_normal(s.vertices.shape)
    Q = deformation_gradients(s.vertices, s.faces, d)
    def frame(x, a, b, c):
        e1, e2 = x[b] - x[a], x[c] - x[a]
        n = np.cross(e1, e2)
        return np.column_stack([e1, e2, n / np.sqrt(np.linalg.norm(n))])

    for t, (a, b, c) in enumerate(s.faces):
        assert np.allclose(Q[t], frame(d, a, b, c) @ np.linalg.inv(frame(s.vertices, a, b, c)), atol=1e-10)


def test_gradient_operator_of_one_triangle():
    tri = one_triangle("right")  # (0,0,0), (1,0,0), (0,1,0)
    G = gradient_operator(tri.vertices, tri.faces).toarray()  # (3, 3): rows x, y, z
    assert np.allclose(G[:, 0], [-1, -1, 0]) and np.allclose(G[:, 1], [1, 0, 0]) and np.allclose(G[:, 2], [0, 1, 0])


def test_gradient_operator_invariants_and_laplacian():
    s = bumpy(2)
    G = gradient_operator(s.vertices, s.faces)
    assert np.allclose(G @ np.ones(s.n_vertices), 0, atol=1e-10)
    a = np.array([0.3, -1.0, 2.0])  # the gradient of a linear function is its direction projected on the face
    assert np.allclose((G @ (s.vertices @ a)).reshape(-1, 3), plane_projectors(s) @ a, atol=1e-10)
    L = G.T @ np.diag(np.repeat(s.face_areas, 3)) @ G.toarray()
    assert np.allclose(L, L.T) and np.linalg.eigvalsh(L).min() > -1e-9
    igl = pytest.importorskip("igl", reason="libigl not installed: no cross-check of the cotangent Laplacian")
    C = igl.cotmatrix(s.vertices, s.faces.astype(np.int64))
    assert np.allclose(L, -C.toarray(), atol=1e-10)


def test_poisson_solve_recovers_an_affine_deformation_and_keeps_centroids():
    s = bumpy(2)
    M = np.array([[1.1, 0.2, 0.0], [0.0, 0.8, 0.3], [0.1, 0.0, 1.2]])
    target = s.vertices @ M.T + [0.5, 0.5, -1.0]
    Q = deformation_gradients(s.vertices, s.faces, target)
    solver = PoissonSolver(s.vertices, s.faces)
    X = solver.solve(Q)
    assert np.allclose(X - X.mean(0), target - target.mean(0), atol=1e-10)
    assert np.allclose(solver.centroids(X), solver.centroids(s.vertices))  # centroid kept
    X = solver.solve(Q, centroids=solver.centroids(target))
    assert np.allclose(X, target, atol=1e-10)
    assert np.allclose(solver.solve(np.tile(np.eye(3), (s.n_faces, 1, 1)), shift=[1, 2, 3]), s.vertices + [1, 2, 3])


def test_each_component_keeps_its_own_centroid():
    g = grid(5, 4)
    far = g.vertices + [10.0, 0.0, 0.0]
    V = np.vstack([g.vertices, far])
    F = np.vstack([g.faces, g.faces + g.n_vertices])
    solver = PoissonSolver(V, F)
    assert solver.n_components == 2
    Q = np.tile(rotation(0.5), (len(F), 1, 1))
    X = solver.solve(Q, shift=[0.0, 1.0, 0.0])
    for part, rest in ((X[: g.n_vertices], g.vertices), (X[g.n_vertices:], far)):
        assert np.allclose(part.mean(0), rest.mean(0) + [0, 1, 0])  # uniform grid: plain mean = area centroid
        assert np.allclose(part - part.mean(0), (rest - rest.mean(0)) @ rotation(0.5).T, atol=1e-10)


def test_degenerate_faces_and_bad_input():
    g = grid(4, 4)
    V = np.vstack([g.vertices, [[5.0, 5.0, 0.0]]])
    F = np.vstack([g.faces, [[0, 1, 1]]])  # a zero-area face
    Q = deformation_gradients(V, F, 2.0 * V)
    assert np.all(np.isfinite(Q))
    X = solve_from_gradients(V, F, Q)
    assert np.all(np.isfinite(X))
    assert np.allclose(X[: g.n_vertices] - X[: g.n_vertices].mean(0), 2 * (g.vertices - g.vertices.mean(0)))
    assert np.allclose(X[-1], V[-1])  # a vertex in no face stays where it is
    with pytest.raises(ValueError, match=r"one 3x3 gradient per face"):
        solve_from_gradients(g.vertices, g.faces, np.zeros((3, 3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        deformation_gradients(g.vertices, g.faces, np.full_like(g.vertices, np.nan))
    with pytest.raises(ValueError, match="point cloud"):
        gradient_operator(g.vertices, np.zeros((0, 3), dtype=int))
