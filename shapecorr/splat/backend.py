"""One rendering entry point with a device switch: our torch rasterizer on CPU, gsplat on CUDA.

``device="cpu"`` (the default) always uses :func:`shapecorr.splat.raster.rasterize`.
``device="cuda"`` uses ``gsplat.rasterization`` (``pip install shapecorr[splat]``), which has the
same conventions (pinhole ``viewmat``/``K``, SH ``+0.5`` clamped, the 2D filter: the ``classic``
or ``antialiased`` rasterize mode and its variance ``eps2d``). Its test
(``tests/splat/test_gsplat_cuda.py``, skipped without CUDA) compares it with the CPU rasterizer;
it passed on an H200 with gsplat 1.5.3 (``docs/bench/gpu_h200``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ..core import check_device
from ..core.errors import SettingsError
from .binding import SplatBinding, WorldGaussians, covariance_to_quat_scale
from .camera import Camera
from .raster import check_filter, rasterize


def gsplat_available() -> bool:
    """gsplat imports and a CUDA device is visible."""
    try:
        import gsplat  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


class Drawn(NamedTuple):
    """What densification reads of one gsplat drawing (as :class:`~.raster.Projected` does of
    ours): the screen positions ``(n, 2)``-like, whose gradient the backward leaves, and which
    Gaussians were drawn ``(n,)``."""

    means2d: torch.Tensor
    valid: torch.Tensor


def rasterize_gsplat(means, quats, scales, opacities, colors, viewmat, K, width: int, height: int, *,
                     sh_degree: int | None = None, background=None, mode: str = "classic", eps2d: float = 0.3,
                     covars=None, info: dict | None = None):
    """``gsplat.rasterization`` for one camera: ``(image (h, w, 3), alpha (h, w))`` on CUDA,
    differentiable. Orientation as ``quats`` and ``scales``, or ``covars (n, 3, 3)`` (then
    ``quats = scales = None``). ``info`` receives ``info["projected"]`` (:class:`Drawn`)."""
    check_filter(mode, eps2d)
    try:
        from gsplat import rasterization
    except ImportError as exc:
        raise SettingsError("device='cuda' renders with gsplat, which is not installed: "
                            "pip install 'shapecorr[splat]' (or use device='cpu').") from exc
    dev = means.device
    vm = torch.as_tensor(viewmat, dtype=means.dtype, device=dev)[None]
    Ks = torch.as_tensor(K, dtype=means.dtype, device=dev)[None]
    bg = None if background is None else torch.as_tensor(background, dtype=means.dtype, device=dev)[None]
    img, alpha, meta = rasterization(means, quats, scales, opacities, colors, vm, Ks, int(width), int(height),
                                     sh_degree=sh_degree, backgrounds=bg, eps2d=float(eps2d), near_plane=0.01,
                                     far_plane=1e10, rasterize_mode=mode, packed=False, covars=covars)
    if info is not None:
        m2 = meta["means2d"]  # (1, n, 2)
        if m2.requires_grad:
            m2.retain_grad()
        info["projected"] = Drawn(m2, (meta["radii"].reshape(len(means), -1) > 0).all(1))
    return img[0], alpha[0, ..., 0]


def rasterize_on(device: str, means, quats, scales, opacities, colors, viewmat, K, width: int, height: int, *,
                 sh_degree: int | None = None, background=None, mode: str = "classic", eps2d: float = 0.3):
    """Rasterize on ``device``: ours on ``cpu``, gsplat on ``cuda`` (``mode``, ``eps2d``: gsplat's
    ``rasterize_mode`` and ``eps2d``)."""
    kind = torch.device(device).type
    if kind == "cpu":
        return rasterize(means, quats, scales, opacities, colors, viewmat, K, width, height,
                         sh_degree=sh_degree, background=background, mode=mode, eps2d=eps2d)
    if kind == "cuda":
        check_device(device)
        return rasterize_gsplat(means, quats, scales, opacities, colors, viewmat, K, width, height,
                                sh_degree=sh_degree, background=background, mode=mode, eps2d=eps2d)
    raise SettingsError(f"device={device!r}: splats render on 'cpu' or 'cuda'.")


def gaussian_colors(g: WorldGaussians, camera: Camera, sh_degree: int) -> np.ndarray:
    """RGB ``(n, 3)`` of each Gaussian seen from ``camera``: its SH evaluated along the view
    direction expressed in the rest frame of its triangle (unchanged at rest)."""
    from .sh import eval_sh

    d = np.asarray(g.means, dtype=np.float64) - camera.position
    if g.rotations is not None:
        d = np.einsum("nji,nj->ni", g.rotations, d)  # R^T d
    sh = torch.as_tensor(np.asarray(g.sh[:, :(sh_degree + 1) ** 2], dtype=np.float64))
    return eval_sh(sh_degree, sh, torch.as_tensor(d)).numpy()


def render_gaussians(g: WorldGaussians, camera: Camera, *, sh_degree: int = 3, background=(0.0, 0.0, 0.0),
                     device: str = "cpu", mode: str = "classic", eps2d: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Picture ``(h, w, 3)`` float in [0, 1] and alpha ``(h, w)`` of world Gaussians seen by ``camera``
    (``mode``, ``eps2d``: the 2D filter the Gaussians were fitted with, a binding's ``rasterize_mode``
    and ``eps2d``)."""
    def t(a):
        return torch.as_tensor(np.asarray(a), dtype=torch.float32, device=device)

    colors = gaussian_colors(g, camera, sh_degree)
    with torch.no_grad():
        if torch.device(device).type == "cpu" and g.covariances is not None:  # ours takes covariances
            img, alpha = rasterize(t(g.means), None, None, t(g.opacities), t(colors), camera.viewmat, camera.K,
                                   camera.width, camera.height, covars=t(g.covariances), background=background,
                                   mode=mode, eps2d=eps2d)
        else:
            quats, scales = (g.quats, g.scales) if g.quats is not None else \
                (a.numpy() for a in covariance_to_quat_scale(torch.as_tensor(np.asarray(g.covariances))))
            img, alpha = rasterize_on(device, t(g.means), t(quats), t(scales), t(g.opacities), t(colors),
                                      camera.viewmat, camera.K, camera.width, camera.height, sh_degree=None,
                                      background=background, mode=mode, eps2d=eps2d)
    return np.clip(img.cpu().numpy(), 0.0, 1.0).astype(np.float64), alpha.cpu().numpy().astype(np.float64)


def render_binding(b: SplatBinding, camera: Camera, vertices=None, **kw) -> tuple[np.ndarray, np.ndarray]:
    """Picture of the bound splats with the mesh at ``vertices`` (default: the binding's pose),
    drawn with the binding's 2D filter (``rasterize_mode``, ``eps2d``)."""
    on_cpu = torch.device(kw.get("device", "cpu")).type == "cpu"
    kw.setdefault("mode", b.rasterize_mode)
    kw.setdefault("eps2d", b.eps2d)
    return render_gaussians(b.follow(vertices, quats=not on_cpu), camera, sh_degree=b.sh_degree, **kw)
