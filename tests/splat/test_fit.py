"""Fitting: densification stays on the mesh, a short fit improves the picture, SSIM's known values."""

from __future__ import annotations

import numpy as np
import torch
from helpers import icosphere

from shapecorr.splat import FitSettings, fit_splats, orbit_cameras, psnr, ssim
from shapecorr.splat.fit import _Trainer, evaluate, initial_binding
from shapecorr.splat.meshview import SolidAppearance


def _ball():
    s = icosphere(2)
    v, f = np.asarray(s.vertices, dtype=np.float64), np.asarray(s.faces, dtype=np.int64)
    return v, f, SolidAppearance(v, f, periods=2.0)


def test_densification_clones_inside_the_triangle_and_prunes():
    v, f, app = _ball()
    s = FitSettings(n_gaussians=400, max_gaussians=1000, densify_fraction=0.25, prune_opacity=0.05)
    tr = _Trainer(initial_binding(v, f, app, 400, 1, seed=0), s)
    with torch.no_grad():
        tr.tensors["opacity_logit"][:10] = -10.0  # ten nearly transparent Gaussians
    tr.grad_sum = torch.arange(400, dtype=torch.float32)  # the last ones have the largest gradients
    tr.grad_count = torch.ones(400)
    faces_before = tr.face.clone()
    tr.densify(torch.Generator().manual_seed(0))
    assert len(tr.face) == 400 - 10 + 100
    np.testing.assert_array_equal(tr.face[-100:].numpy(), faces_before[300:].numpy()[::-1])  # same triangles
    assert (torch.sigmoid(tr.tensors["opacity_logit"]) >= 0.05).all()
    assert all(len(g["params"][0]) == 490 for g in tr.opt.param_groups)


def test_a_short_fit_improves_the_held_out_picture():
    v, f, app = _ball()
    s = FitSettings(steps=30, n_gaussians=800, max_gaussians=1200, image_size=48, n_views=8, densify_every=15,
                    densify_until=0.6, sh_degree=1, sh_every=10, checkpoint_every=100)
    cams = orbit_cameras(v, 3, size=48, offset=0.5)
    before = np.mean(evaluate(initial_binding(v, f, app, 800, 1), v, app, cams)[0])
    res = fit_splats(v, f, app, s, progress=False)
    after = np.mean(evaluate(res.binding, v, app, cams)[0])
    assert res.binding.n_gaussians > 800  # densified once
    assert (res.binding.rasterize_mode, res.binding.eps2d) == ("antialiased", 0.1)  # drawn as fitted
    assert after > before + 1.0, (before, after)


def test_ssim_and_psnr_known_values():
    x = torch.rand(20, 24, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert abs(float(ssim(x, x)) - 1.0) < 1e-12
    assert float(ssim(x, 1 - x)) < 0.0
    assert abs(psnr(np.zeros((4, 4)), np.full((4, 4), 0.1)) - 20.0) < 1e-9


def test_offset_weight_pulls_the_gaussians_to_the_surface():
    import pytest

    from shapecorr.core.errors import SettingsError

    v, f, app = _ball()
    base = dict(steps=10, n_gaussians=200, max_gaussians=200, image_size=24, n_views=4, densify_every=0,
                sh_degree=0, lr_offset=0.05)
    free = fit_splats(v, f, app, FitSettings(**base), progress=False).binding
    held = fit_splats(v, f, app, FitSettings(**base, offset_weight=1e4), progress=False).binding
    assert np.abs(held.offset).mean() < 0.5 * np.abs(free.offset).mean()
    with pytest.raises(SettingsError, match="offset_weight"):
        FitSettings(offset_weight=-1.0)
    with pytest.raises(SettingsError, match="rasterize mode 'mip'"):
        FitSettings(rasterize_mode="mip")
    with pytest.raises(SettingsError, match="eps2d"):
        FitSettings(eps2d=float("nan"))
    with pytest.raises(SettingsError, match="close_margin"):
        FitSettings(close_margin=0.0)
