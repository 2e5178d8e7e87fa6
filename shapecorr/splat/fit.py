"""Fit mesh-bound Gaussians to a coloured mesh from pictures of it.

1. Ground truth: the mesh (UV texture, or a solid pattern when it has none) drawn unlit from
   ``n_views`` cameras on a sphere (:func:`~.camera.orbit_cameras`) framing the whole object and
   ``close_views`` more at ``close_margin`` of that distance (details and holes between splats are
   seen larger),
   anti-aliased.
2. Initialisation on the surface: Gaussians spread over the triangles by area, each a flat disc
   in its triangle's plane, coloured by the texture at its point.
3. Optimisation (Adam) of barycentrics, normal offsets, local rotations and scales, SH colour
   (degree raised step by step, as in 3DGS) and opacity against one view per step with
   ``(1 - w) L1 + w (1 - SSIM)``.
4. Densification guided by the mesh: every ``densify_every`` steps the Gaussians with the
   largest screen-space position gradients are cloned *within their own triangle* (new
   barycentrics near the old ones; the larger ones split with smaller scales), and nearly
   transparent ones are pruned; Adam's moments follow the Gaussians.

Drawn with Mip-Splatting's 2D filter (``rasterize_mode="antialiased"``, ``eps2d=0.1``): with
gsplat's classic one a disc seen edge-on at a silhouette is a pixel-wide opaque line and the fit
sinks every Gaussian into the surface to make up for it, which shows seen from closer by (on
Spot, close-ups at half the distance 17.7 dB classic, 26.3 dB with the filter; docs/splats.md).

Deterministic given ``seed`` (on one thread). Progress with tqdm on stderr; checkpoints
(binding files) every ``checkpoint_every`` steps when a folder is given.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as tF

from ..core.errors import SettingsError
from .backend import rasterize_gsplat
from .binding import (
    BindingParams,
    SplatBinding,
    params_to_binding,
    world_gaussians,
)
from .camera import Camera, orbit_cameras
from .meshview import render_mesh, sample_surface
from .raster import check_filter, rasterize
from .sh import n_coeffs, rgb_to_sh


@dataclass(frozen=True)
class FitSettings:
    """How splats are fitted (defaults: a few minutes on 2 CPU cores for a ~6k-face mesh)."""

    steps: int = 1500
    n_gaussians: int = 40000  # at the start
    max_gaussians: int = 100000
    image_size: int = 256
    n_views: int = 48
    close_views: int = 8  # more cameras closer (``close_margin``): details and holes are seen larger
    close_margin: float = 0.7
    fov_degrees: float = 40.0
    sh_degree: int = 3
    sh_every: int = 300  # one more SH band every N steps
    ssim_weight: float = 0.2
    lr_bary: float = 0.02
    lr_offset: float = 0.01  # in mean edge lengths per step
    max_offset: float = 1.0  # |normal offset| <= this many mean edge lengths (see the module docstring)
    offset_weight: float = 0.0  # loss + this x mean squared normal offset (in edge lengths): a soft pull to the surface
    lr_quat: float = 0.002
    lr_scale: float = 0.01
    lr_color: float = 0.005
    lr_opacity: float = 0.05
    densify_every: int = 250
    densify_fraction: float = 0.15  # of the Gaussians, cloned at each densification
    densify_until: float = 0.7  # fraction of the steps
    split_fraction: float = 0.0  # of the faces, split 1-to-4 with their Gaussians at each densification (0: off)
    prune_opacity: float = 0.01
    checkpoint_every: int = 500
    seed: int = 0
    background: tuple = (0.0, 0.0, 0.0)
    # the rasterizer's 2D filter, Mip-Splatting's (raster.project): opacity-preserving and about a
    # one-pixel box (variance 1/12), as the anti-aliased pictures fitted to. gsplat's defaults
    # ("classic", 0.3) draw a disc seen edge-on a pixel thick at silhouettes, and the fit sinks
    # every Gaussian into the surface to make up for it (which shows from closer by)
    rasterize_mode: str = "antialiased"
    eps2d: float = 0.1

    def __post_init__(self):
        check_filter(self.rasterize_mode, self.eps2d)
        ints = {"steps": self.steps, "n_gaussians": self.n_gaussians, "image_size": self.image_size, "n_views": self.n_views}
        bad = [f"{k}={v}" for k, v in ints.items() if int(v) < 1]
        if bad or self.image_size < 16:
            raise SettingsError(f"FitSettings: {', '.join(bad) or f'image_size={self.image_size}'} "
                                "(steps, n_gaussians, n_views >= 1; image_size >= 16).")
        if self.max_gaussians < self.n_gaussians:
            raise SettingsError(f"FitSettings: max_gaussians ({self.max_gaussians}) < n_gaussians ({self.n_gaussians}).")
        if not 0 <= self.sh_degree <= 3:
            raise SettingsError(f"FitSettings: sh_degree must be 0..3, got {self.sh_degree}.")
        if self.max_offset < 0 or self.close_views < 0 or self.offset_weight < 0:
            raise SettingsError(f"FitSettings: max_offset ({self.max_offset}), close_views ({self.close_views}) "
                                f"and offset_weight ({self.offset_weight}) "
                                "must not be negative.")
        if not self.close_margin > 0:
            raise SettingsError(f"FitSettings: close_margin must be positive, got {self.close_margin}.")
        if not all(0 <= x <= 1 for x in (self.ssim_weight, self.densify_fraction, self.split_fraction)):
            raise SettingsError("FitSettings: ssim_weight, densify_fraction and split_fraction must be in [0, 1].")


class FitResult(NamedTuple):
    binding: SplatBinding
    history: list  # dicts: step, loss, psnr (of the step's view), n_gaussians, seconds
    cameras: list  # the training cameras


def psnr(a, b) -> float:
    """Peak signal-to-noise ratio (dB) of two images with values in [0, 1]."""
    mse = float(np.mean((np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) ** 2))
    return float("inf") if mse == 0 else -10.0 * math.log10(mse)


def ssim(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean structural similarity of two ``(h, w, c)`` images in [0, 1] (Gaussian window)."""
    g = torch.exp(-0.5 * ((torch.arange(window, dtype=x.dtype, device=x.device) - window // 2) / sigma) ** 2)
    g = g / g.sum()
    c = x.shape[2]
    kx = g.reshape(1, 1, 1, window).expand(5 * c, 1, 1, window).contiguous()
    ky = g.reshape(1, 1, window, 1).expand(5 * c, 1, window, 1).contiguous()
    X, Y = x.permute(2, 0, 1), y.permute(2, 0, 1)
    # the five local moments blurred at once by one separable Gaussian window
    stack = torch.cat([X, Y, X * X, Y * Y, X * Y])[None]
    blurred = tF.conv2d(tF.conv2d(stack, kx, padding=(0, window // 2), groups=5 * c), ky,
                        padding=(window // 2, 0), groups=5 * c)[0]
    mx, my, xx, yy, xy = blurred.split(c)
    sxx, syy, sxy = xx - mx * mx, yy - my * my, xy - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return s.mean()


def initial_binding(vertices, faces, appearance, n: int, sh_degree: int, seed: int = 0) -> SplatBinding:
    """``n`` flat Gaussians spread over the surface by area, coloured by ``appearance``."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    rng = np.random.default_rng(seed)
    face, bary = sample_surface(v, f, n, rng)
    area = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1).sum()
    spacing = math.sqrt(area / len(face))
    sh = np.zeros((len(face), n_coeffs(sh_degree), 3), dtype=np.float32)
    sh[:, 0] = rgb_to_sh(appearance.colors(face, bary))
    # discs of 0.8 x the mean spacing: random centres leave no holes even seen close up
    log_scale = np.tile(np.log([0.8 * spacing, 0.8 * spacing, 0.1 * spacing]), (len(face), 1))
    quat = np.tile([1.0, 0.0, 0.0, 0.0], (len(face), 1))
    return SplatBinding(v, f, face, bary.astype(np.float32), np.zeros(len(face), np.float32), quat.astype(np.float32),
                        log_scale.astype(np.float32), sh, np.full(len(face), 4.0, np.float32), sh_degree)


def ground_truth(vertices, faces, appearance, cameras, background=(0.0, 0.0, 0.0)) -> list[np.ndarray]:
    """The mesh's pictures from ``cameras`` (float32 ``(h, w, 3)``)."""
    return [render_mesh(vertices, faces, appearance, c, background=background)[0].astype(np.float32)
            for c in cameras]


def render_params(p: BindingParams, rest: torch.Tensor, faces: torch.Tensor, camera: Camera, sh_active: int,
                  background, info: dict | None = None, posed: torch.Tensor | None = None, mode: str = "classic",
                  eps2d: float = 0.3):
    """Differentiable picture ``(h, w, 3)`` of the bound Gaussians (rest pose unless ``posed``):
    our rasterizer for CPU tensors, gsplat's for CUDA ones."""
    means, cov = world_gaussians(p, rest, faces, posed)
    draw = rasterize_gsplat if means.device.type == "cuda" else rasterize
    img, _ = draw(means, None, None, torch.sigmoid(p.opacity_logit), p.sh[:, :n_coeffs(sh_active)],
                  camera.viewmat, camera.K, camera.width, camera.height, sh_degree=sh_active, covars=cov,
                  background=background, info=info, mode=mode, eps2d=eps2d)
    return img


class _Trainer:
    """The optimisation state: parameters, Adam, densification statistics."""

    def __init__(self, init: SplatBinding, s: FitSettings, device: str = "cpu"):
        self.s = s
        self.device = torch.device(device)
        f = init.faces
        v = init.rest_vertices
        self.base = np.asarray(v, dtype=np.float64)  # the mesh's rest vertices; the carrier's follow by midpoints
        self.midpoints, self.carrier_faces = init.midpoints, np.asarray(init.bound_faces, dtype=np.int64)
        self.rest64 = init.carrier()  # (n + k, 3) float64
        self.rest = torch.tensor(self.rest64, dtype=torch.float32, device=self.device)
        self.faces = torch.tensor(self.carrier_faces, dtype=torch.long, device=self.device)
        self.edge = float(np.mean(np.linalg.norm(v[f[:, [1, 2, 0]]] - v[f], axis=2)))
        bary = np.clip(np.asarray(init.bary, dtype=np.float64), 1e-4, None)
        self.face = torch.as_tensor(init.face, dtype=torch.long, device=self.device)
        self.tensors = {
            "bary_logits": torch.as_tensor(np.log(bary), dtype=torch.float32),
            "offset": torch.as_tensor(init.offset, dtype=torch.float32) / self.edge,  # in edge lengths
            "quat": torch.as_tensor(init.quat, dtype=torch.float32),
            "log_scale": torch.as_tensor(init.log_scale, dtype=torch.float32),
            "sh_dc": torch.as_tensor(init.sh[:, :1], dtype=torch.float32),
            "sh_rest": torch.as_tensor(init.sh[:, 1:], dtype=torch.float32),
            "opacity_logit": torch.as_tensor(init.opacity_logit, dtype=torch.float32),
        }
        self.tensors = {k: t.to(self.device).requires_grad_(True) for k, t in self.tensors.items()}
        self._make_optimizer()
        self.reset_stats()

    def _make_optimizer(self, old_state=None, index=None):
        lr = {"bary_logits": self.s.lr_bary, "offset": self.s.lr_offset, "quat": self.s.lr_quat,
                  "log_scale": self.s.lr_scale, "sh_dc": self.s.lr_color, "sh_rest": self.s.lr_color / 20,
                  "opacity_logit": self.s.lr_opacity}
        self.opt = torch.optim.Adam([{"params": [t], "lr": lr[k], "name": k} for k, t in self.tensors.items()],
                                    eps=1e-15)
        if old_state is not None:  # carry Adam's moments over to the re-indexed Gaussians
            for group in self.opt.param_groups:
                st = old_state.get(group["name"])
                if st:
                    p = group["params"][0]
                    self.opt.state[p] = {"step": st["step"], "exp_avg": st["exp_avg"][index].clone(),
                                         "exp_avg_sq": st["exp_avg_sq"][index].clone()}

    def params(self) -> BindingParams:
        t = self.tensors
        return BindingParams(self.face, t["bary_logits"], t["offset"] * self.edge, t["quat"], t["log_scale"],
                             torch.cat([t["sh_dc"], t["sh_rest"]], 1), t["opacity_logit"])

    def reset_stats(self):
        n = len(self.face)
        self.grad_sum, self.grad_count = torch.zeros(n, device=self.device), torch.zeros(n, device=self.device)

    def accumulate(self, proj):
        if proj.means2d.grad is None:
            return
        seen = proj.valid
        self.grad_sum[seen] += proj.means2d.grad.reshape(-1, 2)[seen].norm(dim=1)
        self.grad_count[seen] += 1

    def carrier(self) -> dict:
        """The carrier mesh's fields of the binding (none while no face was split)."""
        if self.midpoints is None or not len(self.midpoints):
            return {}
        return {"midpoints": np.asarray(self.midpoints), "carrier_faces": self.carrier_faces}

    def split(self, grow: torch.Tensor) -> int:
        """Split 1-to-4 the largest faces holding Gaussians about to be cloned (at most
        ``split_fraction`` of the faces) and re-bind their Gaussians to the children exactly;
        the clones are then drawn inside the smaller children. Returns the number split."""
        from .binding import midpoint_matrix
        from .refine import rebind, split_carrier

        budget = int(self.s.split_fraction * len(self.carrier_faces))
        if budget < 1 or len(grow) == 0:
            return 0
        with torch.no_grad():
            cand = torch.unique(self.face[grow]).cpu().numpy()
            v = self.rest64[self.carrier_faces[cand]]
            area = np.linalg.norm(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), axis=1)
            ids = np.sort(cand[np.argsort(-area, kind="stable")[:budget]])
            n = len(self.base)
            mid, faces, children = split_carrier(n, self.midpoints, self.carrier_faces, ids)
            rest_after = midpoint_matrix(n, mid) @ self.base
            t = self.tensors
            bary = torch.softmax(t["bary_logits"].double(), 1).cpu().numpy()
            face, bary, quat, moved = rebind(self.face.cpu().numpy(), bary, t["quat"].double().cpu().numpy(),
                                             self.rest64, self.carrier_faces, rest_after, faces,
                                             ids, children)
            m = torch.as_tensor(moved, device=self.device)
            t["bary_logits"][m] = torch.as_tensor(np.log(np.clip(bary[moved], 1e-4, None)), dtype=torch.float32,
                                                  device=self.device)
            t["quat"][m] = torch.as_tensor(quat[moved], dtype=torch.float32, device=self.device)
            for name in ("bary_logits", "quat"):  # Adam's moments were of the old parametrisation
                st = self.opt.state.get(t[name])
                if st:
                    st["exp_avg"][m] = 0.0
                    st["exp_avg_sq"][m] = 0.0
            self.face = torch.as_tensor(face, dtype=torch.long, device=self.device)
            self.midpoints, self.carrier_faces = mid, faces
            self.rest64, self.rest = rest_after, torch.tensor(rest_after, dtype=torch.float32, device=self.device)
            self.faces = torch.tensor(faces, dtype=torch.long, device=self.device)
        return len(ids)

    def densify(self, rng: torch.Generator) -> None:
        """Clone the Gaussians with the largest mean screen gradient inside their triangles (the
        larger half of them split: both copies shrink), prune the nearly transparent ones. With
        ``split_fraction``, the largest of their faces are split first (:meth:`split`)."""
        s = self.s
        n = len(self.face)
        with torch.no_grad():
            alive = torch.sigmoid(self.tensors["opacity_logit"]) >= s.prune_opacity
            score = torch.where(self.grad_count > 0, self.grad_sum / self.grad_count.clamp_min(1),
                                torch.zeros(n, device=self.device))
            score[~alive] = -1.0
            room = max(0, s.max_gaussians - int(alive.sum()))
            k = min(room, int(s.densify_fraction * n))
            grow = torch.topk(score, k).indices if k > 0 else torch.zeros(0, dtype=torch.long, device=self.device)
            grow = grow[score[grow] > 0]
        self.split(grow)
        with torch.no_grad():
            index = torch.cat([torch.nonzero(alive).squeeze(1), grow])
            old_state = {g["name"]: self.opt.state.get(g["params"][0]) for g in self.opt.param_groups}
            new = {k: t.detach()[index].clone() for k, t in self.tensors.items()}
            m = len(grow)
            if m:
                # the clone moves a little within its triangle; large Gaussians split (both shrink)
                new["bary_logits"][-m:] += 0.3 * torch.randn(m, 3, generator=rng).to(self.device)  # drawn on the CPU
                ls = new["log_scale"]
                big = ls[-m:].max(1).values > torch.median(ls.max(1).values)
                row_of = torch.cumsum(alive.long(), 0) - 1  # a surviving Gaussian's row in the new arrays
                shrink = torch.zeros(len(index), device=self.device)
                shrink[-m:][big] = math.log(1.6)
                shrink[row_of[grow[big]]] = math.log(1.6)
                ls -= shrink[:, None]
            self.face = self.face[index]
            self.tensors = {k: t.requires_grad_(True) for k, t in new.items()}
            self._make_optimizer(old_state, index)
            self.reset_stats()


def fit_splats(vertices, faces, appearance, settings: FitSettings | None = None, *, init: SplatBinding | None = None,
               progress: bool = True, checkpoint_dir=None, on_checkpoint: Callable | None = None,
               device: str = "cpu") -> FitResult:
    """Fit Gaussians bound to the mesh ``(vertices, faces)`` to its pictures under ``appearance``.

    Returns the fitted :class:`SplatBinding`, the loss history and the training cameras.
    ``checkpoint_dir``: write ``step_NNNNNN.npz`` binding files there every
    ``settings.checkpoint_every`` steps (and at the end). ``device``: ``"cpu"`` (our
    rasterizer) or ``"cuda"`` (gsplat's differentiable rasterizer, ``pip install
    shapecorr[splat]``; the pictures fitted to are drawn on the CPU either way, and random draws
    are made on the CPU, so a seed means the same draws on both)."""
    from ..core import check_device
    from tqdm import tqdm

    from .io import save_binding

    s = settings or FitSettings()
    device = check_device(device)
    if device != "cpu":
        from .backend import gsplat_available

        if not gsplat_available():
            raise SettingsError(f"fitting on {device} draws with gsplat, which is not installed: "
                                "pip install 'shapecorr[splat]' (or fit on the CPU).")
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    torch.manual_seed(s.seed)
    rng = torch.Generator().manual_seed(s.seed)
    cams = orbit_cameras(v, s.n_views, size=s.image_size, fov_degrees=s.fov_degrees)
    if s.close_views:
        cams += orbit_cameras(v, s.close_views, size=s.image_size, fov_degrees=s.fov_degrees, offset=0.25,
                              margin=s.close_margin)
    gts_host = ground_truth(v, f, appearance, cams, s.background)
    gts = [torch.as_tensor(g, device=device) for g in gts_host]
    init = init or initial_binding(v, f, appearance, s.n_gaussians, s.sh_degree, s.seed)
    tr = _Trainer(init, s, device)
    bg = torch.tensor(s.background, dtype=torch.float32, device=device)
    history, t0 = [], time.perf_counter()
    order = torch.randperm(len(cams), generator=rng)
    stop_densify = int(s.densify_until * s.steps)
    ckpt = None if checkpoint_dir is None else Path(checkpoint_dir)
    bar = tqdm(range(1, s.steps + 1), desc="fitting splats", file=sys.stderr, disable=not progress)
    for step in bar:
        if (step - 1) % len(cams) == 0 and step > 1:
            order = torch.randperm(len(cams), generator=rng)
        view = int(order[(step - 1) % len(cams)])
        sh_active = min(s.sh_degree, (step - 1) // s.sh_every)
        info: dict = {}
        img = render_params(tr.params(), tr.rest, tr.faces, cams[view], sh_active, bg, info, mode=s.rasterize_mode,
                            eps2d=s.eps2d)
        gt = gts[view]
        loss = (1 - s.ssim_weight) * (img - gt).abs().mean() + s.ssim_weight * (1 - ssim(img, gt))
        if s.offset_weight:
            loss = loss + s.offset_weight * tr.tensors["offset"].square().mean()
        tr.opt.zero_grad(set_to_none=True)
        loss.backward()
        tr.accumulate(info["projected"])
        tr.opt.step()
        with torch.no_grad():  # the Gaussians stay near the surface
            tr.tensors["offset"].clamp_(-s.max_offset, s.max_offset)
        with torch.no_grad():
            p = psnr(img.detach().clamp(0, 1).cpu().numpy(), gts_host[view])
        history.append({"step": step, "loss": float(loss.detach()), "psnr": p, "n_gaussians": len(tr.face),
                        "seconds": time.perf_counter() - t0})
        bar.set_postfix(loss=f"{float(loss.detach()):.4f}", psnr=f"{p:.1f}", n=len(tr.face))
        if s.densify_every and step % s.densify_every == 0 and step <= stop_densify:
            tr.densify(rng)
        if ckpt is not None and (step % s.checkpoint_every == 0 or step == s.steps):
            ckpt.mkdir(parents=True, exist_ok=True)
            b = params_to_binding(tr.params(), v, f, s.sh_degree, rasterize_mode=s.rasterize_mode, eps2d=s.eps2d,
                                  **tr.carrier())
            save_binding(ckpt / f"step_{step:06d}.npz", b)
            if on_checkpoint is not None:
                on_checkpoint(step, b)
    bar.close()
    return FitResult(params_to_binding(tr.params(), v, f, s.sh_degree, rasterize_mode=s.rasterize_mode,
                                       eps2d=s.eps2d, **tr.carrier()), history, cams)


def evaluate(b: SplatBinding, vertices, appearance, cameras, *, background=(0.0, 0.0, 0.0), device: str = "cpu"):
    """PSNR (dB) of the splats against the mesh's own pictures from ``cameras``, the mesh at
    ``vertices`` (a pose of the binding's rest mesh): per view, whole image and over the pixels
    the mesh covers. Returns ``(psnr_whole, psnr_covered, splat_images, mesh_images)``."""
    from .backend import render_binding

    whole, covered, sp, gt = [], [], [], []
    for cam in cameras:
        ref, cover = render_mesh(vertices, b.faces, appearance, cam, background=background)
        img, _ = render_binding(b, cam, vertices, background=background, device=device)
        whole.append(psnr(img, ref))
        m = cover > 0
        covered.append(psnr(img[m], ref[m]) if m.any() else float("nan"))
        sp.append(img)
        gt.append(ref)
    return whole, covered, sp, gt
