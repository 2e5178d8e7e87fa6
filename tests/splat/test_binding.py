"""Mesh-bound Gaussians: they follow the mesh (rigid motions exactly, stretch clamped)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import icosphere

from shapecorr.core.errors import ShapeMismatchError
from shapecorr.splat import SplatBinding, intrinsics, look_at, render_binding
from shapecorr.splat.binding import MAX_STRETCH
from shapecorr.splat.camera import Camera
from shapecorr.splat.fit import initial_binding
from shapecorr.splat.meshview import SolidAppearance


def _binding(seed=0, n=600, sh_degree=3) -> SplatBinding:
    s = icosphere(2)
    v, f = np.asarray(s.vertices, dtype=np.float64), np.asarray(s.faces, dtype=np.int64)
    b = initial_binding(v, f, SolidAppearance(v, f), n, sh_degree, seed)
    rng = np.random.default_rng(seed)
    sh = b.sh.copy()
    sh[:, 1:] = rng.normal(scale=0.2, size=sh[:, 1:].shape)  # view-dependent colour too
    q = rng.normal(size=(n, 4)).astype(np.float32)
    return SplatBinding(v, f, b.face, b.bary, rng.normal(scale=0.01, size=n).astype(np.float32), q, b.log_scale,
                        sh, b.opacity_logit, sh_degree)


def _rotation(seed=1):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


def test_follow_at_rest_is_the_rest_pose():
    b = _binding()
    g = b.follow()
    assert np.allclose(g.rotations, np.eye(3), atol=1e-10)
    rest = b.follow(b.rest_vertices)
    np.testing.assert_allclose(rest.covariances, g.covariances, atol=1e-12)
    # the means lie on their triangles (plus the offset along the normal)
    v, f = b.rest_vertices, b.faces
    on = np.einsum("ni,nij->nj", b.bary.astype(np.float64), v[f[b.face]])
    n = np.cross(v[f[b.face, 1]] - v[f[b.face, 0]], v[f[b.face, 2]] - v[f[b.face, 0]])
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    np.testing.assert_allclose(g.means, on + b.offset[:, None] * n, atol=1e-6)


def test_a_rigid_motion_of_the_mesh_equals_moving_the_camera():
    b = _binding()
    Q, t = _rotation(), np.array([0.3, -0.2, 0.5])
    cam = Camera(look_at([0.4, 0.8, -3.5], [0, 0, 0]), intrinsics(64, 64, 45.0), 64, 64)
    moved, _ = render_binding(b, cam, b.rest_vertices @ Q.T + t)
    seen, _ = render_binding(b, cam.moved(Q, t))
    still, _ = render_binding(b, cam)
    assert np.abs(moved - still).mean() > 0.01  # the motion is visible...
    np.testing.assert_allclose(moved, seen, atol=2e-3)  # ...and undone by the camera (float32 rasterizer)
    assert np.abs(moved - seen).mean() < 1e-5
    g0, g1 = b.follow(), b.follow(b.rest_vertices @ Q.T + t)
    np.testing.assert_allclose(g1.means, g0.means @ Q.T + t, atol=1e-10)
    np.testing.assert_allclose(g1.covariances, Q @ g0.covariances @ Q.T, atol=1e-10)


def test_a_stretched_triangle_widens_its_gaussians_up_to_the_clamp():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=np.float64)
    f = np.array([[0, 1, 2]])
    one = {"face": np.zeros(1, np.int64), "bary": np.full((1, 3), 1 / 3, np.float32), "offset": np.zeros(1, np.float32),
               "quat": np.array([[1, 0, 0, 0]], np.float32), "log_scale": np.log([[0.1, 0.1, 0.01]]).astype(np.float32),
               "sh": np.zeros((1, 1, 3), np.float32), "opacity_logit": np.zeros(1, np.float32), "sh_degree": 0}
    b = SplatBinding(v, f, **one)
    for k, expected in ((2.0, 0.2), (10.0, 0.1 * MAX_STRETCH)):
        g = b.follow(v * [k, 1, 1])
        s = np.sort(g.scales[0])
        # along x the Gaussian follows the stretch (clamped); across it keeps its width
        np.testing.assert_allclose(s[-1], expected, rtol=1e-6)
        assert 0.09 < s[1] < 0.11


def test_a_pose_of_another_mesh_is_refused():
    b = _binding(n=50)
    with pytest.raises(ShapeMismatchError, match="same mesh"):
        b.follow(b.rest_vertices[:-1])


def test_render_from_covariances_equals_render_from_quaternions():
    """On CPU render_binding rasterizes the covariances directly (follow(quats=False)); the
    picture equals the one drawn from quaternions and scales."""
    from shapecorr.splat import render_gaussians

    b = _binding(n=400, sh_degree=1)
    v = b.rest_vertices * np.array([1.2, 0.9, 1.0])
    cam = Camera(look_at([0.5, 0.6, 3.0], [0.0, 0.0, 0.0]), intrinsics(48, 48), 48, 48)
    fast = b.follow(v, quats=False)
    assert fast.quats is None and fast.scales is None
    full = b.follow(v)
    np.testing.assert_allclose(fast.covariances, full.covariances, atol=1e-15)
    img, _ = render_binding(b, cam, v)
    ref, _ = render_gaussians(full._replace(covariances=None), cam, sh_degree=1)
    assert np.abs(img - ref).max() < 1e-4
