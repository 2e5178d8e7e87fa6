"""The viewer's Qt-free edit model: ARAP handles, an edit carried through a match, the morph."""

from __future__ import annotations

import numpy as np
import pytest

from apps.viewer.helpers import DisplayFrame
from apps.viewer.mesh_edit import EditCarrier, MeshEditor, morph_of


def _bar(n: int = 12):
    """A box-shaped bar along x, 1 x 0.2 x 0.2, triangulated (closed)."""
    import trimesh

    bar = trimesh.creation.box(extents=(1.0, 0.2, 0.2))
    bar = bar.subdivide().subdivide()
    return np.asarray(bar.vertices, dtype=np.float64), np.asarray(bar.faces, dtype=np.int64)


def test_a_single_grabbed_region_moves_the_whole_shape_rigidly():
    V, F = _bar()
    ed = MeshEditor(V, F)
    end = int(np.argmax(V[:, 0]))
    ed.grab(end)
    ed.drag([0.0, 0.3, 0.0])
    ed.end_drag()
    np.testing.assert_allclose(ed.vertices - V, np.tile([0.0, 0.3, 0.0], (len(V), 1)), atol=1e-6)
    assert not ed.dragging and ed.n_dragged == len(ed.region(end)) and len(ed.fixed) == 0


def test_a_fixed_end_stays_and_the_bar_bends():
    V, F = _bar()
    ed = MeshEditor(V, F)
    left, right = int(np.argmin(V[:, 0])), int(np.argmax(V[:, 0]))
    fixed = ed.fix(left)
    ed.grab(right)
    ed.drag([0.0, 0.3, 0.0])
    ed.end_drag()
    np.testing.assert_allclose(ed.vertices[fixed], V[fixed], atol=1e-9)
    assert abs(ed.vertices[right, 1] - V[right, 1] - 0.3) < 1e-6
    middle = np.abs(V[:, 0]) < 0.05
    lift = ed.vertices[middle, 1] - V[middle, 1]
    assert 0.02 < lift.mean() < 0.28  # bent in between, not moved as a block
    # grabbing inside a fixed region is refused with a clear message
    with pytest.raises(ValueError, match="fixed region"):
        ed.grab(left)
    ed.clear_handles()
    assert not ed.pinned and len(ed.fixed) == 0


def test_point_clouds_are_edited_through_a_neighbour_graph():
    import trimesh

    V = np.asarray(trimesh.creation.icosphere(subdivisions=3).vertices) * [1.5, 1.0, 0.6]
    ed = MeshEditor(V, None)
    ed.grab(int(np.argmax(V[:, 0])))
    ed.drag([0.0, 0.0, 0.2])
    np.testing.assert_allclose(ed.vertices - V, np.tile([0.0, 0.0, 0.2], (len(V), 1)), atol=1e-5)


def test_set_pose_checks_the_shape():
    V, F = _bar()
    ed = MeshEditor(V, F)
    with pytest.raises(ValueError, match="pose"):
        ed.set_pose(V[:-1])


def test_display_frame_between_keeps_the_ends():
    a = DisplayFrame.of(np.array([[0.0, 0, 0], [1, 1, 1]]))
    b = DisplayFrame.of(np.array([[10.0, 0, 0], [14, 4, 4]]))
    for t, want in ((0.0, a), (1.0, b)):
        got = DisplayFrame.between(a, b, t)
        np.testing.assert_allclose(got.center, want.center)
        assert got.scale == pytest.approx(want.scale)
    half = DisplayFrame.between(a, b, 0.5)
    assert 1 / half.scale == pytest.approx(0.5 / a.scale + 0.5 / b.scale)


@pytest.fixture(scope="module")
def permuted_pair():
    """A bar and a vertex-permuted copy, with the exact match between them."""
    from shapecorr import Shape
    from shapecorr.result import Match

    V, F = _bar()
    rng = np.random.default_rng(3)
    perm = rng.permutation(len(V))  # target vertex j is source vertex perm[j]
    inv = np.argsort(perm)
    source, target = Shape(V, F, name="bar"), Shape(V[perm], inv[F], name="bar_permuted")
    match = Match(p2p_21=perm, p2p_12=inv, fmap_12=np.eye(20))
    return source, target, match, perm


def test_an_edit_is_carried_to_a_permuted_copy_exactly(permuted_pair):
    source, target, match, perm = permuted_pair
    ed = MeshEditor(source.vertices, source.faces)
    ed.fix(int(np.argmin(source.vertices[:, 0])))
    ed.grab(int(np.argmax(source.vertices[:, 0])))
    ed.drag([0.0, 0.25, 0.1])
    ed.end_drag()
    carrier = EditCarrier(match, source, target, method="vertex")
    carried = carrier.carry("source", ed.vertices)
    np.testing.assert_allclose(carried, ed.vertices[perm], atol=1e-6)
    # and back: the target's edit goes through the reversed match
    back = carrier.carry("target", carried)
    np.testing.assert_allclose(back, ed.vertices, atol=1e-6)


def test_carrying_needs_two_meshes(permuted_pair):
    from shapecorr import Shape

    source, target, match, _ = permuted_pair
    with pytest.raises(ValueError, match="point cloud"):
        EditCarrier(match, source, Shape(target.vertices, None, name="cloud"))


def test_the_morph_ends_at_the_source_and_at_the_match(permuted_pair):
    source, target, match, perm = permuted_pair
    m = morph_of(match, source, target)
    np.testing.assert_allclose(m.frame(0.0), source.vertices, atol=1e-9)
    np.testing.assert_allclose(m.frame(1.0), source.vertices, atol=1e-6)  # the copy's vertices are the source's
