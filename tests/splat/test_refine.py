"""Face splitting (mesh-guided densification): a split face's Gaussians keep their world
positions, rotations and shapes exactly, at rest and in every pose of the original mesh."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers import icosphere

from shapecorr.core.errors import SettingsError
from shapecorr.splat import load_binding, save_binding, split_faces
from shapecorr.splat.binding import SplatBinding, midpoint_matrix
from shapecorr.splat.fit import FitSettings, _Trainer, fit_splats, initial_binding
from shapecorr.splat.meshview import SolidAppearance
from shapecorr.splat.refine import child_barycentrics, split_carrier

# softmax(log(bary)) of a barycentric floored at 1e-6 (params_to_torch) moves a Gaussian lying on a
# child's edge by at most ~1e-6 of that child's size: "exact" up to this floor
TOL = 1e-7


def _binding(seed=0, n=800) -> SplatBinding:
    s = icosphere(2)
    v, f = np.asarray(s.vertices, dtype=np.float64), np.asarray(s.faces, dtype=np.int64)
    b = initial_binding(v, f, SolidAppearance(v, f), n, 2, seed)
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, 4))
    return replace(b, bary=b.bary.astype(np.float64), quat=q / np.linalg.norm(q, axis=1, keepdims=True),
                   offset=rng.normal(scale=0.02, size=n), log_scale=rng.normal(-3.0, 0.5, size=(n, 3)))


def _pose(v: np.ndarray) -> np.ndarray:
    """A smooth non-rigid deformation with stretch and rotation."""
    ang = 0.8 * v[:, 1]
    w = v.copy()
    w[:, 0], w[:, 2] = v[:, 0] * np.cos(ang) - v[:, 2] * np.sin(ang), v[:, 0] * np.sin(ang) + v[:, 2] * np.cos(ang)
    return w * [1.3, 0.9, 1.0] + 0.1 * np.sin(3 * v[:, [1, 2, 0]])


def _same(g0, g1, atol=TOL):
    np.testing.assert_allclose(g1.means, g0.means, atol=atol)
    np.testing.assert_allclose(g1.covariances, g0.covariances, atol=1e-12)
    np.testing.assert_allclose(g1.rotations, g0.rotations, atol=1e-12)


def test_child_barycentrics_name_the_same_point():
    rng = np.random.default_rng(0)
    b = rng.dirichlet([1.0, 1.0, 1.0], size=500)
    corners = rng.normal(size=(3, 3))
    a, bb, c = corners
    mid = {"ab": (a + bb) / 2, "bc": (bb + c) / 2, "ca": (c + a) / 2}
    children = [np.stack([a, mid["ab"], mid["ca"]]), np.stack([mid["ab"], bb, mid["bc"]]),
                np.stack([mid["ca"], mid["bc"], c]), np.stack([mid["ab"], mid["bc"], mid["ca"]])]
    which, nb = child_barycentrics(b)
    assert set(which.tolist()) == {0, 1, 2, 3}
    assert (nb >= 0).all() and np.allclose(nb.sum(1), 1.0)
    for k in range(len(b)):
        np.testing.assert_allclose(nb[k] @ children[which[k]], b[k] @ corners, atol=1e-12)


def test_split_carrier_shares_midpoints_and_keeps_other_faces():
    s = icosphere(1)
    f = np.asarray(s.faces, dtype=np.int64)
    n = len(s.vertices)
    mid, faces, children = split_carrier(n, None, f, [0, 1])
    shared = len(set(map(tuple, np.sort(f[0][[0, 1, 1, 2, 2, 0]].reshape(3, 2), 1).tolist())) &
                 set(map(tuple, np.sort(f[1][[0, 1, 1, 2, 2, 0]].reshape(3, 2), 1).tolist())))
    assert len(mid) == 6 - shared  # one midpoint per edge, shared edges once
    assert len(faces) == len(f) + 6 and children.shape == (2, 4)
    np.testing.assert_array_equal(faces[2:len(f)], f[2:])  # the others keep their ids
    # splitting a child again reuses the midpoints that exist on its edges
    mid2, faces2, _ = split_carrier(n, mid, faces, [children[0, 3]])
    assert len(mid2) == len(mid) + 3 and len(faces2) == len(faces) + 3
    W = midpoint_matrix(n, mid2)
    v = np.asarray(s.vertices)
    c = W @ v
    np.testing.assert_allclose(c[n + len(mid)], 0.5 * (c[mid2[len(mid), 0]] + c[mid2[len(mid), 1]]), atol=1e-15)
    with pytest.raises(SettingsError):
        split_carrier(n, None, f, [len(f)])


def test_splitting_keeps_every_gaussian_in_every_pose():
    b = _binding()
    rng = np.random.default_rng(1)
    ids1 = rng.choice(len(b.faces), 60, replace=False)
    once = split_faces(b, ids1)
    ids2 = rng.choice(len(once.bound_faces), 80, replace=False)  # children split again too
    twice = split_faces(once, ids2)
    assert len(twice.bound_faces) > len(once.bound_faces) > len(b.faces)
    assert twice.n_gaussians == b.n_gaussians and (twice.bound_faces.max() < len(twice.carrier()))
    pose = _pose(b.rest_vertices)
    untouched = {0: ~np.isin(b.face, ids1)}
    untouched[1] = untouched[0] & ~np.isin(once.face, ids2)
    for k, split in enumerate((once, twice)):
        _same(b.follow(), split.follow())
        _same(b.follow(pose), split.follow(pose))  # driven by the original mesh's pose
        keep = untouched[k]
        assert 50 < (~keep).sum() < len(keep)
        # the Gaussians of faces that were not split are bound exactly as before
        for name in ("face", "bary", "quat", "offset", "log_scale"):
            np.testing.assert_array_equal(getattr(split, name)[keep], getattr(b, name)[keep])
        for name in ("offset", "log_scale", "sh", "opacity_logit"):  # and these are kept by all
            np.testing.assert_array_equal(getattr(split, name), getattr(b, name))


def test_split_binding_round_trip_and_render(tmp_path):
    from shapecorr.splat import look_at, render_binding
    from shapecorr.splat.camera import Camera, intrinsics

    b = _binding(n=300)
    split = split_faces(b, np.arange(0, len(b.faces), 2))
    save_binding(tmp_path / "b.npz", split)
    back = load_binding(tmp_path / "b.npz")
    for name in ("midpoints", "carrier_faces", "face", "bary", "quat"):
        np.testing.assert_array_equal(getattr(back, name), getattr(split, name))
    cam = Camera(look_at([0.0, 0.5, 3.5], [0.0, 0.0, 0.0]), intrinsics(64, 64), 64, 64)
    pose = _pose(b.rest_vertices)
    np.testing.assert_allclose(render_binding(back, cam, pose)[0], render_binding(b, cam, pose)[0], atol=1e-5)
    with pytest.raises(SettingsError, match="go together"):
        replace(split, carrier_faces=None)


def test_fit_with_face_splitting_densifies_inside_the_children():
    s = icosphere(2)
    v, f = np.asarray(s.vertices, dtype=np.float64), np.asarray(s.faces, dtype=np.int64)
    app = SolidAppearance(v, f, periods=2.0)
    settings = FitSettings(n_gaussians=400, max_gaussians=1000, densify_fraction=0.25, split_fraction=0.1)
    tr = _Trainer(initial_binding(v, f, app, 400, 1, seed=0), settings)
    tr.grad_sum = torch.arange(400, dtype=torch.float32)
    tr.grad_count = torch.ones(400)
    before = tr.params()
    from shapecorr.splat.binding import world_gaussians

    with torch.no_grad():
        m0, c0 = world_gaussians(before, tr.rest, tr.faces)
    n_split = tr.split(torch.arange(300, 400))
    assert n_split == int(0.1 * len(f))
    with torch.no_grad():
        m1, c1 = world_gaussians(tr.params(), tr.rest, tr.faces)
    # re-bound in place (float32, barycentrics floored at 1e-4 of a child): the same Gaussians
    assert float((m1 - m0).abs().max()) < 1e-3 * float(tr.edge)
    assert float((c1 - c0).abs().max()) < 1e-6
    tr.densify(torch.Generator().manual_seed(0))
    res = fit_splats(v, f, app, FitSettings(steps=12, n_gaussians=300, max_gaussians=600, image_size=32, n_views=4,
                                            densify_every=5, densify_until=1.0, sh_degree=0, split_fraction=0.05),
                     progress=False)
    b = res.binding
    assert b.midpoints is not None and len(b.bound_faces) > len(f)
    np.testing.assert_array_equal(b.faces, f)  # the mesh a user deforms is unchanged
    pose = _pose(v)
    assert np.isfinite(b.follow(pose).means).all()


def test_split_binding_through_the_cli(tmp_path):
    """`splat deform` and `splat render --deformed` take a split binding: the user's mesh (the
    original faces) drives it, and the deformed PLY is the split binding's Gaussians in that pose."""
    import json

    from shapecorr.cli import main
    from shapecorr.core import Shape
    from shapecorr.splat import read_ply, save_splats

    b = _binding(n=300)
    split = split_faces(b, np.arange(0, len(b.faces), 3))
    save_splats(tmp_path / "s", split)
    v = b.rest_vertices
    top, bottom = int(np.argmax(v[:, 1])), int(np.argmin(v[:, 1]))
    (tmp_path / "edit.json").write_text(json.dumps({"fixed": [bottom], "moved": [[top, *(v[top] + [0.3, 0.3, 0.0])]]}))
    assert main(["splat", "deform", str(tmp_path / "s"), "--handles", str(tmp_path / "edit.json"), "--out",
                 str(tmp_path / "d"), "-q"]) == 0
    posed = load_binding(tmp_path / "d")
    assert posed.midpoints is not None and posed.pose_vertices is not None
    ply = read_ply(tmp_path / "d" / "splats.ply")
    np.testing.assert_allclose(ply.means, split.follow(posed.pose_vertices).means, atol=1e-5)
    np.testing.assert_allclose(ply.means, b.follow(posed.pose_vertices).means, atol=1e-5)  # as unsplit
    Shape(posed.pose_vertices, b.faces).save(tmp_path / "posed.obj")
    assert main(["splat", "render", str(tmp_path / "s"), "--deformed", str(tmp_path / "posed.obj"), "--out",
                 str(tmp_path / "r.png"), "--size", "40", "-q"]) == 0
