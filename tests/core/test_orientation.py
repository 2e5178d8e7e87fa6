"""Face winding made coherent and outward (shapecorr.core.orientation): the faces of a mesh
with some faces reversed come back exactly as the clean mesh's, per component, and the
prepared normals (learned features, orientation terms) no longer depend on the file's winding."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import capsule, folded, grid, icosphere

from shapecorr import Shape
from shapecorr.core.orientation import coherent_outward_faces
from shapecorr.fmap.prepare import prepare_shape


def _reverse(faces: np.ndarray, which: np.ndarray) -> np.ndarray:
    out = faces.copy()
    out[which] = out[which, ::-1]
    return out


def _patch(shape: Shape, seed: int, n: int) -> np.ndarray:
    """Faces within the ``n`` vertices nearest to a random vertex (a connected patch)."""
    rng = np.random.default_rng(seed)
    c = shape.vertices[rng.integers(shape.n_vertices)]
    near = np.argsort(np.linalg.norm(shape.vertices - c, axis=1))[:n]
    return np.isin(shape.faces, near).all(1)


@pytest.mark.parametrize("seed", range(6))
def test_randomly_reversed_faces_of_a_closed_mesh_come_back_exactly(seed):
    s = capsule()
    rng = np.random.default_rng(seed)
    which = rng.random(s.n_faces) < rng.uniform(0.05, 0.6)
    w = coherent_outward_faces(s.vertices, _reverse(s.faces, which))
    np.testing.assert_array_equal(w.faces, s.faces)
    np.testing.assert_array_equal(w.reversed, which)
    assert w.incoherent_edges > 0


def test_a_mesh_wound_inward_is_turned_and_a_clean_one_kept():
    s = icosphere(2)
    clean = coherent_outward_faces(s.vertices, s.faces)
    assert clean.n_reversed == 0 and clean.incoherent_edges == 0
    inward = coherent_outward_faces(s.vertices, s.faces[:, ::-1])
    np.testing.assert_array_equal(inward.faces, s.faces)
    assert inward.incoherent_edges == 0  # coherent, only turned the wrong way: no warning


def test_each_component_is_turned_outward_on_its_own():
    a, b = icosphere(1), capsule()
    v = np.vstack([a.vertices, b.vertices + [5.0, 0, 0]])
    clean = np.vstack([a.faces, b.faces + a.n_vertices])
    bad = np.vstack([a.faces, b.faces[:, ::-1] + a.n_vertices])  # the capsule wound inward
    bad = _reverse(bad, np.arange(len(bad)) % 7 == 0)  # and a few faces of both reversed
    np.testing.assert_array_equal(coherent_outward_faces(v, bad).faces, clean)


def test_an_open_sheet_keeps_the_winding_of_most_of_its_faces():
    g = grid(9, 7)
    which = _patch(g, 0, 12)
    assert 0 < which.sum() < g.n_faces / 2
    w = coherent_outward_faces(g.vertices, _reverse(g.faces, which))
    np.testing.assert_array_equal(w.faces, g.faces)


@pytest.mark.parametrize("degrees", [40.0, -40.0, 90.0, -90.0])
def test_a_folded_sheet_keeps_its_winding_whichever_way_it_is_folded(degrees):
    """A fold encloses as much signed "volume" about the centroid as a body does, and its sign
    says only which way the sheet was folded: the flat sheet and its folded copy must keep the
    same (the file's) winding, or their normals point opposite ways and the matcher prefers the
    mirror image (woody, a flat model, onto a bent copy: a mirrored map trusted at 1.00)."""
    from shapecorr.core.orientation import outward_sign

    sheet = grid(13, 9)
    bent = folded(sheet, degrees)
    for shape in (sheet, bent):
        w = coherent_outward_faces(shape.vertices, shape.faces)
        assert not w.reversed.any()
        assert outward_sign(shape.vertices, shape.faces) == 1.0
        assert prepare_shape(shape, 6, cache=False).sign == 1.0


def test_a_cup_wound_inward_is_turned_outward():
    """An open surface whose volume does not hang on where it is measured from (a hemisphere,
    like a face mask or a scan with a hole) is still turned by it."""
    from shapecorr.core.orientation import outward_sign

    s = icosphere(3)
    keep = s.faces[(s.vertices[s.faces][:, :, 2] > -0.05).all(1)]  # the upper half
    used = np.unique(keep)
    new = np.full(s.n_vertices, -1)
    new[used] = np.arange(len(used))
    cup = Shape(s.vertices[used], new[keep])
    assert cup.boundary_edges.shape[0] > 0
    assert outward_sign(cup.vertices, cup.faces) == 1.0
    assert outward_sign(cup.vertices, cup.faces[:, ::-1]) == -1.0
    np.testing.assert_array_equal(coherent_outward_faces(cup.vertices, cup.faces[:, ::-1]).faces, cup.faces)


def test_prepared_normals_do_not_depend_on_the_files_winding():
    s = capsule()
    bad = Shape(s.vertices, _reverse(s.faces, _patch(s, 1, 60)))
    assert any(i.kind == "inconsistent_winding" for i in bad.issues())
    P_clean, P_bad = prepare_shape(s, 10, cache=False), prepare_shape(bad, 10, cache=False)
    np.testing.assert_allclose(P_bad.vertex_normals, P_clean.vertex_normals, atol=1e-12)
    np.testing.assert_array_equal(P_bad.faces_outward, P_clean.faces_outward)
    np.testing.assert_array_equal(P_bad.shape.vertices, P_clean.shape.vertices)  # vertex order kept
