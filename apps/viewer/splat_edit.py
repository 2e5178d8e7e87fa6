"""What the splat view shows, without Qt: mesh-bound splats, the ARAP edit that drives their
mesh, and pictures of them from the viewer's camera.

:class:`SplatEditor` keeps the binding (``shapecorr.splat``) and edits the mesh's pose with
the handles of :class:`apps.viewer.mesh_edit.MeshEditor` (fixed regions, a grabbed region that
follows a drag, ARAP factored once per grab and re-solved per drag step). The splats follow the
pose through the binding (:meth:`shapecorr.splat.SplatBinding.follow`) and are drawn by
:func:`shapecorr.splat.render_gaussians` (our CPU rasterizer, or gsplat with ``device="cuda"``).

:func:`camera_from_view` turns a VTK-style camera (position, focal point, view up, vertical
view angle) into the splat camera, so the splat picture is seen exactly as the mesh view is.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from shapecorr.splat import Camera, SplatBinding, look_at, render_gaussians

from .mesh_edit import DRAG_ITERATIONS, GRAB_RADIUS, RELEASE_ITERATIONS, MeshEditor

__all__ = ["DRAG_ITERATIONS", "GRAB_RADIUS", "RELEASE_ITERATIONS", "SplatEditor", "SplatPicture",
           "alpha_centroid", "camera_from_view", "picture_size", "torch_device"]


class SplatPicture(NamedTuple):
    """One rendered picture: ``image (h, w, 3)`` in [0, 1], ``alpha (h, w)``, whether it is the
    low-resolution preview, and the pose it shows."""

    image: np.ndarray
    alpha: np.ndarray
    preview: bool
    vertices: np.ndarray


def camera_from_view(position, focal_point, view_up, view_angle: float, width: int, height: int) -> Camera:
    """The splat :class:`~shapecorr.splat.Camera` of a VTK camera (``view_angle``: the vertical
    field of view in degrees, VTK's default) for a ``width x height`` picture."""
    if width < 1 or height < 1:
        raise ValueError(f"picture size must be positive, got {width} x {height}")
    if not 0 < view_angle < 180:
        raise ValueError(f"view angle must be in (0, 180) degrees, got {view_angle}")
    f = 0.5 * height / np.tan(0.5 * np.radians(view_angle))
    K = np.array([[f, 0.0, 0.5 * width], [0.0, f, 0.5 * height], [0.0, 0.0, 1.0]])
    return Camera(look_at(position, focal_point, view_up), K, int(width), int(height))


def picture_size(aspect: float, long_side: int) -> tuple[int, int]:
    """``(width, height)`` of a picture with ``width / height = aspect`` and the longer side ``long_side``."""
    if aspect >= 1:
        return int(long_side), max(1, round(long_side / aspect))
    return max(1, round(long_side * aspect)), int(long_side)


class SplatEditor(MeshEditor):
    """Splats bound to a mesh, edited by ARAP handles (:class:`~apps.viewer.mesh_edit.MeshEditor`).

    ``binding``: a :class:`shapecorr.splat.SplatBinding`; ``vertices``: the starting pose
    (default: the binding's own pose). ``device``: where the splats are drawn.
    """

    def __init__(self, binding: SplatBinding, vertices=None, *, device: str = "cpu",
                 background=(0.0, 0.0, 0.0), grab_radius: float = GRAB_RADIUS):
        self.binding = binding
        self.device = device
        self.background = tuple(float(c) for c in background)
        self.rest = np.asarray(binding.rest_vertices, dtype=np.float64)
        pose = binding.vertices if vertices is None else binding.posed(vertices).vertices
        super().__init__(pose, binding.faces, grab_radius=grab_radius, size_of=self.rest, device=device)

    def set_pose(self, vertices) -> None:
        """Show the mesh at ``vertices`` (same vertex order), e.g. from a script."""
        super().set_pose(self.binding.posed(vertices).vertices)

    # ------------------------------------------------------------------ pictures
    def render(self, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
        """Picture ``(h, w, 3)`` and alpha ``(h, w)`` of the splats in the current pose."""
        g = self.binding.follow(self.vertices, quats=torch_device(self.device) != "cpu")
        return render_gaussians(g, camera, sh_degree=self.binding.sh_degree, background=self.background,
                                device=self.device, mode=self.binding.rasterize_mode, eps2d=self.binding.eps2d)


def torch_device(device: str) -> str:
    """The kind of a torch device name ('cpu', 'cuda')."""
    import torch

    return torch.device(device).type


def alpha_centroid(alpha: np.ndarray) -> np.ndarray:
    """The alpha-weighted centre ``(x, y)`` of a picture, in pixels (column, row; pixel centres at +0.5)."""
    a = np.asarray(alpha, dtype=np.float64)
    total = a.sum()
    if total <= 0:
        raise ValueError("the picture is empty (alpha is zero everywhere)")
    rows, cols = np.indices(a.shape)
    return np.array([((cols + 0.5) * a).sum() / total, ((rows + 0.5) * a).sum() / total])
