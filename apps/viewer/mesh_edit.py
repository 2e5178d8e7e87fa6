"""ARAP editing by handles, without Qt: the part of the viewer's edit modes that moves vertices.

:class:`MeshEditor` keeps a shape's current pose and the edit's handles (regions of vertices
picked on it): *fixed* regions stay where they were put, the *grabbed* region follows a drag,
earlier grabs keep their dragged positions. Each grab factors one
:class:`shapecorr.deform.ArapDeformer` on the pose the edit started from (the first pose, or
the one shown when the handles were last cleared); each drag step re-solves it warm-started (a
few iterations), the release solves it to convergence. Meshes use their triangles, point clouds
a nearest-neighbour graph (as :class:`~shapecorr.deform.ArapDeformer` does).

The splat view (:mod:`apps.viewer.splat_edit`) and the main window's edit mode both use it.
"""

from __future__ import annotations

import numpy as np

from shapecorr.core import ShapecorrError
from shapecorr.deform import ArapDeformer, ArapSettings
from shapecorr.deform.morphing import END_METHOD

GRAB_RADIUS = 0.08  # handle regions: vertices within this fraction of the bounding-box diagonal
DRAG_ITERATIONS = 3  # ARAP iterations per drag step (warm-started)
RELEASE_ITERATIONS = 20  # and when the drag ends


class MeshEditor:
    """A shape's pose, edited by ARAP handles.

    ``vertices``: the starting pose ``(n, 3)``; ``faces``: its triangles, or ``None`` for a point
    cloud; ``size_of``: the points whose bounding-box diagonal sets the grab radius (default:
    ``vertices``), e.g. a rest pose, so the radius does not change with the edit; ``device``:
    where the ARAP iterations run (``"cuda"`` pays from ~100k vertices).
    """

    def __init__(self, vertices, faces=None, *, grab_radius: float = GRAB_RADIUS, size_of=None, device: str = "cpu"):
        self.arap_device = device
        self.vertices = np.array(vertices, dtype=np.float64)
        if self.vertices.ndim != 2 or self.vertices.shape[1] != 3 or len(self.vertices) == 0:
            raise ValueError(f"vertices must be a non-empty (n, 3) array, got shape {self.vertices.shape}")
        self.faces = None if faces is None or len(faces) == 0 else np.asarray(faces, dtype=np.int64)
        ref = self.vertices if size_of is None else np.asarray(size_of, dtype=np.float64)
        lo, hi = ref.min(0), ref.max(0)
        self.radius = float(grab_radius) * (float(np.linalg.norm(hi - lo)) or 1.0)
        self._arap_rest = self.vertices.copy()  # what the edit starts from (the pose when handles were cleared)
        self.fixed = np.zeros(0, dtype=np.int64)  # vertices held where they are
        self.pinned: dict[int, np.ndarray] = {}  # fixed and earlier grabs: vertex -> its position
        self.grabbed = np.zeros(0, dtype=np.int64)
        self._start = np.zeros((0, 3))  # the grabbed vertices' positions when grabbed
        self._deformer: ArapDeformer | None = None
        self._others = np.zeros(0, dtype=np.int64)  # pinned vertices other than the grabbed ones

    @property
    def dragging(self) -> bool:
        return len(self.grabbed) > 0

    @property
    def n_dragged(self) -> int:
        """Vertices held at a dragged position (pinned, not fixed)."""
        return len(self.pinned) - len(self.fixed)

    def region(self, vertex: int) -> np.ndarray:
        """The vertices within the grab radius of ``vertex`` (in the current pose)."""
        vertex = int(vertex)
        if not 0 <= vertex < len(self.vertices):
            raise ValueError(f"vertex {vertex} out of range (the shape has {len(self.vertices)} vertices)")
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
                                      settings=ArapSettings(iterations=RELEASE_ITERATIONS), device=self.arap_device)
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
        """Show the shape at ``vertices`` (same vertex order); the handles are cleared."""
        v = np.array(vertices, dtype=np.float64)
        if v.shape != self.vertices.shape:
            raise ValueError(f"a pose of {v.shape} for a shape of {self.vertices.shape}")
        self.vertices = v
        self.clear_handles()

    def _solve(self, offset: np.ndarray, iterations: int, warm: bool) -> None:
        targets = np.concatenate([np.array([self.pinned[int(i)] for i in self._others]).reshape(-1, 3),
                                  self._start + offset])
        res = self._deformer.solve(targets, iterations=iterations, warm_start=warm)
        if not np.isfinite(res.vertices).all():
            raise ShapecorrError("the ARAP solve produced non-finite positions")
        self.vertices = res.vertices


#: how an edit is carried to the other shape: the points of the registration, as
#: ``shapecorr transfer --what deformation`` does by default (limbs stay whole under a pose change)
CARRY_METHOD = "register"
#: and how the morph finds where the source's vertices land: ``shapecorr morph``'s default
MORPH_METHOD = END_METHOD


class EditCarrier:
    """Carries an edit of one side of a match to the other (deformation transfer,
    :class:`shapecorr.deform.TransferPlan`). The plan of each direction (its surface points, face
    map and factored Poisson system) is made once, the first carry in a direction is the slow one;
    each later carry is one set of gradients and one back-substitution, fast enough to follow a
    drag.

    ``match``: source -> target; ``side``: the side that was edited (``"source"`` or ``"target"``;
    the target's edit goes through the reversed match).
    """

    def __init__(self, match, source, target, *, method: str = CARRY_METHOD, device: str = "cpu"):
        for shape, what in ((source, "source"), (target, "target")):
            if not getattr(shape, "is_mesh", False):
                raise ValueError(f"{shape.name}: the {what} is a point cloud; carrying an edit needs two meshes "
                                 "(deformation gradients live on triangles).")
        self.match, self.shapes = match, {"source": source, "target": target}
        self.method, self.device = method, device
        self._matches = {"source": match}
        self._plans: dict[str, object] = {}

    def _match_from(self, side: str):
        if side not in self._matches:
            from shapecorr.deform.morphing import reversed_match

            self._matches[side] = reversed_match(self.match, self.shapes["source"], self.shapes["target"],
                                                 device=self.device)
        return self._matches[side]

    def ready(self, side: str) -> bool:
        """Whether the plan of edits of ``side`` is made (a carry is then fast)."""
        return side in self._plans

    def plan(self, side: str, progress=None):
        """The :class:`shapecorr.deform.TransferPlan` from ``side`` to the other (made once)."""
        if side not in ("source", "target"):
            raise ValueError(f"side must be 'source' or 'target', not {side!r}")
        if side not in self._plans:
            from shapecorr.deform import TransferPlan
            from shapecorr.deform.precise import precise_map

            a, b, m = self.shapes[side], self.shapes[_other(side)], self._match_from(side)
            kw = {"progress": progress} if self.method == "register" and progress is not None else {}
            smap = precise_map(m, a, b, method=self.method, device=self.device, **kw)
            self._plans[side] = TransferPlan(a, b, m, surface_map=smap, device=self.device)
        return self._plans[side]

    def carry(self, side: str, edited, progress=None) -> np.ndarray:
        """The other side's vertices after ``side`` moved to ``edited (n, 3)``."""
        return self.plan(side, progress).apply(edited)


def morph_of(match, source, target, *, device: str = "cpu"):
    """The :class:`shapecorr.deform.Morph` from the source to where the match puts its vertices
    on the target (``MORPH_METHOD`` points on a target mesh, the vertex map on a point cloud)."""
    from shapecorr.deform import Morph, end_positions

    if not getattr(source, "is_mesh", False):
        raise ValueError(f"{source.name}: the source is a point cloud; a morph is drawn with the source's "
                         "triangles, so the source must be a mesh.")
    method = MORPH_METHOD if target.is_mesh else "vertex"
    end = end_positions(source, target, match, method=method, device=device)
    return Morph(source.vertices, source.faces, end)


def _other(side: str) -> str:
    return "target" if side == "source" else "source"
