"""A coarse stand-in for a large mesh: the *proxy*, and where each full vertex lies on it.

Matching works on the proxy (a few thousand vertices, so the eigenbasis and the functional-map
steps stay cheap) and the result is lifted back to every vertex of the full mesh
(:mod:`shapecorr.fmap.lift`). For that, every full-resolution vertex is projected onto the proxy
surface and kept as ``(proxy face, barycentric weights)``: anything defined per proxy vertex
(eigenfunctions, a map) is then carried to the full mesh by barycentric interpolation.

The proxy is built by quadric edge-collapse decimation (``fast_simplification``, the decimator
pyvista uses: igea, 134k -> 8k vertices, in 0.8 s here, against 4 s for VTK's and 8 s for MeshLab's
quadric decimation and 13 s for MeshLab's isotropic remeshing, all on the same loaded 2-core machine). The full shape's vertices are
never changed or renumbered; the proxy is a new mesh with its own numbering.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np

from .errors import SettingsError, ShapeError
from .shape import Shape

log = logging.getLogger(__name__)


class Proxy(NamedTuple):
    """A coarse mesh standing in for a full one.

    Full vertex ``i`` lies (after projection) at ``sum_c bary[i, c] * proxy_vertices[proxy_faces[face[i], c]]``.
    """

    shape: Shape  # the proxy mesh, in the full shape's coordinates
    face: np.ndarray  # (n_full,) int64: proxy face holding each full vertex's projection
    bary: np.ndarray  # (n_full, 3) float64: barycentric weights in that face (>= 0, sum 1)
    distance: np.ndarray  # (n_full,) float64: distance from each full vertex to its projection
    # a point cloud's reconstructed surface: the normals it came from ("file" or "estimated"); None for a mesh's
    normals: str | None = None

    @property
    def n_full(self) -> int:
        return len(self.face)

    def interpolate(self, values: np.ndarray) -> np.ndarray:
        """Per-proxy-vertex ``values (n_proxy, ...)`` carried to the full vertices ``(n_full, ...)``."""
        return barycentric_interpolate(values, self.shape.faces, self.face, self.bary)

    def anchor(self) -> np.ndarray:
        """``(n_full,)``: the proxy vertex nearest each full vertex's projection (its largest weight)."""
        corner = self.bary.argmax(axis=1)
        return self.shape.faces[self.face, corner]


def barycentric_interpolate(values: np.ndarray, faces: np.ndarray, face: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """``sum_c bary[:, c] * values[faces[face, c]]`` for per-vertex ``values (n,)`` or ``(n, d)``."""
    return interpolation_matrix(faces, face, bary, len(values)) @ np.asarray(values)


def interpolation_matrix(faces: np.ndarray, face: np.ndarray, bary: np.ndarray, n_vertices: int):
    """Sparse ``(len(face), n_vertices)`` matrix of the barycentric weights (three per row)."""
    import scipy.sparse as sp

    rows = np.repeat(np.arange(len(face)), 3)
    return sp.csr_matrix((np.asarray(bary, dtype=np.float64).ravel(), (rows, faces[face].ravel())),
                         shape=(len(face), n_vertices))


def make_proxy(shape: Shape, n_target: int = 10000, *, aggressiveness: float = 7.0) -> Proxy:
    """Decimate ``shape`` (a mesh) to about ``n_target`` vertices and project every vertex on it.

    Quadric edge collapse (``fast_simplification``) keeps the shape's geometry with few vertices;
    its degenerate faces and unused vertices are then removed. Every full vertex, including
    vertices used by no face, is projected onto the proxy surface (:func:`project_on_mesh`,
    preferring faces whose normal agrees with the vertex normal, so that the two sides of a thin
    part are not confused). A shape of at most ``n_target`` vertices is its own proxy (each
    vertex located on one of its faces), so that a pair of a large and a small shape goes through
    the same steps. Raises :class:`ShapeError` for point clouds.
    """
    if not shape.is_mesh:
        raise ShapeError(f"{shape.name}: a proxy needs a mesh (faces); this is a point cloud. Match "
                         "point clouds at full resolution.", shape.path)
    if n_target < 4:
        raise SettingsError(f"proxy size {n_target} is too small; use a few thousand vertices (e.g. 10000).")
    if shape.n_vertices <= n_target:
        proxy = shape
    else:
        # coherent winding: the decimator's quadrics and flip checks follow the faces' normals
        vertices, faces = decimate(shape.vertices, shape.outward_faces, n_target, aggressiveness=aggressiveness)
        proxy = Shape(vertices, faces, name=f"{shape.name}-proxy")
    normals = shape.outward_vertex_normals
    face, bary, dist = project_on_mesh(shape.vertices, proxy.vertices, proxy.faces, point_normals=normals)
    log.info("%s: proxy of %d vertices (from %d); projection distance median %.3g, max %.3g",
             shape.name, proxy.n_vertices, shape.n_vertices, float(np.median(dist)), float(dist.max()))
    return Proxy(proxy, face, bary, dist)


def decimate(vertices: np.ndarray, faces: np.ndarray, n_target: int, *,
             aggressiveness: float = 7.0) -> tuple[np.ndarray, np.ndarray]:
    """Quadric decimation to about ``n_target`` vertices; returns a clean ``(vertices, faces)``
    (no repeated-vertex or zero-area faces, no unused vertices)."""
    import fast_simplification

    faces = np.asarray(faces)
    n_used = int(np.count_nonzero(np.bincount(faces.ravel(), minlength=len(vertices))))
    # the decimator counts triangles: a closed mesh has about two per vertex, open meshes fewer
    per_vertex = len(faces) / max(n_used, 1)
    target_faces = max(4, round(per_vertex * n_target))
    # (np.array copies: the decimator needs writable arrays)
    v, f = fast_simplification.simplify(np.array(vertices, dtype=np.float64), faces.astype(np.int32),
                                        target_count=target_faces, agg=aggressiveness)
    return clean_mesh(np.asarray(v, dtype=np.float64), np.asarray(f, dtype=np.int64))


def clean_mesh(vertices: np.ndarray, faces: np.ndarray, rel_tol: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    """Drop faces with a repeated vertex or (numerically) zero area, then unused vertices
    (renumbering what is left, in order). For meshes we made ourselves, never a user's."""
    f = np.asarray(faces, dtype=np.int64)
    v = np.asarray(vertices, dtype=np.float64)
    repeated = (f[:, 0] == f[:, 1]) | (f[:, 1] == f[:, 2]) | (f[:, 0] == f[:, 2])
    area2 = np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
    scale = max(float(np.ptp(v, axis=0).max()) ** 2, np.finfo(float).tiny)
    f = f[~repeated & (area2 > rel_tol * scale)]
    if len(f) == 0:
        raise ShapeError("decimation left no usable face; the mesh is too small or degenerate for a proxy.")
    used = np.flatnonzero(np.bincount(f.ravel(), minlength=len(v)))
    new_index = np.full(len(v), -1, dtype=np.int64)
    new_index[used] = np.arange(len(used))
    return v[used], new_index[f]


def project_on_mesh(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray, *,
                    point_normals: np.ndarray | None = None, n_nearest: int = 4,
                    block: int = 16384) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closest point on the mesh ``(vertices, faces)`` to each of ``points (q, 3)``.

    Candidates are the faces around the ``n_nearest`` mesh vertices nearest each point (exact
    whenever the closest point lies there, as it does for points on or near a reasonably sampled
    surface, e.g. the vertices of the mesh a proxy was decimated from). With ``point_normals``
    (normals of the points), faces whose normal points against the point's normal are used only
    when no candidate agrees: on a thin part (an ear, a finger) the nearest face may belong to
    the other side.

    Returns ``(face (q,), bary (q, 3), distance (q,))``; the weights are those of the closest point
    in its face (non-negative, summing to 1).
    """
    from scipy.spatial import cKDTree

    points = np.asarray(points, dtype=np.float64)
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if points.ndim != 2 or points.shape[1] != 3 or vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"project_on_mesh: points and vertices must be (n, 3); got {points.shape} and "
                         f"{vertices.shape}.")
    k = min(n_nearest, len(vertices))
    nearest = cKDTree(vertices).query(points, k=k)[1].reshape(len(points), k)
    vf_ptr, vf_faces = _vertex_faces(faces, len(vertices))
    frames = _FaceFrames(vertices, faces)
    q = len(points)
    face = np.empty(q, dtype=np.int64)
    bary = np.empty((q, 3))
    dist = np.empty(q)
    for s in range(0, q, block):
        p = points[s:s + block]
        pt, cf = _candidate_pairs(nearest[s:s + block], vf_ptr, vf_faces, len(faces))
        w, d2 = frames.closest(p[pt], cf)
        starts = np.flatnonzero(np.r_[True, pt[1:] != pt[:-1]])  # pairs come grouped by point
        group = np.cumsum(np.r_[True, pt[1:] != pt[:-1]]) - 1
        score = d2
        if point_normals is not None:
            against = (frames.normal[cf] * point_normals[s:s + block][pt]).sum(1) < 0
            agree_any = np.logical_or.reduceat(~against, starts)[group]
            # faces pointing the other way count only for points with no agreeing candidate
            score = np.where(against & agree_any, np.inf, d2)
        best_score = np.minimum.reduceat(score, starts)[group]
        hit = np.flatnonzero(score == best_score)
        first = hit[np.r_[True, pt[hit][1:] != pt[hit][:-1]]]  # the first best pair of each point
        face[s:s + block] = cf[first]
        dist[s:s + block] = np.sqrt(d2[first])
        bary[s:s + block] = w[first]
    return face, bary, dist


def _vertex_faces(faces: np.ndarray, n_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """The faces around each vertex as CSR arrays ``(indptr (n+1,), faces)``."""
    corner_vertex = faces.ravel()
    order = np.argsort(corner_vertex, kind="stable")
    indptr = np.r_[0, np.cumsum(np.bincount(corner_vertex, minlength=n_vertices))]
    return indptr, order // 3


def _candidate_pairs(nearest: np.ndarray, vf_ptr: np.ndarray, vf_faces: np.ndarray,
                     n_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """``(point, face)`` pairs: the faces around each point's nearest vertices, each once,
    sorted by point."""
    b = len(nearest)
    counts = vf_ptr[nearest + 1] - vf_ptr[nearest]  # (b, k)
    total = counts.sum()
    pt = np.repeat(np.arange(b), counts.sum(1))
    # position of every pair inside its vertex's face list
    starts = np.repeat(vf_ptr[nearest].ravel(), counts.ravel())
    offset = np.arange(total) - np.repeat(np.cumsum(counts.ravel()) - counts.ravel(), counts.ravel())
    key = np.sort(pt * np.int64(n_faces) + vf_faces[starts + offset])
    key = key[np.r_[True, key[1:] != key[:-1]]]  # (np.unique hashes: several times slower here)
    return key // n_faces, key % n_faces


class _FaceFrames:
    """Per-face data for closest-point queries, one array per coordinate (NumPy is several times
    faster on ``(b, c)`` arrays than on reductions over a trailing axis of length 3): corners,
    unit normal, and the inverse Gram matrix of the two edges from the first corner (plane
    coordinates of a point from two dot products)."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray):
        corners = [vertices[faces[:, i]] for i in range(3)]
        self.corner = [[np.ascontiguousarray(c[:, d]) for d in range(3)] for c in corners]  # [corner][axis]
        e1, e2 = corners[1] - corners[0], corners[2] - corners[0]
        n = np.cross(e1, e2)
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-300)
        self.normal = n
        self.e1 = [np.ascontiguousarray(e1[:, d]) for d in range(3)]
        self.e2 = [np.ascontiguousarray(e2[:, d]) for d in range(3)]
        self.n = [np.ascontiguousarray(n[:, d]) for d in range(3)]
        g11 = (e1 * e1).sum(1)
        g12 = (e1 * e2).sum(1)
        g22 = (e2 * e2).sum(1)
        det = g11 * g22 - g12 ** 2
        ok = det > 1e-14 * np.maximum(g11 * g22, 1e-300)
        inv_det = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)  # sliver faces: only their edges count
        self.i11, self.i12, self.i22 = g22 * inv_det, -g12 * inv_det, g11 * inv_det
        self.flat = ~ok

    def closest(self, p: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Closest point of face ``f[i]`` to point ``p[i]`` (``f (b,)``, ``p (b, 3)``): weights
        ``(b, 3)`` and squared distances ``(b,)``. Inside the triangle: the orthogonal projection;
        otherwise the nearest point of its three edges."""
        px, py, pz = (np.ascontiguousarray(p[:, d]) for d in range(3))
        a = self.corner[0]
        wx, wy, wz = px - a[0][f], py - a[1][f], pz - a[2][f]
        d1 = wx * self.e1[0][f] + wy * self.e1[1][f] + wz * self.e1[2][f]
        d2 = wx * self.e2[0][f] + wy * self.e2[1][f] + wz * self.e2[2][f]
        i12 = self.i12[f]
        u = self.i11[f] * d1 + i12 * d2
        v = i12 * d1 + self.i22[f] * d2
        inside = (u >= 0) & (v >= 0) & (u + v <= 1) & ~self.flat[f]
        h = wx * self.n[0][f] + wy * self.n[1][f] + wz * self.n[2][f]
        dist2 = np.where(inside, h * h, np.inf)
        bary = np.stack([1 - u - v, u, v], axis=-1)
        # outside: the nearest point of the three edges (start corner i, end corner j)
        for i, j in ((0, 1), (1, 2), (2, 0)):
            s0, s1 = self.corner[i], self.corner[j]
            x0, y0, z0 = s0[0][f], s0[1][f], s0[2][f]
            ex, ey, ez = s1[0][f] - x0, s1[1][f] - y0, s1[2][f] - z0
            qx, qy, qz = px - x0, py - y0, pz - z0
            ee = ex * ex + ey * ey + ez * ez
            t = np.clip((qx * ex + qy * ey + qz * ez) / np.maximum(ee, 1e-300), 0.0, 1.0)
            rx, ry, rz = qx - t * ex, qy - t * ey, qz - t * ez
            d = rx * rx + ry * ry + rz * rz
            better = ~inside & (d < dist2)
            dist2 = np.where(better, d, dist2)
            wb = np.zeros(bary.shape)
            wb[..., i] = 1 - t
            wb[..., j] = t
            bary = np.where(better[..., None], wb, bary)
        return bary, dist2
