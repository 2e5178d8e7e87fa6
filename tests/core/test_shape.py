"""The Shape type: reported-not-refused issues, predicates, normalization, immutability."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from shapecorr import Shape, load
from shapecorr.core import ShapeError, ShapeWarning, Transform
from shapecorr.spectral import laplacian

from helpers import bumpy, grid, icosphere, point_cloud, write_off


def _warning_texts(record):
    return [str(w.message) for w in record if issubclass(w.category, ShapeWarning)]


def test_clean_closed_mesh_has_no_issues(tmp_path):
    s = icosphere(1)
    assert s.is_watertight and s.is_edge_manifold and s.n_components == 1
    assert s.issues() == []
    p = write_off(tmp_path / "ico.off", s.vertices, s.faces)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ShapeWarning)  # any ShapeWarning would fail the test
        load(p)


def test_open_boundary_is_reported_not_refused(tmp_path):
    g = grid(9, 7)
    assert g.boundary_edges.shape == (2 * (8 + 6), 2)
    assert not g.is_watertight and g.is_edge_manifold
    p = write_off(tmp_path / "grid.off", g.vertices, g.faces)
    with pytest.warns(ShapeWarning, match=r"open boundary \(28 boundary edges\)") as rec:
        got = load(p)
    assert str(p) in _warning_texts(rec)[0]
    assert got.n_vertices == g.n_vertices
    L, mass = laplacian(got)  # and it is handled downstream
    assert np.allclose(L @ np.ones(got.n_vertices), 0, atol=1e-10)
    assert mass.sum() == pytest.approx(g.area)


def test_several_components_are_reported(tmp_path):
    a, b = icosphere(1), icosphere(1)
    v = np.vstack([a.vertices, b.vertices + [3.0, 0, 0]])
    f = np.vstack([a.faces, b.faces + a.n_vertices])
    s = Shape(v, f)
    assert s.n_components == 2 and s.is_watertight
    p = write_off(tmp_path / "two.off", v, f)
    with pytest.warns(ShapeWarning, match="2 connected components"):
        load(p)


def test_duplicate_and_unreferenced_vertices_are_reported_and_kept(tmp_path):
    s = icosphere(1)
    v = np.vstack([s.vertices, s.vertices[:1]])  # vertex 42 duplicates vertex 0, used by no face
    p = write_off(tmp_path / "dup.off", v, s.faces)
    with pytest.warns(ShapeWarning) as rec:
        got = load(p)
    texts = " | ".join(_warning_texts(rec))
    assert ("1 duplicate vertices (at exactly the position of an earlier vertex; first: vertex 42 = "
            "vertex 0); kept, not merged (vertex order unchanged)") in texts
    assert "1 vertices are used by no face (first: vertex 42)" in texts
    assert got.n_vertices == 43 and got.n_duplicate_vertices == 1
    np.testing.assert_array_equal(got.unreferenced_vertices, [42])


def test_non_manifold_edge_is_reported_and_handled(tmp_path):
    # three triangles sharing the edge (0, 1): a "fin"
    v = np.array([[0, 0, 0], [1, 0, 0], [0.5, 1, 0], [0.5, -1, 0], [0.5, 0, 1.0]])
    f = np.array([[0, 1, 2], [1, 0, 3], [0, 1, 4]])
    s = Shape(v, f)
    assert not s.is_edge_manifold and not s.is_watertight
    p = write_off(tmp_path / "fin.off", v, f)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        got = load(p)
    texts = _warning_texts(rec)
    assert any("non-manifold" in t for t in texts) and any("open boundary" in t for t in texts)
    L, mass = laplacian(got)  # the robust Laplacian handles it
    assert np.allclose(L @ np.ones(5), 0, atol=1e-10)
    assert np.all(mass > 0) and np.all(np.isfinite(L.data))


def test_warn_false_is_silent(tmp_path):
    g = grid(4, 4)
    p = write_off(tmp_path / "grid.off", g.vertices, g.faces)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ShapeWarning)
        load(p, warn=False)


def test_summary_reports_the_issues():
    g = grid(5, 4)
    summ = g.summary()
    assert summ["kind"] == "mesh" and summ["n_vertices"] == 20 and summ["n_faces"] == 24
    assert summ["n_boundary_edges"] == 14 and summ["n_components"] == 1 and summ["is_manifold"]
    assert summ["area"] == pytest.approx(g.area)
    pc = point_cloud(g).summary()
    assert pc["kind"] == "point_cloud" and "area" not in pc


def test_geometry_values():
    g = grid(3, 2, h=0.5)  # 2 x 1 cells of 0.5 x 0.5
    assert g.area == pytest.approx(0.5)
    np.testing.assert_allclose(g.face_areas, 0.125)
    np.testing.assert_allclose(np.abs(g.face_normals[:, 2]), 1.0)
    s = icosphere(2)
    # outward normals of a sphere point along the position
    assert np.all(np.einsum("ij,ij->i", s.vertex_normals, s.vertices) > 0.99)
    assert len(s.edges) == 3 * s.n_faces // 2


def test_shape_arrays_are_read_only():
    s = bumpy(1)
    with pytest.raises(ValueError):
        s.vertices[0, 0] = 1.0
    with pytest.raises(ValueError):
        s.faces[0, 0] = 1
    with pytest.raises(ValueError):
        s.face_areas[0] = 1.0


def test_in_memory_validation():
    with pytest.raises(ShapeError, match=r"\(n, 3\)"):
        Shape(np.zeros((4, 2)))
    with pytest.raises(ShapeError, match="vertex_colors"):
        Shape(np.zeros((4, 3)), vertex_colors=np.zeros((3, 3)))


# ----------------------------------------------------------------------------- normalization
def test_normalized_is_centred_with_unit_area_and_invertible():
    rng = np.random.default_rng(0)
    s = bumpy(2)
    moved = s.copy(vertices=s.vertices * 3.7 + rng.standard_normal(3) * 10)
    n = moved.normalized()
    assert n.area == pytest.approx(1.0, rel=1e-12)
    fa = n.face_areas
    centroid = (n.vertices[n.faces].mean(1) * fa[:, None]).sum(0) / fa.sum()
    np.testing.assert_allclose(centroid, 0, atol=1e-12)
    np.testing.assert_allclose(n.to_original(n.vertices), moved.vertices, atol=1e-10)
    np.testing.assert_array_equal(n.faces, moved.faces)  # vertex order untouched
    # the recorded transform maps any point, not just vertices
    p = rng.standard_normal((5, 3))
    np.testing.assert_allclose(n.transform.invert(n.transform.apply(p)), p, atol=1e-12)


def test_normalizing_twice_composes_the_transforms():
    s = bumpy(1).copy(vertices=bumpy(1).vertices * 5 + 2)
    once = s.normalized()
    scaled = once.copy(vertices=once.vertices * 2 + 1, transform=once.transform)  # not through normalized()
    twice = scaled.normalized()
    assert twice.area == pytest.approx(1.0)
    # to_original undoes only what normalized() recorded: back to `scaled`'s file coordinates
    # composed with `once`, i.e. (x * 2 + 1) read as normalized coordinates of s
    expect = once.to_original(scaled.vertices)
    np.testing.assert_allclose(twice.to_original(twice.vertices), expect, atol=1e-10)


def test_point_cloud_normalization():
    pc = point_cloud(bumpy(2))
    n = pc.normalized()
    np.testing.assert_allclose(n.vertices.mean(0), 0, atol=1e-12)
    assert np.sqrt((n.vertices ** 2).sum(1).mean()) == pytest.approx(1.0)  # unit RMS radius
    n2 = pc.normalized(area=4.0)
    assert n2.transform.scale == pytest.approx(0.5)
    np.testing.assert_allclose(n2.to_original(n2.vertices), pc.vertices, atol=1e-12)


def test_transform_compose_matches_sequential_application():
    a = Transform(center=np.array([1.0, 2.0, 3.0]), scale=2.0)
    b = Transform(center=np.array([-0.5, 0.0, 4.0]), scale=0.25)
    p = np.random.default_rng(1).standard_normal((6, 3))
    ab = a.compose(b)
    np.testing.assert_allclose(ab.apply(p), b.apply(a.apply(p)))
    np.testing.assert_allclose(ab.invert(ab.apply(p)), p)
    assert Transform().to_dict() == {"center": [0.0, 0.0, 0.0], "scale": 1.0}
