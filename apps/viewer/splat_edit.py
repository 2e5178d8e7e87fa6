"""What the splat view shows, without Qt: mesh-bound splats, the ARAP edit that drives their
mesh, and pictures of them from the viewer's camera.

:class:`SplatEditor` keeps the binding (``shapecorr.splat``), the mesh's current pose and the
edit's handles (regions of vertices picked on the mesh): *fixed* regions stay where they were
put, the *grabbed* region follows a drag, earlier grabs keep their dragged positions. Each grab
factors one :class:`shapecorr.deform.ArapDeformer` on the pose the edit started from (the
binding's pose, or the one shown when the handles were last cleared); each drag step re-solves it
warm-started (a few iterations), the release solves it to convergence. The splats follow the
pose through the binding (:meth:`shapecorr.splat.SplatBinding.follow`) and are drawn by
:func:`shapecorr.splat.render_gaussians` (our CPU rasterizer, or gsplat with ``device="cuda"``).

:func:`camera_from_view` turns a VTK-style camera (position, focal point, view up, vertical
view angle) into the splat camera, so the splat picture is seen exactly as the mesh view is.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from shapecorr.core import ShapecorrError
from shapecorr.deform import ArapDeformer, ArapSettings
from shapecorr.splat import Camera, SplatBinding, look_at, render_gaussians

GRAB_RADIUS = 0.08  # handle regions: vertices within this fraction of the bounding-box diagonal
DRAG_ITERATIONS = 3  # ARAP iterations per drag step (warm-started)
RELEASE_ITERATIONS = 20  # and when the drag ends


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


class SplatEditor:
    """Splats bound to a mesh, edited by ARAP handles.

    ``binding``: a :class:`shapecorr.splat.SplatBinding`; ``vertices``: the starting pose
    (default: the binding's own pose). ``device``: where the splats are drawn.
    """

    def __init__(self, binding: SplatBinding, vertices=None, *, device: str = "cpu",
                 background=(0.0, 0.0, 0.0), grab_radius: float = GRAB_RADIUS):
        self.binding = binding
        self.device = device
        self.background = tuple(float(c) for c in background)
        self.rest = np.asarray(binding.rest_vertices, dtype=np.float64)
        self.faces = np.asarray(binding.faces, dtype=np.int64)
        self.vertices = np.array(binding.vertices if vertices is None else binding.posed(vertices).vertices,
                                 dtype=np.float64)
        self._arap_rest = self.vertices.copy()  # what the edit starts from (the pose when handles were cleared)
        lo, hi = self.rest.min(0), self.rest.max(0)
        self.radius = float(grab_radius) * (float(np.linalg.norm(hi - lo)) or 1.0)
        self.fixed = np.zeros(0, dtype=np.int64)  # vertices held where they are
        self.pinned: dict[int, np.ndarray] = {}  # earlier grabs: vertex -> its dragged position
        self.grabbed = np.zeros(0, dtype=np.int64)
        self._start = np.zeros((0, 3))  # the grabbed vertices' positions when grabbed
        self._deformer: ArapDeformer | None = None
        self._others = np.zeros(0, dtype=np.int64)  # pinned vertices other than the grabbed ones

    # ------------------------------------------------------------------ handles
    @property
    def dragging(self) -> bool:
        return len(self.grabbed) > 0

    def region(self, vertex: int) -> np.ndarray:
        """The vertices within the grab radius of ``vertex`` (in the current pose)."""
        vertex = int(vertex)
        if not 0 <= vertex < len(self.vertices):
            raise ValueError(f"vertex {vertex} out of range (the mesh has {len(self.vertices)} vertices)")
        d = np.linalg.norm(self.vertices - self.vertices[vertex], axis=1)
        return np.flatnonzero(d <= self.radius)

    def fix(self, vertex: int) -> np.ndarray:
        """Hold the region around ``vertex`` where it is now; returns its vertices."""
        ids = self.region(vertex)
        self.fixed = np.union1d(self.fixed, ids)
        for i in ids:
            self.pinned[int(i)] = self.vertices[i].copy()
        return ids

    def clear_handles(self) -> None:
        """Forget every handle (the pose stays)."""
        self.fixed = np.zeros(0, dtype=np.int64)
        self.pinned.clear()
        self.end_drag(solve=False)
        self._arap_rest = self.vertices.copy()

    def grab(self, vertex: int) -> np.ndarray:
        """Start dragging the region around ``vertex``; the system is factored here. Returns the
        grabbed vertices."""
        ids = self.region(vertex)
        ids = ids[~np.isin(ids, self.fixed)] if len(self.fixed) else ids
        if len(ids) == 0:
            raise ValueError(f"vertex {vertex} is in a fixed region; grab elsewhere or clear the handles")
        others = np.array(sorted(set(self.pinned) - set(ids.tolist())), dtype=np.int64)
        # every handle is a "moved" vertex of the deformer (at its current position): fixed
        # regions of an edited pose are not at rest
        self._deformer = ArapDeformer(self._arap_rest, self.faces, moved_ids=np.concatenate([others, ids]),
                                      settings=ArapSettings(iterations=RELEASE_ITERATIONS))
        self._others = others
        self.grabbed, self._start = ids, self.vertices[ids].copy()
        self._solve(np.zeros(3), RELEASE_ITERATIONS, warm=False)  # the current pose, as a solution to warm-start from
        return ids

    def drag(self, offset, *, iterations: int = DRAG_ITERATIONS) -> np.ndarray:
        """Move the grabbed region by ``offset (3,)`` from where it was grabbed; returns the pose."""
        if not self.dragging:
            raise ValueError("nothing grabbed: grab a vertex first")
        offset = np.asarray(offset, dtype=np.float64).reshape(3)
        if not np.isfinite(offset).all():
            raise ValueError("the drag offset contains NaN or infinite values")
        self._solve(offset, iterations, warm=True)
        return self.vertices

    def end_drag(self, offset=None, *, solve: bool = True) -> None:
        """End the drag (``offset``: the last one; default: where it is); solve to convergence
        and keep the grabbed region pinned where it was left."""
        if self.dragging and solve:
            if offset is None:
                offset = self.vertices[self.grabbed[0]] - self._start[0]
            self._solve(np.asarray(offset, dtype=np.float64).reshape(3), RELEASE_ITERATIONS, warm=True)
        for i in self.grabbed:
            self.pinned[int(i)] = self.vertices[i].copy()
        self.grabbed, self._start = np.zeros(0, dtype=np.int64), np.zeros((0, 3))
        self._deformer = None

    def set_pose(self, vertices) -> None:
        """Show the mesh at ``vertices`` (same vertex order), e.g. from a script."""
        self.vertices = np.array(self.binding.posed(vertices).vertices, dtype=np.float64)
        self.clear_handles()

    def _solve(self, offset: np.ndarray, iterations: int, warm: bool) -> None:
        targets = np.concatenate([np.array([self.pinned[int(i)] for i in self._others]).reshape(-1, 3),
                                  self._start + offset])
        res = self._deformer.solve(targets, iterations=iterations, warm_start=warm)
        if not np.isfinite(res.vertices).all():
            raise ShapecorrError("the ARAP solve produced non-finite positions")
        self.vertices = res.vertices

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
