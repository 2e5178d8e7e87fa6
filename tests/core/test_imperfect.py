"""Imperfect input is handled, never refused for being imperfect: one warning per kind in the
form ``FILE: what was found; what was done``, vertex count and order kept, and a specific
error for each kind when strict loading is asked."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from helpers import grid, icosphere, write_off

from shapecorr import Shape, load
from shapecorr.core import (
    DegenerateFacesError,
    DisconnectedShapeError,
    DuplicateVerticesError,
    ImperfectShapeError,
    InconsistentWindingError,
    NonManifoldError,
    OpenBoundaryError,
    ShapecorrWarning,
    ShapeWarning,
    UnreferencedVerticesError,
    merge_duplicate_vertices,
)


def _two_triangles_with_a_seam():
    """Two triangles sharing an edge, the second one using repeats (3, 4) of its vertices (1, 2)."""
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0.0]])
    return v, np.array([[0, 1, 2], [3, 5, 4]])


def _sphere_with_extra_vertex():
    s = icosphere(1)
    return np.vstack([s.vertices, [[3.0, 0, 0]]]), s.faces


def _two_spheres():
    a = icosphere(1)
    return np.vstack([a.vertices, a.vertices * 0.5 + [3.0, 0, 0]]), np.vstack([a.faces, a.faces + 42])


def _fin():
    # three triangles on the edge (0, 1)
    v = np.array([[0, 0, 0], [1, 0, 0], [0.5, 1, 0], [0.5, -1, 0], [0.5, 0, 1.0]])
    return v, np.array([[0, 1, 2], [1, 0, 3], [0, 1, 4]])


def _sphere_with_collapsed_face():
    s = icosphere(1)
    a, b, c = s.faces[0]
    v = s.vertices.copy()
    v[c] = 0.5 * (v[a] + v[b])  # face 0 now has zero area
    return v, s.faces


def _sphere_with_faces_wound_inward():
    s = icosphere(2)
    f = s.faces.copy()
    f[:40] = f[:40, ::-1]
    return s.vertices, f


CASES = {
    # name: (builder, kinds warned in order, error of strict loading)
    "collapsed": (_sphere_with_collapsed_face, ["degenerate_faces", "open_boundary"], DegenerateFacesError),
    "unreferenced": (_sphere_with_extra_vertex, ["unreferenced_vertices"], UnreferencedVerticesError),
    "seam": (_two_triangles_with_a_seam, ["duplicate_vertices", "open_boundary"], DuplicateVerticesError),
    "fin": (_fin, ["non_manifold_edges", "open_boundary"], NonManifoldError),
    "grid": (lambda: (grid(4, 3).vertices, grid(4, 3).faces), ["open_boundary"], OpenBoundaryError),
    "two_spheres": (_two_spheres, ["components"], DisconnectedShapeError),
    "winding": (_sphere_with_faces_wound_inward, ["inconsistent_winding"], InconsistentWindingError),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_kind_is_one_warning_line_and_the_shape_is_kept(tmp_path, name):
    build, kinds, _ = CASES[name]
    v, f = build()
    p = write_off(tmp_path / f"{name}.off", v, f)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        got = load(p)
    ours = [w for w in rec if issubclass(w.category, ShapeWarning)]
    assert [w.message.kind for w in ours] == kinds  # one warning per kind, nothing else
    assert len(ours) == len(rec)
    for w in ours:
        assert issubclass(w.category, ShapecorrWarning)
        text = str(w.message)
        assert "\n" not in text
        assert re.fullmatch(re.escape(str(p)) + r": [^;]+; .+", text), text  # FILE: found; done
    np.testing.assert_array_equal(got.vertices, v)  # vertex count and order kept


@pytest.mark.parametrize("name", sorted(CASES))
def test_strict_loading_refuses_each_kind_with_its_own_error(tmp_path, name):
    build, _, error = CASES[name]
    v, f = build()
    p = write_off(tmp_path / f"{name}.off", v, f)
    with pytest.raises(error, match="strict") as info:
        load(p, strict=True)
    assert isinstance(info.value, ImperfectShapeError) and info.value.path == str(p)
    assert str(info.value).startswith(f"{p}: ")


def test_clean_mesh_loads_strictly(tmp_path):
    s = icosphere(1)
    p = write_off(tmp_path / "ico.off", s.vertices, s.faces)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = load(p, strict=True)
    assert got.n_vertices == 42


def test_issue_texts_give_the_numbers():
    v, f = _two_spheres()
    (issue,) = Shape(v, f).issues()
    assert issue.found == "2 connected components (42, 42 vertices)"
    v, f = _sphere_with_collapsed_face()
    issues = Shape(v, f).issues()
    assert issues[0].found.startswith("1 of 80 faces are degenerate")
    assert issues[1].found == "open boundary (3 boundary edges)"  # the dropped face leaves a slit


def test_negative_zero_is_the_same_position():
    """-0.0 == 0.0: a duplicate count that compares bytes misses these (teapot: 319 of 403)."""
    v = np.array([[0.0, 1, 2], [-0.0, 1, 2], [1, -0.0, 0], [1, 0.0, -0.0], [5, 5, 5], [1, 0, 0]])
    s = Shape(v)
    np.testing.assert_array_equal(s.welded_index, [0, 0, 2, 2, 4, 2])
    assert s.n_duplicate_vertices == 3
    assert s.issues()[0].message("cloud.xyz") == (
        "cloud.xyz: 3 duplicate vertices (at exactly the position of an earlier vertex; first: vertex 1 "
        "= vertex 0); kept, not merged (vertex order unchanged); the Laplacian joins them")
    merged = merge_duplicate_vertices(s)
    np.testing.assert_array_equal(merged.vertices, v[[0, 2, 4]])


def test_seam_of_repeated_vertices_is_joined_in_the_topology():
    v, f = _two_triangles_with_a_seam()
    s = Shape(v, f)
    assert s.n_components == 1 and s.n_duplicate_vertices == 2
    np.testing.assert_array_equal(s.surface_faces, [[0, 1, 2], [1, 5, 2]])
    assert len(s.boundary_edges) == 4  # the square's outline; the seam is no boundary


def test_repeated_vertices_inside_the_surface_stay_apart():
    """Two closed spheres touching at one point, each with its own vertex there: two sheets
    that touch, not a seam. They are counted as duplicates but not joined (joining would
    glue the two surfaces, a shortcut a posed copy of the shape does not have)."""
    a = icosphere(1)
    top, bottom = int(np.argmax(a.vertices[:, 2])), int(np.argmin(a.vertices[:, 2]))
    b = a.vertices + (a.vertices[top] - a.vertices[bottom])
    b[bottom] = a.vertices[top]  # exactly the same position
    s = Shape(np.vstack([a.vertices, b]), np.vstack([a.faces, a.faces + 42]))
    assert s.n_duplicate_vertices == 1 and s.n_components == 2 and s.is_edge_manifold
    np.testing.assert_array_equal(s.surface_faces, s.faces)
    dup, comps = s.issues()
    assert comps.kind == "components"
    assert dup.found == (f"1 duplicate vertices (at exactly the position of an earlier vertex; first: "
                         f"vertex {42 + bottom} = vertex {top})")
    assert dup.done == "kept, not merged (vertex order unchanged)"
    v, f = _two_triangles_with_a_seam()
    assert Shape(v, f).issues()[0].done.endswith("the Laplacian joins the 2 on open edges (a seam)")


def test_summary_lists_the_issues():
    v, f = _sphere_with_extra_vertex()
    assert Shape(v, f).summary()["issues"] == ["1 vertices are used by no face (first: vertex 42)"]


def test_repairing_a_clean_shape_keeps_no_reference_cycle():
    """A shape with no degenerate face is its own repair, and is freed as soon as the last
    reference goes (collections load thousands of shapes; a cycle would keep each until the
    garbage collector runs)."""
    import gc
    import weakref

    s = icosphere(1)
    assert s.repaired() is s
    gone = weakref.ref(s)
    gc.disable()
    try:
        del s
        assert gone() is None
    finally:
        gc.enable()


def test_repairing_drops_degenerate_faces_once():
    s = icosphere(1)
    bad = Shape(s.vertices, np.vstack([s.faces, [[0, 0, 1]]]))
    fixed = bad.repaired()
    assert fixed is not bad and fixed.n_faces == s.n_faces and bad.repaired() is fixed
