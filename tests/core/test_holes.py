"""Holes: boundary loops, which holes count as small, and the Laplacian computed as if they
were closed (its spectrum close to the closed surface's, on the shape's own vertices)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import grid, icosphere, tube, tube_with_band_cut

from shapecorr import Shape
from shapecorr.core.holes import boundary_loops, small_hole_fill
from shapecorr.spectral import eigenbasis, laplacian


def _sphere_with_holes(n_holes: int, size: int = 6, subdivisions: int = 3):
    """An icosphere with ``n_holes`` holes of the faces around ``size`` vertices each, and no
    vertex left inside a hole (as a scanner leaves them)."""
    s = icosphere(subdivisions)
    rng = np.random.default_rng(1)
    drop = np.zeros(s.n_faces, dtype=bool)
    gone = np.zeros(s.n_vertices, dtype=bool)
    for c in rng.choice(s.n_vertices, n_holes, replace=False):
        near = np.argsort(np.linalg.norm(s.vertices - s.vertices[c], axis=1))[:size]
        gone[near] = True
        drop |= np.isin(s.faces, near).any(1)
    f = s.faces[~drop]
    used = np.unique(f)
    new = np.full(s.n_vertices, -1)
    new[used] = np.arange(len(used))
    return s, Shape(s.vertices[used], new[f])


def test_boundary_loops_follow_the_faces_and_close():
    _, holey = _sphere_with_holes(4)
    loops = boundary_loops(holey.faces, holey.n_vertices)
    assert len(loops) == 4
    directed = {(int(a), int(b)) for f in holey.faces for a, b in zip(f, np.roll(f, -1))}
    for loop in loops:
        for a, b in zip(loop, np.roll(loop, -1)):
            assert (int(a), int(b)) in directed and (int(b), int(a)) not in directed
    assert sum(len(l) for l in loops) == len(holey.boundary_edges)


def test_a_closed_mesh_has_no_loops_and_an_open_sheet_is_not_closed():
    assert boundary_loops(icosphere(2).faces, 162) == []
    g = grid(9, 7)
    assert len(boundary_loops(g.faces, g.n_vertices)) == 1
    assert small_hole_fill(g.vertices, g.faces).n_holes == 0  # its rim bounds no small hole
    assert g.hole_fill.n_holes == 0


def test_fans_close_each_small_hole_coherently():
    _, holey = _sphere_with_holes(5)
    fill = holey.hole_fill
    loops = boundary_loops(holey.faces, holey.n_vertices)
    assert fill.n_holes == len(loops) >= 3 and len(fill.centers) == fill.n_holes
    closed = np.vstack([holey.faces, fill.faces])
    allv = np.vstack([holey.vertices, fill.centers])
    closed_shape = Shape(allv, closed)
    assert closed_shape.is_watertight and closed_shape.winding.incoherent_edges == 0


@pytest.mark.parametrize("kind", ["robust", "cotan"])
def test_the_laplacian_of_a_holey_sphere_is_nearly_the_closed_ones(kind):
    """Twelve holes shift the low eigenvalues by several percent; computed as if closed, the
    spectrum is within a fraction of that. The operator stays a Laplacian on the shape's own
    vertices: symmetric, zero row sums, positive mass summing to the closed area."""
    sphere, holey = _sphere_with_holes(12)
    L, mass = laplacian(holey, kind, cache=False)
    assert L.shape == (holey.n_vertices, holey.n_vertices)
    assert abs(L - L.T).max() < 1e-12
    np.testing.assert_allclose(L @ np.ones(holey.n_vertices), 0, atol=1e-10)
    assert np.all(mass > 0)
    assert mass.sum() == pytest.approx(holey.area + holey.hole_fill.area, rel=1e-9)
    closed = eigenbasis(sphere.normalized(), 16, laplacian_kind=kind, cache=False).evals[1:]
    filled = eigenbasis(holey.normalized(), 16, laplacian_kind=kind, cache=False).evals[1:]
    from shapecorr.spectral import eigh_generalized
    from shapecorr.spectral.laplacian import cotan_laplacian, robust_mesh_laplacian

    v = holey.normalized().vertices  # the same scale, the holes left open
    Lo, mo = robust_mesh_laplacian(v, holey.faces) if kind == "robust" else cotan_laplacian(v, holey.faces)
    kept_open = eigh_generalized(Lo, mo, 16).evals[1:]
    err_filled = np.abs(filled / closed - 1).max()
    err_open = np.abs(kept_open / closed - 1).max()
    assert err_filled < 0.3 * err_open, (err_filled, err_open)


def test_a_band_cut_all_round_is_bridged_and_the_spectrum_is_the_whole_ones():
    whole, cut = tube_with_band_cut()
    assert cut.n_components == 2
    fill = cut.hole_fill
    assert fill.n_bridges == 1 and fill.n_holes == 0  # bridged, not capped twice
    # the strip uses each loop edge once, the other way from the face it borders
    strip = fill.bridge_faces
    directed = {(int(a), int(b)) for f in cut.faces for a, b in zip(f, np.roll(f, -1))}
    strip_edges = [(int(a), int(b)) for f in strip for a, b in zip(f, np.roll(f, -1))]
    loop_edges = {(int(a), int(b)) for lp in fill.bridges[0] for a, b in zip(lp, np.roll(lp, -1))}
    for a, b in loop_edges:
        assert (b, a) in strip_edges and (a, b) not in strip_edges
    assert not directed & set(strip_edges)
    assert Shape(cut.vertices, np.vstack([cut.faces, strip])).is_watertight
    assert "bridged" in " ".join(i.done for i in cut.issues())
    # one zero eigenvalue, and the low spectrum close to the uncut shape's
    want = eigenbasis(whole.normalized(), 8, cache=False).evals
    got = eigenbasis(cut.normalized(), 8, cache=False).evals
    assert got[1] > 0.5 * want[1]
    np.testing.assert_allclose(got[1:], want[1:], rtol=0.1)


def _moved_upper_piece(cut: Shape, rotation_deg: float, shift) -> Shape:
    """``cut`` with its upper piece (z > 0) turned about the x axis through its loop's end and
    shifted."""
    v = cut.vertices.copy()
    up = v[:, 2] > 0
    t = np.radians(rotation_deg)
    R = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
    pivot = np.array([0.0, 0.0, v[up, 2].min()])
    v[up] = (v[up] - pivot) @ R.T + pivot + np.asarray(shift, dtype=float)
    return Shape(v, cut.faces)


def test_a_longer_band_missing_between_facing_loops_is_bridged():
    """A forearm missing between the hand and the elbow: two diameters of gap, the loops facing."""
    whole, cut = tube_with_band_cut(width=2.0)
    assert cut.n_components == 2 and cut.hole_fill.n_bridges == 1 and cut.hole_fill.n_holes == 0
    assert eigenbasis(cut.normalized(), 4, cache=False).evals[1] > 1e-3  # one zero eigenvalue


def _stump_in_a_wider_hole() -> Shape:
    """A tube cut by a band near its top, the long lower piece widened three times across: the
    short upper piece's loop (a stump) lies inside the lower piece's far larger loop."""
    whole = tube()
    v, f = whole.vertices.copy(), whole.faces
    drop = ((v[f][:, :, 2] > 0.6) & (v[f][:, :, 2] < 1.0)).any(axis=1)
    f = f[~drop]
    used = np.unique(f)
    new = np.full(len(v), -1)
    new[used] = np.arange(len(used))
    v = v[used]
    v[v[:, 2] < 0.8, :2] *= 3.0
    return Shape(v, new[f])


def test_a_stump_inside_a_larger_hole_is_bridged(monkeypatch):
    """A hand cut off where the scan also missed part of the forearm's side: the loops' perimeters
    are three times apart, but the smaller piece's loop lies within the larger one's diameter."""
    import shapecorr.core.holes as holes

    cut = _stump_in_a_wider_hole()
    assert cut.n_components == 2
    fill = cut.hole_fill
    assert fill.n_bridges == 1 and fill.n_holes == 0
    assert eigenbasis(cut.normalized(), 4, cache=False).evals[1] > 1e-3  # one zero eigenvalue
    monkeypatch.setattr(holes, "MAX_STUMP_GAP", 0.0)
    assert Shape(cut.vertices, cut.faces).hole_fill.n_bridges == 0


def test_pieces_far_apart_or_side_by_side_are_not_bridged_and_one_piece_never_gets_a_handle():
    _, cut = tube_with_band_cut(width=0.4)
    far = _moved_upper_piece(cut, 0, (0, 0, 3.0))  # facing, but four diameters apart
    assert far.n_components == 2 and far.hole_fill.n_bridges == 0
    aside = _moved_upper_piece(cut, 90, (1.5, 0, 0))  # near, but not facing
    assert aside.n_components == 2 and aside.hole_fill.n_bridges == 0
    _, holey = _sphere_with_holes(4)  # four loops, one piece: capped, never joined
    assert holey.hole_fill.n_bridges == 0 and holey.hole_fill.n_holes == 4


def test_an_elongated_hole_is_judged_by_the_area_it_leaves_not_its_perimeter():
    """A long thin slit: its perimeter's disk is far larger than the area it leaves open."""
    s = icosphere(4)
    near_equator = np.abs(s.vertices[:, 2]) < 0.04
    east = s.vertices[:, 0] > 0
    drop = (near_equator & east)[s.faces].any(axis=1)
    f = s.faces[~drop]
    used = np.unique(f)
    new = np.full(s.n_vertices, -1)
    new[used] = np.arange(len(used))
    slit = Shape(s.vertices[used], new[f])
    (loop,) = boundary_loops(slit.faces, slit.n_vertices, slit.vertices)
    perimeter = np.linalg.norm(slit.vertices[loop] - np.roll(slit.vertices[loop], -1, axis=0), axis=1).sum()
    assert perimeter ** 2 / (4 * np.pi) > 0.25 * slit.area  # the old rule left it open
    assert slit.hole_fill.n_holes == 1


def test_a_piece_wound_inside_out_across_a_cut_band_is_turned_with_the_other():
    _, cut = tube_with_band_cut()
    labels = cut.component_labels[cut.faces[:, 0]]
    faces = cut.faces.copy()
    faces[labels == 1] = faces[labels == 1][:, ::-1]
    turned = Shape(cut.vertices, faces)
    w = turned.winding
    np.testing.assert_array_equal(w.reversed, labels == 1)
    np.testing.assert_array_equal(w.faces, cut.faces)


def test_loops_that_touch_at_a_vertex_are_both_found():
    s = icosphere(2)
    x = 0
    fan = np.flatnonzero((s.faces == x).any(axis=1))
    # two faces of x's fan that share no edge: two triangular holes touching at x
    first = fan[0]
    other = next(f for f in fan[1:] if len(set(s.faces[f]) & set(s.faces[first])) == 1)
    pinched = Shape(s.vertices, np.delete(s.faces, [first, other], axis=0))
    loops = boundary_loops(pinched.faces, pinched.n_vertices, pinched.vertices)
    assert boundary_loops(pinched.faces, pinched.n_vertices) == []  # without positions: left out
    assert len(loops) == 2 and all(len(lp) == 3 and x in lp for lp in loops)
    assert {frozenset(lp.tolist()) for lp in loops} == {frozenset(s.faces[first]), frozenset(s.faces[other])}
    assert pinched.hole_fill.n_holes == 2
