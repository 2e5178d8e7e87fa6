"""The torch Gaussian rasterizer: analytic footprints, a naive per-pixel reference, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shapecorr.splat import intrinsics, look_at, rasterize
from shapecorr.splat.raster import ALPHA_MAX, ALPHA_MIN, T_MIN, covariances, project
from shapecorr.splat.sh import eval_sh

D = torch.float64


def _t(a):
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def test_one_gaussian_renders_its_analytic_footprint():
    # an anisotropic Gaussian on the optical axis, turned by 30 degrees about the axis: its image
    # is the 2D Gaussian with covariance (f/z)^2 R2 diag(sx^2, sy^2) R2^T + 0.3 I at the centre
    W, H, fov, z = 40, 32, 60.0, 4.0
    K = intrinsics(W, H, fov)
    vm = look_at([0, 0, -z], [0, 0, 0], up=[0, -1, 0])  # camera x = world x, camera y = world y
    th = np.radians(30.0)
    quat = [np.cos(th / 2), 0.0, 0.0, np.sin(th / 2)]
    sx, sy, op = 0.4, 0.15, 0.7
    color = [0.2, 0.6, 1.0]
    img, alpha = rasterize(_t([[0, 0, 0]]), _t([quat]), _t([[sx, sy, 0.01]]), _t([op]), _t([color]), vm, K, W, H)
    f = K[0, 0]
    R2 = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    cov = (f / z) ** 2 * R2 @ np.diag([sx ** 2, sy ** 2]) @ R2.T + 0.3 * np.eye(2)
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    d = np.stack([xx - K[0, 2], yy - K[1, 2]], -1)
    q = np.einsum("hwi,ij,hwj->hw", d, np.linalg.inv(cov), d)
    ref = op * np.exp(-0.5 * q)
    ref[ref < ALPHA_MIN] = 0.0
    np.testing.assert_allclose(alpha.numpy(), ref, atol=1e-12)
    np.testing.assert_allclose(img.numpy(), ref[..., None] * np.array(color), atol=1e-12)
    assert alpha.numpy().max() > 0.5 and (ref > 0).sum() > 100  # a real footprint, not an empty image


def test_antialiased_mode_scales_the_opacity_to_keep_the_integrated_alpha():
    # gsplat's "antialiased" mode (Mip-Splatting's 2D filter): the same dilated footprint as
    # classic, its opacity times sqrt(det(cov) / det(cov + 0.3 I)); so the alpha summed over the
    # image is that of the undilated Gaussian, o 2 pi sqrt(det cov) (but for the 1/255 cut-off)
    W, H, fov, z = 48, 40, 60.0, 4.0
    K = intrinsics(W, H, fov)
    vm = look_at([0, 0, -z], [0, 0, 0], up=[0, -1, 0])
    f = K[0, 0]
    op = 0.9  # below the 0.999 clamp; the 1/255 cut-off trims 0.4 % of a blob's alpha
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    d = np.stack([xx - K[0, 2], yy - K[1, 2]], -1)
    for sx, sy in ((0.5, 0.4), (0.5, 0.002)):  # a round blob, and a disc seen edge-on (far below a pixel)
        args = (_t([[0, 0, 0]]), _t([[1, 0, 0, 0]]), _t([[sx, sy, 0.3]]), _t([op]), _t([[1, 1, 1]]), vm, K, W, H)
        _, classic = rasterize(*args)
        _, anti = rasterize(*args, mode="antialiased")
        cov = (f / z) ** 2 * np.diag([sx ** 2, sy ** 2])
        dil = cov + 0.3 * np.eye(2)
        shape = np.exp(-0.5 * np.einsum("hwi,ij,hwj->hw", d, np.linalg.inv(dil), d))
        ref = op * np.sqrt(np.linalg.det(cov) / np.linalg.det(dil)) * shape
        ref[ref < ALPHA_MIN] = 0.0
        np.testing.assert_allclose(anti.numpy(), ref, atol=1e-12)
        assert classic.numpy().sum() > anti.numpy().sum()
        if sy > 0.1:
            np.testing.assert_allclose(anti.numpy().sum(), op * 2 * np.pi * np.sqrt(np.linalg.det(cov)), rtol=0.01)
    # the edge-on disc: a pixel-wide opaque line in classic mode, faint in antialiased mode
    assert classic.numpy().max() > 0.5 and anti.numpy().max() < 0.05


def test_a_flat_gaussian_has_finite_gradients_in_antialiased_mode():
    # next to a drawn blob, a disc of zero thickness seen exactly edge-on: its 2D covariance is
    # singular before the filter; no NaN may reach any gradient
    W = H = 24
    K = intrinsics(W, H, 60.0)
    vm = look_at([0, 0, -3.0], [0, 0, 0], up=[0, -1, 0])
    scales = _t([[0.2, 0.2, 0.2], [0.3, 0.0, 0.2]]).requires_grad_(True)  # the second flat in y: a line
    means = _t([[0.3, 0.3, 0.0], [0, 0, 0]]).requires_grad_(True)
    ops = _t([0.9, 0.9]).requires_grad_(True)
    img, alpha = rasterize(means, _t([[1, 0, 0, 0]] * 2), scales, ops, _t([[1, 1, 1]] * 2), vm, K, W, H,
                           mode="antialiased")
    (img.sum() + alpha.sum()).backward()
    for g in (scales.grad, means.grad, ops.grad):
        assert torch.isfinite(g).all()
    assert float(ops.grad[0]) != 0.0  # the blob is drawn and learns


def test_an_unknown_rasterize_mode_is_refused():
    from shapecorr.core.errors import SettingsError

    with pytest.raises(SettingsError, match="rasterize mode 'mip'"):
        rasterize(_t([[0, 0, 0]]), _t([[1, 0, 0, 0]]), _t([[0.1] * 3]), _t([0.5]), _t([[1, 1, 1]]),
                  look_at([0, 0, -3], [0, 0, 0]), intrinsics(16, 16), 16, 16, mode="mip")


def test_an_off_axis_gaussian_is_centred_on_its_projection():
    W = H = 48
    K = intrinsics(W, H, 50.0)
    vm = look_at([0.3, -0.2, -3.0], [0, 0, 0])
    p = np.array([0.25, 0.1, 0.3])
    _, alpha = rasterize(_t([p]), _t([[1, 0, 0, 0]]), _t([[0.03] * 3]), _t([0.9]), _t([[1, 1, 1]]), vm, K, W, H)
    cam = vm[:3, :3] @ p + vm[:3, 3]
    centre = K[:2, :2] @ (cam[:2] / cam[2]) + K[:2, 2]
    a = alpha.numpy()
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    found = np.array([(a * xx).sum(), (a * yy).sum()]) / a.sum()
    np.testing.assert_allclose(found, centre, atol=0.05)


def _naive(means, quats, scales, ops, colors, vm, K, W, H, bg):
    """gsplat's algorithm written plainly: per pixel, Gaussians front to back."""
    cov = covariances(_t(quats), _t(scales))
    pr = project(_t(means), cov, _t(ops), _t(vm), _t(K), W, H)
    order = np.argsort(pr.depths.numpy(), kind="stable")
    img = np.zeros((H, W, 3))
    for r in range(H):
        for c in range(W):
            T, acc = 1.0, np.zeros(3)
            for g in order:
                if not pr.valid[g]:
                    continue
                dx, dy = pr.means2d[g].numpy() - (c + 0.5, r + 0.5)
                a_, b_, c_ = pr.conics[g].numpy()
                sigma = 0.5 * (a_ * dx * dx + c_ * dy * dy) + b_ * dx * dy
                alpha = min(ALPHA_MAX, ops[g] * np.exp(-sigma))
                if sigma < 0 or alpha < ALPHA_MIN:
                    continue
                if T * (1 - alpha) <= T_MIN:
                    break
                acc += alpha * T * np.asarray(colors[g])
                T *= 1 - alpha
            img[r, c] = acc + T * np.asarray(bg)
    return img


@pytest.mark.parametrize("tile", [4, 8])
def test_matches_a_naive_per_pixel_loop(tile):
    rng = np.random.default_rng(3)
    n, W, H = 12, 22, 18
    means = rng.normal(scale=0.4, size=(n, 3))
    quats = rng.normal(size=(n, 4))
    scales = rng.uniform(0.05, 0.3, size=(n, 3))
    ops = rng.uniform(0.5, 0.999, size=n)  # opaque enough to reach the early stop
    colors = rng.uniform(size=(n, 3))
    vm, K = look_at([0.5, 0.4, -3.0], [0, 0, 0]), intrinsics(W, H, 50.0)
    bg = (0.1, 0.2, 0.3)
    img, _ = rasterize(_t(means), _t(quats), _t(scales), _t(ops), _t(colors), vm, K, W, H, background=bg,
                       tile_size=tile)
    np.testing.assert_allclose(img.numpy(), _naive(means, quats, scales, ops, colors, vm, K, W, H, bg), atol=1e-9)


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    n, W, H = 4, 14, 12
    vm, K = look_at([0.2, 0.3, -3.0], [0, 0, 0]), intrinsics(W, H, 45.0)
    x0 = {"means": rng.normal(scale=0.25, size=(n, 3)), "quats": rng.normal(size=(n, 4)),
              "scales": rng.uniform(0.1, 0.25, size=(n, 3)), "ops": rng.uniform(0.3, 0.6, size=n),
              "sh": rng.normal(scale=0.3, size=(n, 4, 3))}
    weight = _t(rng.normal(size=(H, W, 3)))

    def loss(**kw):
        img, alpha = rasterize(kw["means"], kw["quats"], kw["scales"], kw["ops"], kw["sh"], vm, K, W, H,
                               sh_degree=1, background=(0.3, 0.3, 0.3))
        return (img * weight).sum() + (alpha * weight[..., 0]).sum()

    params = {k: _t(v).requires_grad_(True) for k, v in x0.items()}
    loss(**params).backward()
    eps = 1e-6
    for name, p in params.items():
        flat = x0[name].ravel()
        for i in rng.choice(len(flat), size=min(6, len(flat)), replace=False):
            plus, minus = flat.copy(), flat.copy()
            plus[i] += eps
            minus[i] -= eps
            args = {k: _t(v) for k, v in x0.items()}
            lp = float(loss(**{**args, name: _t(plus.reshape(x0[name].shape))}))
            lm = float(loss(**{**args, name: _t(minus.reshape(x0[name].shape))}))
            fd = (lp - lm) / (2 * eps)
            got = float(p.grad.ravel()[i])
            assert abs(got - fd) <= 1e-5 * max(1.0, abs(fd)), (name, i, got, fd)


def test_sh_degree_zero_is_the_constant_colour():
    sh = torch.zeros(2, 16, 3, dtype=D)
    sh[:, 0] = torch.tensor([[1.0, -1.0, 0.0]], dtype=D)
    c = eval_sh(3, sh, torch.randn(2, 3, dtype=D))
    np.testing.assert_allclose(c.numpy(), [[0.5 + 0.28209479177387814, 0.5 - 0.28209479177387814, 0.5]] * 2)


def test_gaussians_behind_the_camera_are_not_drawn():
    vm, K = look_at([0, 0, -3.0], [0, 0, 0]), intrinsics(16, 16, 50.0)
    img, alpha = rasterize(_t([[0, 0, -5.0]]), _t([[1, 0, 0, 0]]), _t([[0.5] * 3]), _t([0.9]), _t([[1, 1, 1]]),
                           vm, K, 16, 16)
    assert float(alpha.abs().max()) == 0.0 and float(img.abs().max()) == 0.0


def test_dropping_hidden_fragments_for_training_changes_nothing():
    # with gradients, fragments surely behind the early stop are dropped before compositing
    rng = np.random.default_rng(5)
    n, W, H = 300, 40, 32
    x = [_t(rng.normal(scale=0.3, size=(n, 3))), _t(rng.normal(size=(n, 4))), _t(rng.uniform(0.05, 0.2, (n, 3))),
         _t(rng.uniform(0.9, 0.99, n)), _t(rng.uniform(size=(n, 3)))]
    vm, K = look_at([0.0, 0.2, -3.0], [0, 0, 0]), intrinsics(W, H, 45.0)
    plain, _ = rasterize(*x, vm, K, W, H)
    info: dict = {}
    trained, _ = rasterize(*(t.clone().requires_grad_(True) for t in x), vm, K, W, H, info=info)
    np.testing.assert_allclose(trained.detach().numpy(), plain.numpy(), atol=1e-12)
    full: dict = {}
    with torch.no_grad():
        rasterize(*x, vm, K, W, H, info=full)
    assert info["n_fragments"] < 0.8 * full["n_fragments"]  # many were hidden behind opaque layers
