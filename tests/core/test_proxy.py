"""The proxy of a large mesh: decimation, and every full vertex located on the proxy surface."""

from __future__ import annotations

import numpy as np
import pytest

from shapecorr.core import SettingsError, Shape, ShapeError
from shapecorr.core.proxy import barycentric_interpolate, clean_mesh, make_proxy, project_on_mesh


def _sphere(subdivisions: int = 4, seed: int = 0) -> Shape:
    """An icosphere with slightly jittered vertices (no symmetric ties)."""
    import trimesh

    m = trimesh.creation.icosphere(subdivisions=subdivisions)
    v = np.asarray(m.vertices) * (1 + 0.01 * np.random.default_rng(seed).standard_normal((len(m.vertices), 1)))
    return Shape(v, np.asarray(m.faces))


def _closest_all_faces(points, vertices, faces):
    """Reference: closest point over *every* face, by trimesh (a peer implementation)."""
    from trimesh.triangles import closest_point

    tri = vertices[faces]
    best = np.full(len(points), np.inf)
    for f in range(len(faces)):
        d = np.linalg.norm(closest_point(np.repeat(tri[f:f + 1], len(points), 0), points) - points, axis=1)
        best = np.minimum(best, d)
    return best


def test_projection_matches_an_exhaustive_search_near_the_surface():
    s = _sphere(2)
    rng = np.random.default_rng(1)
    f = rng.integers(0, s.n_faces, 200)
    w = rng.dirichlet(np.ones(3), 200)
    on = (w[:, :, None] * s.vertices[s.faces[f]]).sum(1)
    points = on * (1 + 0.02 * rng.standard_normal((200, 1)))  # a little off the surface, both sides
    face, bary, dist = project_on_mesh(points, s.vertices, s.faces)
    np.testing.assert_allclose(dist, _closest_all_faces(points, s.vertices, s.faces), atol=1e-12)
    # the weights give the closest point itself
    closest = (bary[:, :, None] * s.vertices[s.faces[face]]).sum(1)
    np.testing.assert_allclose(np.linalg.norm(closest - points, axis=1), dist, atol=1e-12)
    assert (bary >= 0).all() and np.allclose(bary.sum(1), 1)


def test_points_on_faces_are_found_in_their_face_with_their_weights():
    s = _sphere(2)
    rng = np.random.default_rng(2)
    f = rng.integers(0, s.n_faces, 100)
    w = rng.dirichlet(np.full(3, 5.0), 100)  # well inside the face
    points = (w[:, :, None] * s.vertices[s.faces[f]]).sum(1)
    face, bary, dist = project_on_mesh(points, s.vertices, s.faces)
    np.testing.assert_array_equal(face, f)
    np.testing.assert_allclose(bary, w, atol=1e-9)
    np.testing.assert_allclose(dist, 0, atol=1e-12)


def _plate(gap: float) -> Shape:
    """A thin closed box of thickness ``gap`` (top face normal +z, bottom face normal -z)."""
    v = np.array([[x, y, z] for z in (0.0, gap) for y in (0.0, 1.0) for x in (0.0, 1.0)])
    # bottom (z=0) wound to face -z, top (z=gap) to face +z, and four thin sides
    f = [[0, 2, 1], [1, 2, 3], [4, 5, 6], [5, 7, 6],
         [0, 1, 5], [0, 5, 4], [2, 6, 7], [2, 7, 3], [0, 4, 6], [0, 6, 2], [1, 3, 7], [1, 7, 5]]
    return Shape(v, np.array(f))


def test_normals_keep_a_point_on_its_own_side_of_a_thin_part():
    plate = _plate(0.01)
    point = np.array([[0.4, 0.6, 0.004]])  # nearer the bottom sheet, but its normal says "top"
    face_plain, _, dist_plain = project_on_mesh(point, plate.vertices, plate.faces)
    assert face_plain[0] in (0, 1) and dist_plain[0] == pytest.approx(0.004)
    face, _, dist = project_on_mesh(point, plate.vertices, plate.faces, point_normals=np.array([[0.0, 0, 1]]))
    assert face[0] in (2, 3) and dist[0] == pytest.approx(0.006)
    # with no agreeing face at all, the nearest one is used
    face, _, _ = project_on_mesh(point, plate.vertices, plate.faces[:2], point_normals=np.array([[0.0, 0, 1]]))
    assert face[0] in (0, 1)


def test_make_proxy_covers_every_vertex_closely():
    s = _sphere(4)  # 2562 vertices
    p = make_proxy(s, 600)
    assert 500 <= p.shape.n_vertices <= 700
    assert p.face.shape == (s.n_vertices,) and p.bary.shape == (s.n_vertices, 3)
    assert (p.bary >= 0).all() and np.allclose(p.bary.sum(1), 1)
    located = p.interpolate(p.shape.vertices)
    np.testing.assert_allclose(np.linalg.norm(located - s.vertices, axis=1), p.distance, atol=1e-12)
    edge = np.linalg.norm(np.diff(p.shape.vertices[p.shape.edges], axis=1), axis=2).mean()
    assert p.distance.max() < 0.2 * edge  # the full mesh lies close to its proxy
    # the anchor is a corner of the face holding the projection
    assert (p.shape.faces[p.face] == p.anchor()[:, None]).any(axis=1).all()
    # vertex order of the full shape is untouched
    assert p.n_full == s.n_vertices


def test_proxy_vertices_used_by_no_face_are_projected_too():
    s = _sphere(3)
    extra = np.vstack([s.vertices, [[0.0, 0.0, 1.5]]])  # a stray vertex above the north pole
    shape = Shape(extra, s.faces)
    p = make_proxy(shape, 200)
    assert p.distance[-1] == pytest.approx(0.5, abs=0.05)


def test_make_proxy_refuses_point_clouds():
    s = _sphere(2)
    with pytest.raises(ShapeError, match="point cloud"):
        make_proxy(Shape(s.vertices), 100)
    with pytest.raises(SettingsError, match="too small"):
        make_proxy(s, 3)


def test_a_small_shape_is_its_own_proxy():
    s = _sphere(2)
    p = make_proxy(s, s.n_vertices)
    assert p.shape is s
    np.testing.assert_array_equal(p.anchor(), np.arange(s.n_vertices))  # every vertex sits on itself
    np.testing.assert_allclose(p.distance, 0, atol=1e-12)
    np.testing.assert_allclose(p.interpolate(s.vertices), s.vertices, atol=1e-12)


def test_clean_mesh_drops_degenerate_faces_and_unused_vertices():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [5, 5, 5], [2, 0, 0], [1, 1, 0]], dtype=float)
    f = np.array([[0, 1, 2], [0, 1, 4], [1, 1, 5], [1, 5, 2]])  # face 1 is flat (collinear), face 2 repeats
    v2, f2 = clean_mesh(v, f)
    np.testing.assert_array_equal(v2, v[[0, 1, 2, 5]])
    np.testing.assert_array_equal(f2, [[0, 1, 2], [1, 3, 2]])


def test_barycentric_interpolation_of_vectors_and_scalars():
    faces = np.array([[0, 1, 2], [1, 3, 2]])
    values = np.array([[0.0, 1], [1, 2], [2, 3], [3, 4]])
    face = np.array([1, 0])
    bary = np.array([[0.5, 0.25, 0.25], [1.0, 0, 0]])
    np.testing.assert_allclose(barycentric_interpolate(values, faces, face, bary), [[1.75, 2.75], [0, 1]])
    np.testing.assert_allclose(barycentric_interpolate(values[:, 0], faces, face, bary), [1.75, 0])
