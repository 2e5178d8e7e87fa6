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
