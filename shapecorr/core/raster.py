"""A small software rasterizer in NumPy: triangles and point splats resolved by a z-buffer.

Pure array functions, no window, no GPU, no OpenGL: fast enough for pictures of shapes with
tens of thousands of faces (a 5k-vertex pair at 960 x 520 in well under 0.1 s) and exactly the
same on every machine. It lives in ``core`` because two layers draw with it: ``render`` (the
pictures of shapes, maps and textures) and ``splat`` (the textured mesh's reference views that
Gaussian splats are fitted to).

Conventions: image coordinates in pixels, ``x`` to the right and ``y`` downwards, pixel
``(row, col)`` has its centre at ``(col + 0.5, row + 0.5)``; ``depth`` grows towards the
camera (the nearest fragment wins). Each function returns *fragments*: the flat pixel index
``row * width + col`` of every covered pixel once, and what was drawn there.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

_EPS = 1e-5  # inside-test tolerance (float32)
# candidate pixels evaluated at once (bounds the memory of large triangles: ~100 MB)
_MAX_CANDIDATES = 1 << 21


class TriangleFragments(NamedTuple):
    """The visible triangle at each covered pixel."""

    pixel: np.ndarray  # (k,) int64, flat pixel index, each at most once
    face: np.ndarray  # (k,) int64, the triangle seen there
    bary: np.ndarray  # (k, 3) float64, barycentric coordinates of the pixel centre in it


class PointFragments(NamedTuple):
    """The visible splat at each covered pixel."""

    pixel: np.ndarray  # (k,) int64
    point: np.ndarray  # (k,) int64, the point seen there
    normal: np.ndarray  # (k, 3) float64, the normal of the splat's sphere at the pixel (camera frame)


UP_AXES = ("y", "z", "x", "-y", "-z", "-x")
# a proper rotation taking +y to each axis (the y-up frame in which views are written to the axis-up frame)
_UP_ROTATIONS = {
    "y": ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
    "z": ((1, 0, 0), (0, 0, -1), (0, 1, 0)),  # +90 degrees about x
    "x": ((0, 1, 0), (-1, 0, 0), (0, 0, 1)),  # -90 degrees about z
    "-y": ((1, 0, 0), (0, -1, 0), (0, 0, -1)),  # 180 degrees about x
    "-z": ((1, 0, 0), (0, 0, 1), (0, -1, 0)),  # -90 degrees about x
    "-x": ((0, -1, 0), (1, 0, 0), (0, 0, 1)),  # +90 degrees about z
}


def up_axis_name(axis: str) -> str:
    """``axis`` as one of :data:`UP_AXES` (case, spaces and a leading ``+`` ignored); a
    ``ValueError`` naming the choices otherwise."""
    key = str(axis).strip().lower()
    if key.startswith("+"):
        key = key[1:]
    if key not in _UP_ROTATIONS:
        raise ValueError(f"up axis {axis!r}: choose one of {', '.join(UP_AXES)}.")
    return key


def up_rotation(axis: str) -> np.ndarray:
    """The rotation (3 x 3, determinant 1) taking ``+y`` to the named ``axis`` (one of
    :data:`UP_AXES`): a direction written for y-up shapes, rotated by it, is the same direction
    relative to shapes whose up axis is ``axis``."""
    return np.array(_UP_ROTATIONS[up_axis_name(axis)], dtype=np.float64)


def camera_direction(view, up) -> tuple[np.ndarray, np.ndarray]:
    """``(view, up)`` vectors in the shapes' frame. ``up`` is either a vector (``view`` is then
    taken as it is) or an axis name of :data:`UP_AXES`, the shapes' up axis: ``view`` is then
    read in a frame where that axis is up (the same viewpoint, relative to the shape, as on a
    y-up shape), and ``up`` becomes that axis."""
    v = np.asarray(view, dtype=np.float64)
    if isinstance(up, str):
        r = up_rotation(up)
        return r @ v, r[:, 1].copy()
    return v, np.asarray(up, dtype=np.float64)


def camera_basis(view, up) -> np.ndarray:
    """Rows ``right, up, towards-camera`` of the camera frame looking along ``-view``.

    ``view`` is the direction from the object towards the camera; ``up`` need not be
    orthogonal to it (only not parallel)."""
    back = np.asarray(view, dtype=np.float64)
    back = back / np.linalg.norm(back)
    right = np.cross(np.asarray(up, dtype=np.float64), back)
    norm = np.linalg.norm(right)
    if norm < 1e-9:
        raise ValueError(f"the up vector {tuple(up)} is parallel to the view direction {tuple(view)}.")
    right /= norm
    return np.stack([right, np.cross(back, right), back])


def _resolve(pixel: np.ndarray, depth: np.ndarray, n_pixels: int) -> np.ndarray:
    """Indices of the winning candidates: the nearest (largest depth) one at each pixel."""
    zbuf = np.full(n_pixels, -np.inf)
    np.maximum.at(zbuf, pixel, depth)
    nearest = np.flatnonzero(depth == zbuf[pixel])
    # exact ties (a pixel centre on a shared edge): keep one candidate per pixel
    owner = np.full(n_pixels, -1, dtype=np.int64)
    owner[pixel[nearest]] = nearest
    return owner[owner >= 0]


def rasterize_triangles(xy: np.ndarray, depth: np.ndarray, faces: np.ndarray, size: tuple[int, int], *,
                        cull: int = 0) -> TriangleFragments:
    """Fragments of triangles ``faces (m, 3)`` over vertices at pixel positions ``xy (n, 2)``
    with ``depth (n,)``, in an image of ``size = (height, width)``. Triangles seen edge-on are
    skipped. ``cull``: 0 draws both sides; +1 (-1) draws only triangles whose corners run
    clockwise (counter-clockwise) on the image, i.e. those facing the camera when the faces
    of a closed surface are wound counter-clockwise seen from outside (from inside): half the
    work, the same picture (see :func:`shapecorr.render.offscreen.front_side`)."""
    h, w = size
    xy = np.asarray(xy, dtype=np.float64)
    depth = np.asarray(depth, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    a, b, c = xy[faces[:, 0]], xy[faces[:, 1]], xy[faces[:, 2]]
    ab, ac = b - a, c - a
    area2 = ab[:, 0] * ac[:, 1] - ab[:, 1] * ac[:, 0]
    corners = np.stack([a, b, c], axis=1)
    # pixel centres i + 0.5 inside [min, max]: i from ceil(min - 0.5) to floor(max - 0.5)
    lo = np.maximum(np.ceil(corners.min(1) - 0.5), 0).astype(np.int64)
    hi = np.minimum(np.floor(corners.max(1) - 0.5), [w - 1, h - 1]).astype(np.int64)
    span = np.maximum(hi - lo + 1, 0)
    count = span[:, 0] * span[:, 1]
    facing = np.abs(area2) > 1e-12 if cull == 0 else cull * area2 < -1e-12  # image y points down
    keep = np.flatnonzero((count > 0) & facing)
    if len(keep) == 0:
        return TriangleFragments(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3)))
    # per face, l1 and l2 are affine in the offset (dx, dy) from the face's first candidate
    # pixel centre: l = l_0 + l_x dx + l_y dy; so is the depth
    inv = 1.0 / area2[keep]
    ka, kab, kac = a[keep], ab[keep], ac[keep]
    d0 = lo[keep] + 0.5 - ka
    l1 = np.stack([(d0[:, 0] * kac[:, 1] - d0[:, 1] * kac[:, 0]) * inv, kac[:, 1] * inv, -kac[:, 0] * inv])
    l2 = np.stack([(kab[:, 0] * d0[:, 1] - kab[:, 1] * d0[:, 0]) * inv, -kab[:, 1] * inv, kab[:, 0] * inv])
    za, dzb, dzc = (depth[faces[keep, i]] for i in range(3))
    dzb, dzc = dzb - za, dzc - za
    z = np.stack([za + dzb * l1[0] + dzc * l2[0], dzb * l1[1] + dzc * l2[1], dzb * l1[2] + dzc * l2[2]])
    # the inside test in float32 (half the memory traffic; offsets are small integers, so the
    # error is ~1e-6, covered by the tolerance: a pixel centre on a shared edge is claimed by
    # both triangles and the z-buffer keeps one)
    l1f, l2f = l1.astype(np.float32), l2.astype(np.float32)
    # triangles with about the same bounding-box size are evaluated together at the candidate
    # pixels of a common box (sizes rounded up to a ~1.25x ladder): contiguous (faces, offsets)
    # arrays, few groups, no per-candidate gathers
    sx, sy = span[keep, 0], span[keep, 1]
    origin = lo[keep, 1] * w + lo[keep, 0]  # flat pixel index of the first candidate
    ladder = _size_ladder(int(max(sx.max(initial=1), sy.max(initial=1))))
    bx, by = ladder[np.searchsorted(ladder, sx)], ladder[np.searchsorted(ladder, sy)]
    key = bx * (int(by.max(initial=0)) + 1) + by
    order = np.argsort(key, kind="stable")
    starts = np.flatnonzero(np.r_[True, key[order][1:] != key[order][:-1]])
    stops = np.r_[starts[1:], len(order)]
    pix, fid, zs = [], [], []
    for g0, g1 in zip(starts, stops):
        gx, gy = int(bx[order[g0]]), int(by[order[g0]])
        rows = max(1, min(gy, _MAX_CANDIDATES // gx))  # a huge triangle is done a few rows at a time
        for r0 in range(0, gy, rows):
            dy = np.repeat(np.arange(r0, min(r0 + rows, gy), dtype=np.float32), gx)
            dx = np.tile(np.arange(gx, dtype=np.float32), len(dy) // gx)
            step = max(1, _MAX_CANDIDATES // len(dx))
            for c0 in range(g0, g1, step):
                f = order[c0:min(c0 + step, g1)]
                c1 = l1f[0, f, None] + l1f[1, f, None] * dx + l1f[2, f, None] * dy  # (faces, offsets)
                c2 = l2f[0, f, None] + l2f[1, f, None] * dx + l2f[2, f, None] * dy
                hit = (c1 >= -_EPS) & (c2 >= -_EPS) & (c1 + c2 <= 1.0 + _EPS)
                hit &= (dx < sx[f, None]) & (dy < sy[f, None])  # inside the face's own (clipped) box
                fi, oi = np.nonzero(hit)
                face, ox, oy = f[fi], dx[oi].astype(np.int64), dy[oi].astype(np.int64)
                pix.append(origin[face] + oy * w + ox)
                fid.append(face)
                zs.append(z[0, face] + z[1, face] * ox + z[2, face] * oy)
    pix, fid, zs = np.concatenate(pix), np.concatenate(fid), np.concatenate(zs)
    win = _resolve(pix, zs, h * w)
    pix, fid = pix[win], fid[win]
    # barycentric coordinates of the visible pixels only, in float64, clipped to the triangle
    rows, cols = np.divmod(pix - origin[fid], w)
    l1w = np.clip(l1[0, fid] + l1[1, fid] * cols + l1[2, fid] * rows, 0.0, 1.0)
    l2w = np.clip(l2[0, fid] + l2[1, fid] * cols + l2[2, fid] * rows, 0.0, 1.0 - l1w)
    return TriangleFragments(pix, keep[fid], np.stack([1.0 - l1w - l2w, l1w, l2w], axis=1))


def _size_ladder(largest: int) -> np.ndarray:
    """Box sizes 1, 2, 3, ... growing by about 1.25x, up to at least ``largest``."""
    sizes = [1]
    while sizes[-1] < largest:
        sizes.append(max(sizes[-1] + 1, int(np.ceil(sizes[-1] * 1.25))))
    return np.asarray(sizes, dtype=np.int64)


def rasterize_points(xy: np.ndarray, depth: np.ndarray, radius: float, depth_per_pixel: float,
                     size: tuple[int, int]) -> PointFragments:
    """Fragments of points drawn as shaded discs (sphere impostors) of ``radius`` pixels.

    ``depth_per_pixel`` converts a pixel distance into depth units, so that overlapping
    splats meet like spheres would."""
    h, w = size
    xy = np.asarray(xy, dtype=np.float64)
    depth = np.asarray(depth, dtype=np.float64)
    radius = max(float(radius), 0.5)
    r = int(np.ceil(radius))
    oy, ox = np.mgrid[-r:r + 1, -r:r + 1]
    ox, oy = ox.ravel(), oy.ravel()
    base = np.floor(xy).astype(np.int64)
    px = (base[:, 0:1] + ox).ravel()
    py = (base[:, 1:2] + oy).ravel()
    point = np.repeat(np.arange(len(xy)), len(ox))
    nx = (px + 0.5 - xy[point, 0]) / radius
    ny = (py + 0.5 - xy[point, 1]) / radius
    d2 = nx * nx + ny * ny
    ok = (d2 <= 1.0) & (px >= 0) & (px < w) & (py >= 0) & (py < h)
    px, py, point, nx, ny, d2 = px[ok], py[ok], point[ok], nx[ok], ny[ok], d2[ok]
    nz = np.sqrt(1.0 - d2)
    z = depth[point] + nz * radius * depth_per_pixel
    pix = py * w + px
    win = _resolve(pix, z, h * w)
    normal = np.stack([nx[win], -ny[win], nz[win]], axis=1)  # image y points down, camera y up
    return PointFragments(pix[win], point[win], normal)


def lambert(normals: np.ndarray, light=(0.35, 0.45, 1.0), ambient: float = 0.3) -> np.ndarray:
    """Two-sided Lambert intensity in [ambient, 1] of unit ``normals (k, 3)`` in the camera
    frame, for a light from direction ``light`` (camera frame; the default is above right of
    the camera)."""
    l_dir = np.asarray(light, dtype=np.float64)
    l_dir = l_dir / np.linalg.norm(l_dir)
    return ambient + (1.0 - ambient) * np.abs(normals @ l_dir)


TEXTURE_OUTSIDE = ("repeat", "clamp")


def sample_texture(image: np.ndarray, uv: np.ndarray, outside: str = "repeat") -> np.ndarray:
    """Bilinear lookup of ``image (H, W)`` or ``(H, W, C)`` at texture coordinates ``uv (k, 2)``,
    with OpenGL's conventions: ``(0, 0)`` is the bottom-left corner of the image, texel ``(row r,
    column c)`` has its centre at ``((c + 0.5) / W, 1 - (r + 0.5) / H)``. Coordinates outside
    [0, 1] ``"repeat"`` the texture (a lookup near an edge blends with the opposite edge, as
    ``GL_REPEAT``) or ``"clamp"`` to the border texels (``GL_CLAMP_TO_EDGE``). Returns ``(k, 3)``
    float64 in the image's value range (a grey image gives three equal channels)."""
    if outside not in TEXTURE_OUTSIDE:
        raise ValueError(f"outside must be one of {TEXTURE_OUTSIDE}, got {outside!r}")
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[:, :, None]
    img = np.repeat(img[..., :1], 3, axis=2) if img.shape[2] < 3 else img[..., :3]  # grey (+ alpha)
    img = img.astype(np.float64)
    th, tw = img.shape[:2]
    uv = np.asarray(uv, dtype=np.float64)
    u = uv[:, 0] * tw - 0.5
    v = (1.0 - uv[:, 1]) * th - 0.5
    x0, y0 = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
    fx, fy = (u - x0)[:, None], (v - y0)[:, None]
    if outside == "repeat":
        x0c, x1c, y0c, y1c = x0 % tw, (x0 + 1) % tw, y0 % th, (y0 + 1) % th
    else:
        x0c, x1c = np.clip(x0, 0, tw - 1), np.clip(x0 + 1, 0, tw - 1)
        y0c, y1c = np.clip(y0, 0, th - 1), np.clip(y0 + 1, 0, th - 1)
    top = img[y0c, x0c] * (1 - fx) + img[y0c, x1c] * fx
    bottom = img[y1c, x0c] * (1 - fx) + img[y1c, x1c] * fx
    return top * (1 - fy) + bottom * fy
