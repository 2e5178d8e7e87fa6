"""Ground-truth pictures of a coloured mesh through a pinhole :class:`~.camera.Camera`: what splats
are fitted to and compared with.

Unlit (the colour is the surface's own: splats carry appearance, not lighting), perspective-correct
barycentrics, anti-aliased by supersampling. The triangles are resolved by the NumPy rasterizer
of :mod:`shapecorr.core.raster`.

An *appearance* gives the colour at surface points named by ``(face, barycentric)`` on the rest
mesh, so it follows any deformation of the mesh: :class:`TextureAppearance` samples a UV
texture image, :class:`SolidAppearance` evaluates a smooth colour pattern of the rest-pose
position (for meshes without a texture).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import TextureError
from ..core.raster import rasterize_triangles, sample_texture
from .camera import Camera


@dataclass(frozen=True)
class TextureAppearance:
    """A UV texture: ``uv (k, 2)``, ``face_uv (m, 3)`` (or None: per-vertex UVs) and ``image (H, W, 3)``."""

    uv: np.ndarray
    face_uv: np.ndarray | None
    faces: np.ndarray
    image: np.ndarray

    def colors(self, face: np.ndarray, bary: np.ndarray) -> np.ndarray:
        corners = (self.faces if self.face_uv is None else self.face_uv)[face]
        uv = np.einsum("ki,kij->kj", bary, self.uv[corners])
        return sample_texture(self.image, uv) / 255.0


@dataclass(frozen=True)
class SolidAppearance:
    """A solid colour pattern of the rest-pose position (sums of sinusoids, ``periods`` across
    the bounding-box diagonal): a stand-in texture for meshes that have none."""

    rest_vertices: np.ndarray
    faces: np.ndarray
    periods: float = 6.0
    seed: int = 0

    def colors(self, face: np.ndarray, bary: np.ndarray) -> np.ndarray:
        v = np.asarray(self.rest_vertices, dtype=np.float64)
        lo, hi = v.min(0), v.max(0)
        p = (np.einsum("ki,kij->kj", bary, v[self.faces[face]]) - lo) / (np.linalg.norm(hi - lo) or 1.0)
        rng = np.random.default_rng(self.seed)
        dirs = rng.normal(size=(3, 2, 3))
        dirs /= np.linalg.norm(dirs, axis=2, keepdims=True)
        phase = rng.uniform(0, 2 * np.pi, size=(3, 2))
        w = 2 * np.pi * self.periods
        out = [0.5 + 0.25 * np.sin(w * p @ dirs[c, 0] + phase[c, 0]) + 0.2 * np.sin(0.5 * w * p @ dirs[c, 1]
                                                                                   + phase[c, 1]) for c in range(3)]
        return np.clip(np.stack(out, 1), 0.0, 1.0)


def appearance_of(shape, *, seed: int = 0):
    """The appearance of a loaded :class:`~shapecorr.core.Shape`: its UV texture when it has one,
    else a :class:`SolidAppearance` (with a note that the colours are synthetic)."""
    from pathlib import Path

    if shape.has_uv and shape.texture is not None and Path(shape.texture).exists():
        from PIL import Image

        try:
            with Image.open(shape.texture) as img:
                image = np.asarray(img.convert("RGB"))
        except OSError as exc:
            raise TextureError(f"{shape.texture}: cannot read the texture image ({exc}).") from exc
        face_uv = None if shape.face_uv is None else np.asarray(shape.face_uv, dtype=np.int64)
        return TextureAppearance(np.asarray(shape.uv, dtype=np.float64), face_uv,
                                 np.asarray(shape.faces, dtype=np.int64), image)
    return SolidAppearance(np.asarray(shape.vertices, dtype=np.float64), np.asarray(shape.faces, dtype=np.int64),
                           seed=seed)


def render_mesh(vertices: np.ndarray, faces: np.ndarray, appearance, camera: Camera, *, supersample: int = 2,
                background=(0.0, 0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """Picture ``(h, w, 3)`` float in [0, 1] and coverage ``(h, w)`` of the mesh (``vertices`` may
    be a deformed pose of the rest mesh the appearance is defined on)."""
    s = int(supersample)
    K = camera.K.copy()
    K[:2] *= s
    big = Camera(camera.viewmat, K, camera.width * s, camera.height * s)
    xy, z = big.project(vertices)
    if (z <= 1e-6).any():
        raise ValueError("render_mesh: part of the mesh is behind the camera; move the camera back.")
    h, w = big.height, big.width
    frag = rasterize_triangles(xy, -z, np.asarray(faces, dtype=np.int64), (h, w))
    # perspective-correct barycentrics: screen weights divided by depth, renormalised
    inv_z = 1.0 / z[np.asarray(faces)[frag.face]]
    b = frag.bary * inv_z
    b /= b.sum(1, keepdims=True)
    image = np.tile(np.asarray(background, dtype=np.float64), (h * w, 1))
    cover = np.zeros(h * w)
    image[frag.pixel] = appearance.colors(frag.face, b)
    cover[frag.pixel] = 1.0
    image = image.reshape(camera.height, s, camera.width, s, 3).mean((1, 3))
    cover = cover.reshape(camera.height, s, camera.width, s).mean((1, 3))
    return image, cover


def sample_surface(vertices: np.ndarray, faces: np.ndarray, n: int, rng: np.random.Generator):
    """``n`` points spread over the surface: every face gets its share by area (stratified, at
    least the rounding of ``n * area / total``), placed at uniform random barycentrics.
    Returns ``(face (n,), bary (n, 3))``."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    area = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
    expected = n * area / area.sum()
    count = np.floor(expected).astype(np.int64)
    rest = n - int(count.sum())
    if rest > 0:  # the remaining points go to faces by their fractional share
        extra = rng.choice(len(f), size=rest, replace=False, p=(expected - count) / (expected - count).sum())
        count[extra] += 1
    face = np.repeat(np.arange(len(f)), count)
    r1, r2 = rng.random(len(face)), rng.random(len(face))
    s1 = np.sqrt(r1)
    bary = np.stack([1 - s1, s1 * (1 - r2), s1 * r2], axis=1)
    return face, bary
