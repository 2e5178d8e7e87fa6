"""Pinhole cameras with gsplat's conventions, and camera rigs around an object.

A camera is a world-to-camera matrix ``viewmat (4, 4)`` and intrinsics ``K (3, 3)`` for an image of
``width x height`` pixels, exactly as ``gsplat.rasterization`` takes them (OpenCV frame: ``x`` to
the right, ``y`` down, the camera looks along ``+z``; pixel ``(row, col)`` has its centre at
``(col + 0.5, row + 0.5)``). Both the CPU rasterizer and the ground-truth mesh renderer use it,
so a splat picture and the mesh picture it is compared with are seen by the same camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import SettingsError


@dataclass(frozen=True)
class Camera:
    """One pinhole camera: ``viewmat (4, 4)`` world-to-camera, ``K (3, 3)``, image size."""

    viewmat: np.ndarray
    K: np.ndarray
    width: int
    height: int

    def __post_init__(self):
        vm = np.asarray(self.viewmat, dtype=np.float64)
        K = np.asarray(self.K, dtype=np.float64)
        if vm.shape != (4, 4) or K.shape != (3, 3):
            raise SettingsError(f"Camera: viewmat must be (4, 4) and K (3, 3), got {vm.shape} and {K.shape}.")
        if int(self.width) < 1 or int(self.height) < 1:
            raise SettingsError(f"Camera: image size must be positive, got {self.width} x {self.height}.")
        object.__setattr__(self, "viewmat", vm)
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))

    @property
    def position(self) -> np.ndarray:
        """The camera centre in world coordinates."""
        R, t = self.viewmat[:3, :3], self.viewmat[:3, 3]
        return -R.T @ t

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel positions ``(n, 2)`` and camera depths ``z (n,)`` of world ``points (n, 3)``."""
        p = np.asarray(points, dtype=np.float64) @ self.viewmat[:3, :3].T + self.viewmat[:3, 3]
        z = p[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            xy = np.stack([self.K[0, 0] * p[:, 0] / z + self.K[0, 2], self.K[1, 1] * p[:, 1] / z + self.K[1, 2]], 1)
        return xy, z

    def moved(self, rotation: np.ndarray, translation: np.ndarray) -> Camera:
        """The camera that sees each point ``x`` where this one sees ``rotation @ x + translation``
        (moving the object rigidly in front of this camera = moving the camera the other way)."""
        M = np.eye(4)
        M[:3, :3], M[:3, 3] = rotation, translation
        return Camera(self.viewmat @ M, self.K, self.width, self.height)


def look_at(eye, target, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """World-to-camera ``viewmat (4, 4)`` of a camera at ``eye`` looking at ``target`` with image
    up close to ``up`` (OpenCV axes: the camera's ``y`` points down the image)."""
    eye, target, up = (np.asarray(a, dtype=np.float64) for a in (eye, target, up))
    forward = target - eye
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-9:  # looking along up: any right will do
        right = np.cross(forward, [1.0, 0.0, 0.0] if abs(forward[0]) < 0.9 else [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    R = np.stack([right, down, forward])
    vm = np.eye(4)
    vm[:3, :3], vm[:3, 3] = R, -R @ eye
    return vm


def intrinsics(width: int, height: int, fov_degrees: float = 40.0) -> np.ndarray:
    """``K (3, 3)`` of a square-pixel camera with the horizontal field of view ``fov_degrees``
    and the principal point at the image centre."""
    f = 0.5 * width / np.tan(0.5 * np.radians(fov_degrees))
    return np.array([[f, 0.0, 0.5 * width], [0.0, f, 0.5 * height], [0.0, 0.0, 1.0]])


def fibonacci_directions(n: int, offset: float = 0.0) -> np.ndarray:
    """``n`` unit vectors spread evenly over the sphere (a Fibonacci spiral); ``offset`` in
    [0, 1) turns the spiral, giving a second set of directions between the first."""
    i = np.arange(n) + 0.5
    y = 1.0 - 2.0 * i / n
    r = np.sqrt(np.maximum(0.0, 1.0 - y * y))
    phi = np.pi * (3.0 - np.sqrt(5.0)) * i + 2.0 * np.pi * offset
    return np.stack([r * np.cos(phi), y, r * np.sin(phi)], axis=1)


def orbit_cameras(vertices: np.ndarray, n: int, *, size: int = 256, fov_degrees: float = 40.0,
                  offset: float = 0.0, margin: float = 1.1, up=(0.0, 1.0, 0.0)) -> list[Camera]:
    """``n`` cameras on a sphere around ``vertices`` looking at their bounding-box centre, far
    enough that the whole object fits in a ``size x size`` image (``margin`` > 1 leaves a border;
    ``margin`` < 1 comes closer and sees the middle of the object larger, never closer than the
    bounding sphere). ``offset`` turns the spiral: ``offset=0.5`` gives held-out views between the
    training ones."""
    if n < 1 or size < 8:
        raise SettingsError(f"orbit_cameras: need n >= 1 and size >= 8, got n={n}, size={size}.")
    v = np.asarray(vertices, dtype=np.float64)
    lo, hi = v.min(0), v.max(0)
    centre, radius = 0.5 * (lo + hi), 0.5 * float(np.linalg.norm(hi - lo)) or 1.0
    distance = max(margin * radius / np.sin(0.5 * np.radians(fov_degrees)), 1.2 * radius)
    K = intrinsics(size, size, fov_degrees)
    return [Camera(look_at(centre + distance * d, centre, up), K, size, size)
            for d in fibonacci_directions(n, offset)]
