"""Our CPU rasterizer against gsplat on CUDA (skipped without CUDA and gsplat)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shapecorr.splat import (
    gsplat_available,
    intrinsics,
    look_at,
    rasterize,
    rasterize_gsplat,
)

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not gsplat_available(), reason="needs gsplat and a CUDA device")]

TOLERANCE = 2e-3  # mean absolute difference per channel (values in [0, 1]); max below 0.05


@pytest.mark.parametrize("mode, eps2d", [("classic", 0.3), ("antialiased", 0.1)])
def test_cpu_rasterizer_agrees_with_gsplat(mode, eps2d):
    rng = np.random.default_rng(0)
    n, W, H = 2000, 160, 120
    t = {"means": rng.normal(scale=0.5, size=(n, 3)), "quats": rng.normal(size=(n, 4)),
             "scales": rng.uniform(0.005, 0.05, size=(n, 3)), "ops": rng.uniform(0.1, 0.99, size=n),
             "sh": rng.normal(scale=0.3, size=(n, 16, 3))}
    vm, K = look_at([0.5, 0.4, -3.0], [0, 0, 0]), intrinsics(W, H, 50.0)

    def on(device):
        return {k: torch.as_tensor(v, dtype=torch.float32, device=device) for k, v in t.items()}

    c = on("cpu")
    ours, a_ours = rasterize(c["means"], c["quats"], c["scales"], c["ops"], c["sh"], vm, K, W, H, sh_degree=3,
                             background=(0.1, 0.2, 0.3), mode=mode, eps2d=eps2d)
    g = on("cuda")
    theirs, a_theirs = rasterize_gsplat(g["means"], g["quats"], g["scales"], g["ops"], g["sh"], vm, K, W, H,
                                        sh_degree=3, background=(0.1, 0.2, 0.3), mode=mode, eps2d=eps2d)
    diff = np.abs(ours.numpy() - theirs.cpu().numpy())
    assert diff.mean() < TOLERANCE and diff.max() < 0.05
    assert np.abs(a_ours.numpy() - a_theirs.cpu().numpy()).mean() < TOLERANCE


def test_a_fit_on_cuda_matches_the_cpu_fit():
    """The same short fit (same seed, so the same random draws) with gsplat on CUDA and with our
    rasterizer on the CPU: both improve the held-out picture, by about as much, densification
    and face splitting included."""
    from helpers import icosphere

    from shapecorr.splat import FitSettings, fit_splats, orbit_cameras
    from shapecorr.splat.fit import evaluate, initial_binding
    from shapecorr.splat.meshview import SolidAppearance

    s = icosphere(2)
    v, f = np.asarray(s.vertices, dtype=np.float64), np.asarray(s.faces, dtype=np.int64)
    app = SolidAppearance(v, f, periods=2.0)
    settings = FitSettings(steps=60, n_gaussians=800, max_gaussians=1500, image_size=64, n_views=8, densify_every=20,
                           densify_until=0.7, split_fraction=0.05, sh_degree=1, sh_every=20, checkpoint_every=1000)
    cams = orbit_cameras(v, 3, size=64, offset=0.5)
    before = np.mean(evaluate(initial_binding(v, f, app, 800, 1), v, app, cams)[0])
    cpu = fit_splats(v, f, app, settings, progress=False)
    gpu = fit_splats(v, f, app, settings, progress=False, device="cuda")
    after = {k: np.mean(evaluate(r.binding, v, app, cams)[0]) for k, r in (("cpu", cpu), ("cuda", gpu))}
    assert gpu.binding.n_gaussians > 800  # densified
    assert after["cuda"] > before + 1.0, (before, after)
    assert abs(after["cuda"] - after["cpu"]) < 1.5, after
