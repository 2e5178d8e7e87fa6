"""A differentiable 3D Gaussian Splatting rasterizer in plain torch (CPU or any device).

The same model as ``gsplat.rasterization`` (its defaults: pinhole camera, ``eps2d = 0.3`` low-pass,
``alpha = min(0.999, opacity * exp(-q/2))`` dropped below 1/255, front-to-back compositing that
stops once the transmittance would fall to 1e-4, SH colours ``+ 0.5`` clamped at 0), so that
images from this rasterizer and from gsplat on CUDA agree and either can fit splats.

How it works, vectorised (no Python loop over Gaussians or pixels):

1. *Projection* (differentiable): camera-frame means and covariances, the EWA Jacobian (with
   gsplat's clamping of off-screen points), 2D means, conics and opacity-aware extents.
2. *Tiles* (no gradient): each Gaussian is listed in every ``tile x tile`` image tile its
   extent touches; the (tile, Gaussian) pairs are sorted by tile and depth. Groups of whole tiles
   are evaluated densely as ``(pairs, tile_pixels)`` blocks: alpha, the inclusive transmittance by
   a cumulative sum of ``log(1 - alpha)`` down each tile's pairs, and the fragments that count
   (alpha >= 1/255, transmittance still above 1e-4).
3. *Compositing* (differentiable, on the kept fragments only): alpha is recomputed with
   gradients, the transmittance in front of each fragment is a segmented cumulative sum over
   the fragments of its pixel (contiguous and depth-ordered by construction), and colours are
   summed into the pixels with ``index_add``.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import torch

from .sh import eval_sh

ALPHA_MIN = 1.0 / 255.0
ALPHA_MAX = 0.999
T_MIN = 1e-4
_LOG_T_MIN = -9.210340371976182  # ln(T_MIN)
_PAIRS_PER_BLOCK = 1 << 16  # (pairs x tile pixels) evaluated at once in step 2


class Projected(NamedTuple):
    """The 2D image of each Gaussian (``valid`` marks those in front of the camera and on screen)."""

    means2d: torch.Tensor  # (n, 2) pixels
    conics: torch.Tensor  # (n, 3): a, b, c of the inverse 2D covariance [[a, b], [b, c]]
    depths: torch.Tensor  # (n,) camera z
    radii: torch.Tensor  # (n, 2) extent in pixels along x and y (no gradient)
    valid: torch.Tensor  # (n,) bool
    opacities: torch.Tensor  # (n,) as composited: the given ones, times the compensation in "antialiased" mode


def quat_to_rotmat(quats: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``(n, 3, 3)`` of quaternions ``(n, 4)`` in ``w, x, y, z`` order (normalised here)."""
    q = quats / quats.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    w, x, y, z = q.unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], dim=-1).reshape(*q.shape[:-1], 3, 3)


def covariances(quats: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """World covariances ``R diag(s^2) R^T`` ``(n, 3, 3)`` from quaternions and (linear) scales."""
    M = quat_to_rotmat(quats) * scales[:, None, :]
    return M @ M.transpose(1, 2)


def project(means: torch.Tensor, covars: torch.Tensor, opacities: torch.Tensor, viewmat: torch.Tensor,
            K: torch.Tensor, width: int, height: int, *, eps2d: float = 0.3, near: float = 0.01,
            far: float = 1e10, mode: str = "classic") -> Projected:
    """Step 1: perspective (EWA) projection of Gaussians ``means (n, 3)``, ``covars (n, 3, 3)``.

    ``mode`` as gsplat's ``rasterize_mode``: ``"classic"`` adds ``eps2d`` to the 2D covariance
    and keeps the opacity, so a Gaussian thinner than a pixel (a disc seen edge-on) is drawn as a
    pixel-wide opaque line; ``"antialiased"`` (Mip-Splatting's 2D filter) also scales the opacity
    by ``sqrt(det(cov2d) / det(cov2d + eps2d I))``, which keeps each Gaussian's integrated alpha."""
    check_mode(mode)
    R, t = viewmat[:3, :3], viewmat[:3, 3]
    p = means @ R.T + t
    cov = R @ covars @ R.T
    x, y, z = p.unbind(-1)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    zs = torch.where(z > near, z, torch.ones_like(z))  # behind the camera: culled below, kept finite here
    tan_x, tan_y = 0.5 * width / fx, 0.5 * height / fy
    tx = zs * torch.clamp(x / zs, -(cx / fx + 0.3 * tan_x), (width - cx) / fx + 0.3 * tan_x)
    ty = zs * torch.clamp(y / zs, -(cy / fy + 0.3 * tan_y), (height - cy) / fy + 0.3 * tan_y)
    zero = torch.zeros_like(zs)
    J = torch.stack([fx / zs, zero, -fx * tx / zs ** 2, zero, fy / zs, -fy * ty / zs ** 2], -1).reshape(-1, 2, 3)
    cov2 = J @ cov @ J.transpose(1, 2)
    a, b, c = cov2[:, 0, 0] + eps2d, cov2[:, 0, 1], cov2[:, 1, 1] + eps2d
    det = a * c - b * b
    ok = det > 0
    det_s = torch.where(ok, det, torch.ones_like(det))
    conics = torch.stack([c / det_s, -b / det_s, a / det_s], -1)
    if mode == "antialiased":  # the floor keeps sqrt's gradient finite for a flat (det 0) Gaussian
        det0 = cov2[:, 0, 0] * cov2[:, 1, 1] - cov2[:, 0, 1] ** 2
        opacities = opacities * torch.sqrt((det0 / det_s).clamp_min(1e-12))
    means2d = torch.stack([fx * x / zs + cx, fy * y / zs + cy], -1)
    with torch.no_grad():
        # the alpha = 1/255 level set reaches sqrt(2 ln(255 o)) standard deviations (at most 3.33)
        extend = torch.sqrt(2.0 * torch.log((opacities * 255.0).clamp_min(1.0))).clamp_max(3.33)
        radii = torch.stack([torch.ceil(extend * a.clamp_min(0).sqrt()), torch.ceil(extend * c.clamp_min(0).sqrt())], -1)
        m = means2d.detach()
        on_screen = (m[:, 0] + radii[:, 0] > 0) & (m[:, 0] - radii[:, 0] < width) & \
                    (m[:, 1] + radii[:, 1] > 0) & (m[:, 1] - radii[:, 1] < height)
        valid = (z > near) & (z < far) & ok & on_screen & (opacities >= ALPHA_MIN) & (radii > 0).all(-1)
    return Projected(means2d, conics, z, radii, valid, opacities)


RASTERIZE_MODES = ("classic", "antialiased")


def check_filter(mode: str, eps2d: float) -> None:
    """A rasterize ``mode`` and a 2D filter variance ``eps2d`` (pixels squared, > 0) that draw."""
    check_mode(mode)
    if not (eps2d > 0 and eps2d < float("inf")):
        from ..core.errors import SettingsError

        raise SettingsError(f"eps2d={eps2d!r}: the 2D filter's variance must be a positive number of square pixels.")


def check_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`RASTERIZE_MODES`, else a :class:`SettingsError`."""
    if mode not in RASTERIZE_MODES:
        from ..core.errors import SettingsError

        raise SettingsError(f"rasterize mode {mode!r}: choose one of {', '.join(RASTERIZE_MODES)}.")
    return mode


def _tile_pairs(proj: Projected, width: int, height: int, tile: int):
    """Step 2a: (tile, Gaussian) pairs sorted by tile, then depth; and the tile grid size."""
    ntx, nty = -(-width // tile), -(-height // tile)
    ids = torch.nonzero(proj.valid).squeeze(1)
    m, r = proj.means2d.detach()[ids], proj.radii[ids]
    # pixel centres px + 0.5 within [m - r, m + r]
    x0 = torch.clamp(torch.floor((m[:, 0] - r[:, 0] - 0.5) / tile), 0, ntx - 1).long()
    x1 = torch.clamp(torch.floor((m[:, 0] + r[:, 0] - 0.5) / tile), 0, ntx - 1).long()
    y0 = torch.clamp(torch.floor((m[:, 1] - r[:, 1] - 0.5) / tile), 0, nty - 1).long()
    y1 = torch.clamp(torch.floor((m[:, 1] + r[:, 1] - 0.5) / tile), 0, nty - 1).long()
    nx, ny = x1 - x0 + 1, y1 - y0 + 1
    counts = nx * ny
    gid = torch.repeat_interleave(torch.arange(len(ids)), counts)
    first = torch.cumsum(counts, 0) - counts
    k = torch.arange(int(counts.sum())) - first[gid]
    tiles = (y0[gid] + k // nx[gid]) * ntx + (x0[gid] + k % nx[gid])
    rank = torch.empty(len(ids), dtype=torch.long)
    rank[torch.argsort(proj.depths.detach()[ids], stable=True)] = torch.arange(len(ids))
    order = torch.argsort(tiles * max(len(ids), 1) + rank[gid])
    return tiles[order], ids[gid[order]], ntx, nty


def _fragments(proj: Projected, opac: torch.Tensor, tiles: torch.Tensor, gauss: torch.Tensor, ntx: int,
               tile: int, width: int, height: int, prune: bool = False):
    """Step 2b (no gradient): the fragments with alpha >= 1/255, as (Gaussian, pixel) index pairs,
    grouped by pixel and in depth order within each pixel.

    ``opacity * exp(-sigma) >= 1/255`` is tested as ``sigma <= ln(255 opacity)``: the dense
    ``(pairs, tile pixels)`` blocks need only a quadratic form and one comparison."""
    ly, lx = torch.meshgrid(torch.arange(tile), torch.arange(tile), indexing="ij")
    lx, ly = lx.reshape(-1).float() + 0.5, ly.reshape(-1).float() + 0.5
    m2, con = proj.means2d.detach().float(), proj.conics.detach().float()
    limit = torch.log((opac.detach().float() * 255.0).clamp_min(1e-30))
    # per Gaussian: x, y, a/2, b, c/2, limit, opacity (one row each, gathered at once per block)
    cols = torch.stack([m2[:, 0], m2[:, 1], 0.5 * con[:, 0], con[:, 1], 0.5 * con[:, 2], limit,
                        opac.detach().float()], 1)
    # blocks of whole tiles of about _PAIRS_PER_BLOCK pairs (a crowded tile makes a block alone)
    firsts = torch.nonzero(torch.diff(tiles, prepend=tiles[:1] - 1)).squeeze(1)
    block = torch.div(firsts, _PAIRS_PER_BLOCK, rounding_mode="floor")
    cuts = firsts[torch.diff(block, prepend=block[:1] - 1) != 0].tolist() + [len(tiles)]
    out_g, out_p = [], []
    for s, e in itertools.pairwise(cuts):
        if e <= s:
            continue
        t, g = tiles[s:e], gauss[s:e]
        tx, ty = t % ntx * tile, torch.div(t, ntx, rounding_mode="floor") * tile
        rows = cols.index_select(0, g)
        col = [rows[:, i:i + 1] for i in range(rows.shape[1])]  # per pair: x, y, a/2, b, c/2, limit, opacity
        dx = (col[0] - tx[:, None]) - lx  # (pairs, tile^2): Gaussian centre minus pixel centre
        dy = (col[1] - ty[:, None]) - ly
        sigma = torch.addcmul(col[3] * dy, col[2], dx).mul_(dx)
        sigma.addcmul_(dy.mul_(dy), col[4])
        hit = sigma <= col[5]
        if prune:
            hit &= _not_surely_stopped(sigma, hit, col[6], t)
        # (tile pixel, pair) order: each pixel's fragments are contiguous and depth-ordered
        lp, pair = torch.nonzero(hit.T, as_tuple=True)
        px = tx.index_select(0, pair) + lp % tile
        py = ty.index_select(0, pair) + torch.div(lp, tile, rounding_mode="floor")
        pix = py * width + px
        gp = g.index_select(0, pair)
        if tx.max() + tile > width or ty.max() + tile > height:  # tiles across the image border
            inside = (px < width) & (py < height)
            gp, pix = gp[inside], pix[inside]
        out_g.append(gp)
        out_p.append(pix)
    if not out_g:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    return torch.cat(out_g), torch.cat(out_p)


def _not_surely_stopped(sigma, hit, opac, t):
    """Fragments not surely behind gsplat's early stop: their inclusive log-transmittance, summed
    down each tile's pairs (float32), is not well below ln 1e-4. The exact stop is applied in
    step 3; this only spares it (and its backward pass) the fragments hidden behind opaque
    layers, at the cost of one exp per dense entry."""
    log1m = torch.where(hit, torch.log1p(-torch.clamp_max(opac * torch.exp(-sigma), ALPHA_MAX)), 0.0)
    cs = torch.cumsum(log1m, 0)
    start = firsts_in(t)
    cs -= (cs.index_select(0, start) - log1m.index_select(0, start)).repeat_interleave(
        torch.diff(start, append=torch.tensor([len(t)])), 0)
    return cs > _LOG_T_MIN - 0.5


def firsts_in(t: torch.Tensor) -> torch.Tensor:
    """Indices where a new value starts in the sorted ``t``."""
    return torch.nonzero(torch.diff(t, prepend=t[:1] - 1)).squeeze(1)


def _composite(proj: Projected, opac: torch.Tensor, colors: torch.Tensor, g: torch.Tensor, pix: torch.Tensor,
               width: int, height: int):
    """Step 3 (differentiable): colour and accumulated alpha of each pixel from its fragments.

    A fragment after which the pixel's transmittance would reach 1e-4 and all behind it are
    left out (gsplat's early stop); the kept ones are a prefix of each pixel's list."""
    n_pix = width * height
    dtype = colors.dtype
    if len(g) == 0:
        return torch.zeros(n_pix, colors.shape[1], dtype=dtype), torch.zeros(n_pix, dtype=dtype)
    packed = torch.cat([proj.means2d, proj.conics, opac[:, None], colors], 1).T.contiguous()
    f = packed.index_select(1, g)  # (6 + channels, fragments): one gather
    px = (pix % width).to(dtype) + 0.5
    py = torch.div(pix, width, rounding_mode="floor").to(dtype) + 0.5
    dx, dy = f[0] - px, f[1] - py
    sigma = 0.5 * (f[2] * dx * dx + f[4] * dy * dy) + f[3] * dx * dy
    alpha = torch.clamp_max(f[5] * torch.exp(-sigma), ALPHA_MAX)
    log1m = torch.log1p(-alpha).double()
    cs = torch.cumsum(log1m, 0)
    new = torch.ones_like(pix, dtype=torch.bool)
    new[1:] = pix[1:] != pix[:-1]
    start = torch.nonzero(new).squeeze(1)
    lengths = torch.diff(start, append=torch.tensor([len(pix)]))
    base = torch.repeat_interleave(cs.index_select(0, start) - log1m.index_select(0, start), lengths)
    incl = cs - base  # log transmittance behind each fragment (its pixel's segment of the cumsum)
    keep = (incl.detach() > _LOG_T_MIN).to(dtype)
    w = alpha * torch.exp(incl - log1m).to(dtype) * keep
    image = torch.stack([torch.zeros(n_pix, dtype=dtype).index_add(0, pix, w * f[6 + c])
                         for c in range(colors.shape[1])], 1)
    log_t = torch.zeros(n_pix, dtype=dtype).index_add(0, pix, log1m.to(dtype) * keep)
    return image, 1.0 - torch.exp(log_t)


def rasterize(means: torch.Tensor, quats: torch.Tensor | None, scales: torch.Tensor | None,
              opacities: torch.Tensor, colors: torch.Tensor, viewmat, K, width: int, height: int, *,
              sh_degree: int | None = None, covars: torch.Tensor | None = None, background=None,
              tile_size: int = 8, eps2d: float = 0.3, near: float = 0.01, far: float = 1e10,
              mode: str = "classic", info: dict | None = None):
    """Render Gaussians to an image, differentiably: returns ``(image (h, w, 3), alpha (h, w))``.

    ``means (n, 3)``; orientation either as ``quats (n, 4)`` (w, x, y, z) with linear ``scales (n, 3)``
    or as ``covars (n, 3, 3)``; ``opacities (n,)`` in [0, 1]; ``colors`` either RGB ``(n, 3)``
    (``sh_degree=None``) or SH coefficients ``(n, K, 3)``; ``viewmat (4, 4)`` world-to-camera and
    ``K (3, 3)`` as in gsplat; ``background (3,)`` fills what the splats leave transparent.
    All tensors on one device and of one floating dtype (float32, or float64 for exact checks).
    ``mode``: ``"classic"`` or ``"antialiased"``, as gsplat's ``rasterize_mode`` (see :func:`project`).
    ``info``: a dict that receives the :class:`Projected` Gaussians (``info["projected"]``, its
    ``means2d`` keeping its gradient, which densification reads) and the fragment count.
    """
    dtype = means.dtype
    viewmat = torch.as_tensor(viewmat, dtype=dtype)
    K = torch.as_tensor(K, dtype=dtype)
    if covars is None:
        if quats is None or scales is None:
            raise ValueError("rasterize: give quats and scales, or covars.")
        covars = covariances(quats, scales)
    proj = project(means, covars, opacities, viewmat, K, width, height, eps2d=eps2d, near=near, far=far, mode=mode)
    opacities = proj.opacities
    if sh_degree is None:
        rgb = colors
    else:
        cam = -viewmat[:3, :3].T @ viewmat[:3, 3]
        rgb = eval_sh(sh_degree, colors, means - cam)
    # with gradients, hidden fragments are dropped early (a slower forward, a much faster backward)
    prune = torch.is_grad_enabled() and any(x is not None and x.requires_grad
                                            for x in (means, quats, scales, covars, opacities, colors))
    with torch.no_grad():
        tiles, gauss, ntx, _ = _tile_pairs(proj, width, height, tile_size)
        g, pix = _fragments(proj, opacities, tiles, gauss, ntx, tile_size, width, height, prune)
    if info is not None:
        if proj.means2d.requires_grad:
            proj.means2d.retain_grad()
        info["projected"], info["n_fragments"] = proj, len(g)
    image, alpha = _composite(proj, opacities, rgb, g, pix, width, height)
    if background is not None:
        bg = torch.as_tensor(background, dtype=dtype)
        image = image + (1.0 - alpha)[:, None] * bg
    return image.reshape(height, width, -1), alpha.reshape(height, width)
