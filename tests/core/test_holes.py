"""Holes: boundary loops, which holes count as small, and the Laplacian computed as if they
were closed (its spectrum close to the closed surface's, on the shape's own vertices)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import grid, icosphere

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
