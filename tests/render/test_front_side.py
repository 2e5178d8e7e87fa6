"""The renderer draws only the visible side of a closed surface (front_side picks the cull)."""

from __future__ import annotations

import numpy as np

from shapecorr.core.raster import rasterize_triangles
from shapecorr.render.offscreen import front_side


def _projected_blob():
    """A closed blob (faces wound counter-clockwise seen from outside) projected on a 64 x 64 image."""
    from helpers import bumpy

    shape = bumpy(2)
    v = np.asarray(shape.vertices)
    xy = np.stack([32 + 25 * v[:, 0], 32 - 25 * v[:, 1]], axis=1)  # camera on +z, image y down
    return shape, xy, v[:, 2]


def test_culling_a_closed_surface_changes_nothing_in_the_picture():
    shape, xy, depth = _projected_blob()
    assert front_side(shape.faces, shape.vertices, shape.n_components) == 1
    both = rasterize_triangles(xy, depth, shape.faces, (64, 64))
    front = rasterize_triangles(xy, depth, shape.faces, (64, 64), cull=1)
    order_b, order_f = np.argsort(both.pixel), np.argsort(front.pixel)
    assert np.array_equal(both.pixel[order_b], front.pixel[order_f])
    assert np.array_equal(both.face[order_b], front.face[order_f])
    # the other side alone is the back of the blob: same outline, other faces
    back = rasterize_triangles(xy, depth, shape.faces, (64, 64), cull=-1)
    assert np.array_equal(np.sort(back.pixel), np.sort(both.pixel))
    assert not np.isin(back.face, front.face).any()


def test_front_side_only_for_one_closed_consistently_wound_surface():
    from helpers import grid

    shape, _, _ = _projected_blob()
    f, v = np.asarray(shape.faces), np.asarray(shape.vertices)
    assert front_side(f[:, ::-1], v, 1) == -1  # wound the other way: the other side faces out
    flipped = f.copy()
    flipped[0] = flipped[0, ::-1]
    assert front_side(flipped, v, 1) == 0  # one face wound against its neighbours
    assert front_side(f[1:], v, 1) == 0  # a hole
    assert front_side(f, v, 2) == 0  # several pieces
    g = grid()
    assert front_side(g.faces, g.vertices, g.n_components) == 0  # open
