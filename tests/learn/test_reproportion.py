"""Non-isometric training augmentation (shapecorr.learn.augment.reproportioned): local stretch
fields that keep the mesh, change proportions part by part, leave geodesically far parts in
place, and do not fold a smooth surface; training copies made with it keep the ground truth."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import bumpy, icosphere, point_cloud, write_off

from shapecorr.core import Shape
from shapecorr.core.errors import SettingsError
from shapecorr.learn import FeatureNetConfig
from shapecorr.learn.augment import AugmentSettings, _part_scaling, random_pose, reproportioned
from shapecorr.learn.train import _validation_pairs, copy_pairs, is_copy_of_kind, load_training_shapes

TINY = FeatureNetConfig(in_dim=16, width=16, n_blocks=2, out_dim=8, k_input=20, k_diffusion=20)


def _edge_ratios(a: Shape, b: Shape) -> np.ndarray:
    e = a.edges
    length = lambda s: np.linalg.norm(s.vertices[e[:, 0]] - s.vertices[e[:, 1]], axis=1)
    return length(b) / length(a)


def _face_normals(s: Shape) -> np.ndarray:
    v, f = s.vertices, s.faces
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    return n / np.linalg.norm(n, axis=1, keepdims=True)


def test_part_scaling_scales_along_the_parts_axis_and_across_it():
    """Points spread along the x axis (weights 1): x is scaled by e^a, y and z by e^c."""
    x = np.zeros((11, 3))
    x[:, 0] = np.linspace(-1, 1, 11)
    x[:, 1] = 0.01 * np.sin(np.arange(11))
    m = _part_scaling(x, np.ones(11), 0.3, -0.2)
    np.testing.assert_allclose(m, m.T, atol=1e-15)
    np.testing.assert_allclose(np.abs(m @ [1.0, 0, 0]), [np.exp(0.3), 0, 0], atol=1e-3)
    np.testing.assert_allclose(m @ [0, 0, 1.0], [0, 0, np.exp(-0.2)], atol=1e-12)


def test_reproportioned_keeps_the_mesh_is_not_isometric_and_does_not_fold():
    s = bumpy(3)
    a = reproportioned(s, np.random.default_rng(0), amount=0.5)
    b = reproportioned(s, np.random.default_rng(0), amount=0.5)
    assert a.vertices.tolist() == b.vertices.tolist()  # deterministic given the seed
    assert a.faces.tolist() == s.faces.tolist() and a.n_vertices == s.n_vertices
    r = _edge_ratios(s, a)
    assert np.percentile(r, 95) / np.percentile(r, 5) > 1.2  # proportions changed locally, not one scale
    assert (np.sum(_face_normals(s) * _face_normals(a), axis=1) > 0).all()  # no triangle turned over
    unchanged = reproportioned(s, np.random.default_rng(0), amount=0.0)
    np.testing.assert_allclose(unchanged.vertices, s.vertices, atol=1e-12)


def test_a_field_moves_only_its_own_piece():
    """Two separate spheres, one field: its centre's sphere changes, the other (infinitely far
    along the surface) keeps every vertex exactly."""
    one, two = icosphere(2), icosphere(2)
    n = one.n_vertices
    s = Shape(np.vstack([one.vertices, two.vertices + [5.0, 0, 0]]), np.vstack([one.faces, two.faces + n]))
    moved_pieces = set()
    for seed in range(6):
        out = reproportioned(s, np.random.default_rng(seed), amount=0.5, n_fields=(1, 1))
        moved = np.linalg.norm(out.vertices - s.vertices, axis=1) > 0
        assert moved[:n].any() != moved[n:].any()  # one piece moved (all but its centre), the other not at all
        assert max(moved[:n].sum(), moved[n:].sum()) >= n - 1
        moved_pieces.add(int(moved[n:].any()))
    assert moved_pieces == {0, 1}


def test_bad_input_and_settings_are_refused():
    with pytest.raises(ValueError, match="point cloud"):
        reproportioned(point_cloud(bumpy(2)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="amount"):
        reproportioned(bumpy(2), np.random.default_rng(0), amount=2.0)
    with pytest.raises(SettingsError, match="local must be"):
        AugmentSettings(local=0.8)
    with pytest.raises(SettingsError, match="local_fields"):
        AugmentSettings(local=0.3, local_fields=(0, 2))


def test_random_pose_without_local_draws_as_before():
    """``local=0`` (the default) adds no draw: the bend and the global stretch are the ones the
    earlier recipe made; with ``local`` the copy differs but keeps the mesh."""
    from shapecorr.learn.augment import bent
    from shapecorr.learn.augment import stretched

    s = bumpy(2)
    settings = AugmentSettings()
    rng = np.random.default_rng(4)
    expected = stretched(bent(s, rng, rng.uniform(0.3, 1.0) * settings.bend), rng, settings.stretch)
    assert random_pose(s, np.random.default_rng(4), settings).vertices.tolist() == expected.vertices.tolist()
    local = random_pose(s, np.random.default_rng(4), AugmentSettings(local=0.5))
    assert local.faces.tolist() == s.faces.tolist() and not np.allclose(local.vertices, expected.vertices)


def test_reproportioned_training_copies_keep_the_ground_truth_and_get_their_own_validation(tmp_path):
    (tmp_path / "corres").mkdir()
    names = [f"s{i}" for i in range(3)]
    for name in names:
        shape = bumpy(2)
        write_off(tmp_path / f"{name}.off", shape.vertices, shape.faces)
        np.savetxt(tmp_path / "corres" / f"{name}.vts", np.arange(100) + 1, fmt="%d")
    pose = AugmentSettings(local=0.5)
    shapes = load_training_shapes(tmp_path, names, TINY, progress=False, reproportioned=1, pose_settings=pose)
    assert [s.name for s in shapes] == [n + suffix for n in names for suffix in ("", "~p1")]
    assert all(s.gt.tolist() == list(range(100)) for s in shapes)
    assert not np.allclose(shapes[0].vertices, shapes[1].vertices)
    pairs = copy_pairs(shapes, "~p")
    assert len(pairs) == 10 and all("~" not in shapes[i].name and "~p" in shapes[j].name
                                    and shapes[j].name.split("~")[0] != shapes[i].name for i, j in pairs)
    # adding re-proportioned copies changes neither the original pairs nor the remeshed copies
    plain = load_training_shapes(tmp_path, names, TINY, progress=False)
    assert [(shapes[i].name, shapes[j].name) for i, j in _validation_pairs(shapes)[0]] == [
        (plain[i].name, plain[j].name) for i, j in _validation_pairs(plain)[0]]


def test_copy_tags_do_not_match_point_cloud_copies():
    assert is_copy_of_kind("tr_reg_070~p2", "~p") and is_copy_of_kind("tr_reg_070~r1", "~r")
    assert not is_copy_of_kind("tr_reg_070~pc", "~p")  # a point cloud, not a re-proportioned copy
    assert not is_copy_of_kind("tr_reg_070~p1~pc", "~p")
    assert not is_copy_of_kind("tr_reg_070", "~p") and not is_copy_of_kind("tr_reg_070~r1", "~p")
