"""Points on a triangle mesh: face index + barycentric coordinates, and how to find them.

A :class:`SurfaceMap` gives, for each vertex of a target shape, a *point* on the source
surface (not just a source vertex): ``face[j]`` is a source face and ``bary[j]`` the
barycentric weights of its three corners (non-negative, summing to 1). Anything defined on
the source (UVs, colours, fields) is carried over by interpolating with these weights.

The closest-point search (:func:`closest_point_on_triangles`) works in any dimension: in 3D it
projects points on a surface, in a spectral embedding it refines a vertex map to a precise map
(see :mod:`shapecorr.fmap.precise`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp


class SurfaceMap(NamedTuple):
    """Target vertex j -> point ``sum_k bary[j, k] * V1[F1[face[j], k]]`` on the source."""

    face: np.ndarray  # (n2,) int, source face index
    bary: np.ndarray  # (n2, 3) float, barycentric weights of the face's corners

    def points(self, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
        """The mapped points ``(n2, d)`` for per-vertex data ``vertices (n1, d)``."""
        return interpolate(vertices, faces, self)

    def nearest_vertex(self, faces: np.ndarray) -> np.ndarray:
        """The source vertex with the largest weight (a vertex map ``p2p_21``)."""
        corner = self.bary.argmax(axis=1)
        return faces[self.face, corner]

    @classmethod
    def from_vertex_map(cls, p2p_21: np.ndarray, faces: np.ndarray, vertices: np.ndarray | None = None) -> SurfaceMap:
        """The surface map equivalent to a vertex map (each point sits on a vertex).

        A source vertex used by no face has no place on the surface: with ``vertices`` (the
        source's positions) a target vertex mapped to one gets its closest point on the
        surface instead; without them it is an error."""
        p2p_21 = np.asarray(p2p_21, dtype=np.int64)
        if vertices is not None:
            off = ~on_faces(faces, len(vertices))[p2p_21]
            if off.any():
                smap = cls.from_vertex_map(np.where(off, faces[0, 0], p2p_21), faces)
                moved, _ = project_on_surface(np.asarray(vertices)[p2p_21[off]], vertices, faces)
                smap.face[off], smap.bary[off] = moved.face, moved.bary
                return smap
        vf = vertex_face_adjacency(faces, n_vertices=int(max(faces.max(), p2p_21.max())) + 1)
        first = np.full(vf.shape[0], -1, dtype=np.int64)
        rows, cols = vf.nonzero()
        order = np.argsort(rows, kind="stable")
        rows, cols = rows[order], cols[order]
        first[rows[::-1]] = cols[::-1]  # first face of each vertex
        face = first[p2p_21]
        if (face < 0).any():
            bad = int(p2p_21[np.flatnonzero(face < 0)[0]])
            raise ValueError(f"source vertex {bad} belongs to no face; it cannot carry a surface map.")
        corner = (faces[face] == p2p_21[:, None]).argmax(axis=1)
        bary = np.zeros((len(p2p_21), 3))
        bary[np.arange(len(p2p_21)), corner] = 1.0
        return cls(face, bary)


def on_faces(faces: np.ndarray, n_vertices: int) -> np.ndarray:
    """``(n_vertices,)`` bool: whether each vertex is a corner of some face."""
    used = np.zeros(n_vertices, dtype=bool)
    used[np.asarray(faces).ravel()] = True
    return used


def surface_seeds(seeds: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``seeds`` (vertex ids) with each vertex used by no face replaced by the nearest vertex that
    is (the vertex the Laplacian ties it to), so that every seed has faces around it."""
    seeds = np.asarray(seeds, dtype=np.int64)
    used = on_faces(faces, len(vertices))
    bad = ~used[seeds]
    if not bad.any():
        return seeds
    from scipy.spatial import cKDTree

    surface = np.flatnonzero(used)
    out = seeds.copy()
    out[bad] = surface[cKDTree(np.asarray(vertices)[surface]).query(np.asarray(vertices)[seeds[bad]])[1]]
    return out


def interpolate(values: np.ndarray, faces: np.ndarray, smap: SurfaceMap) -> np.ndarray:
    """Barycentric interpolation of per-vertex ``values (n1, ...)`` at the points of ``smap``."""
    values = np.asarray(values)
    corners = values[faces[smap.face]]  # (n2, 3, ...)
    w = smap.bary.reshape(smap.bary.shape + (1,) * (values.ndim - 1))
    return (w * corners).sum(axis=1)


def vertex_face_adjacency(faces: np.ndarray, n_vertices: int | None = None) -> sp.csr_matrix:
    """Sparse ``(n, m)`` incidence: entry (v, f) is 1 when vertex v is a corner of face f."""
    faces = np.asarray(faces)
    m = len(faces)
    n = int(faces.max()) + 1 if n_vertices is None else n_vertices
    rows = faces.ravel()
    cols = np.repeat(np.arange(m), 3)
    return sp.csr_matrix((np.ones(3 * m, dtype=np.int8), (rows, cols)), shape=(n, m))


def candidate_faces(faces: np.ndarray, seeds: np.ndarray, n_vertices: int, rings: int = 2) -> np.ndarray:
    """Faces near each seed vertex: those touching its ``rings - 1``-ring, padded with -1.

    Returns ``(len(seeds), c)`` face indices (``rings=1``: the faces around the seed vertex;
    ``rings=2``: also the faces around its neighbours).
    """
    vf = vertex_face_adjacency(faces, n_vertices)
    sel = sp.csr_matrix((np.ones(len(seeds)), (np.arange(len(seeds)), seeds)), shape=(len(seeds), n_vertices))
    reach = sel @ vf  # faces around the seed
    for _ in range(rings - 1):
        reach = (reach @ vf.T) @ vf  # grow by one ring
    reach = reach.tocsr()
    reach.sum_duplicates()
    counts = np.diff(reach.indptr)
    width = int(counts.max()) if len(counts) else 1
    out = np.full((len(seeds), width), -1, dtype=np.int64)
    row = np.repeat(np.arange(len(seeds)), counts)
    col = np.arange(reach.nnz) - np.repeat(reach.indptr[:-1], counts)
    out[row, col] = reach.indices
    return out


def closest_point_on_triangles(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray):
    """Closest point of triangle ``(a, b, c)`` to ``p``, batched, in any dimension.

    All arguments are ``(..., d)``. Returns ``(bary (..., 3), sqdist (...))`` with barycentric
    weights of the closest point (non-negative, summing to 1). Uses the Voronoi-region tests of
    Ericson, *Real-Time Collision Detection* (2005), 5.1.5, which only need dot products.
    """
    ab, ac, ap = b - a, c - a, p - a
    u = _closest_barycentric((ab * ap).sum(-1), (ac * ap).sum(-1), (ab * ab).sum(-1), (ab * ac).sum(-1),
                             (ac * ac).sum(-1))
    q = u[..., 0:1] * a + u[..., 1:2] * b + u[..., 2:3] * c
    return u, ((p - q) ** 2).sum(-1)


def _closest_barycentric(d1, d2, ab2, abac, ac2) -> np.ndarray:
    """Barycentric weights ``(..., 3)`` of the closest point of a triangle ``(a, b, c)`` to ``p``
    from five dot products: ``d1 = ab.ap``, ``d2 = ac.ap``, ``ab2 = ab.ab``, ``abac = ab.ac``,
    ``ac2 = ac.ac`` (``ab = b - a``, ...), broadcast together (the Voronoi-region tests of
    :func:`closest_point_on_triangles`; ``bp = ap - ab`` and ``cp = ap - ac`` give the others)."""
    d1, d2 = np.asarray(d1, dtype=np.float64), np.asarray(d2, dtype=np.float64)
    d3, d4 = d1 - ab2, d2 - abac  # ab.bp, ac.bp
    d5, d6 = d1 - abac, d2 - ac2  # ab.cp, ac.cp
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2

    shape = np.broadcast_shapes(d1.shape, d2.shape, np.shape(ab2))
    u = np.zeros(shape + (3,))
    done = np.zeros(shape, dtype=bool)

    def assign(mask, w0, w1, w2):
        m = mask & ~done
        u[m, 0], u[m, 1], u[m, 2] = (np.broadcast_to(w, shape)[m] for w in (w0, w1, w2))
        done[m] = True

    with np.errstate(divide="ignore", invalid="ignore"):
        one, zero = np.ones(shape), np.zeros(shape)
        assign((d1 <= 0) & (d2 <= 0), one, zero, zero)  # vertex a
        assign((d3 >= 0) & (d4 <= d3), zero, one, zero)  # vertex b
        assign((d6 >= 0) & (d5 <= d6), zero, zero, one)  # vertex c
        t = d1 / (d1 - d3)
        assign((vc <= 0) & (d1 >= 0) & (d3 <= 0), 1 - t, t, zero)  # edge ab
        t = d2 / (d2 - d6)
        assign((vb <= 0) & (d2 >= 0) & (d6 <= 0), 1 - t, zero, t)  # edge ac
        t = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        assign((va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0), zero, 1 - t, t)  # edge bc
        denom = va + vb + vc
        v_, w_ = vb / denom, vc / denom
        assign(np.ones(shape, dtype=bool), 1 - v_ - w_, v_, w_)  # interior
    u = np.nan_to_num(u, nan=1.0 / 3.0)
    u = np.clip(u, 0.0, 1.0)
    u /= u.sum(-1, keepdims=True)
    return u


def project_on_faces(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray, candidates: np.ndarray,
                     block: int = 2048) -> tuple[SurfaceMap, np.ndarray]:
    """Closest point to each of ``points (q, d)`` among its ``candidates (q, c)`` faces (-1 = none).

    ``vertices (n, d)`` may be 3D positions or any per-vertex embedding. Returns the
    :class:`SurfaceMap` and the squared distances ``(q,)``. The candidates are compared by the
    squared distance expanded in dot products (three per point and face, the faces' own Gram
    terms computed once), and the chosen point's distance is then computed directly.
    """
    points = np.asarray(points, dtype=np.float64)
    vertices = np.asarray(vertices, dtype=np.float64)
    q = len(points)
    face = np.empty(q, dtype=np.int64)
    bary = np.empty((q, 3))
    dist = np.empty(q)
    gram = _face_gram(vertices, faces)  # (m, 3): ab.ab, ab.ac, ac.ac
    for s in range(0, q, block):
        cand = candidates[s:s + block]
        valid = cand >= 0
        if not valid.any(axis=1).all():
            raise ValueError(f"point {s + int(np.flatnonzero(~valid.any(axis=1))[0])} has no candidate face "
                             "(its seed vertex belongs to no face: see surface_seeds).")
        safe = np.where(valid, cand, 0)
        cf = faces[safe]  # (b, c, 3)
        a = vertices[cf[..., 0]]  # (b, c, d)
        ap = points[s:s + block, None, :] - a
        ab = vertices[cf[..., 1]] - a
        d1 = np.einsum("bcd,bcd->bc", ab, ap)
        del ab
        ac = vertices[cf[..., 2]] - a
        d2 = np.einsum("bcd,bcd->bc", ac, ap)
        del ac, a
        ab2, abac, ac2 = (gram[safe, i] for i in range(3))
        u = _closest_barycentric(d1, d2, ab2, abac, ac2)
        v, w = u[..., 1], u[..., 2]
        d = (np.einsum("bcd,bcd->bc", ap, ap) - 2 * (v * d1 + w * d2)
             + v * v * ab2 + 2 * v * w * abac + w * w * ac2)
        d = np.where(valid, d, np.inf)
        best = d.argmin(axis=1)
        rows = np.arange(len(cand))
        face[s:s + block] = cand[rows, best]
        bary[s:s + block] = u[rows, best]
    chosen = SurfaceMap(face, bary)
    dist[:] = ((points - chosen.points(vertices, faces)) ** 2).sum(-1)
    return chosen, dist


def _face_gram(vertices: np.ndarray, faces: np.ndarray, block: int = 65536) -> np.ndarray:
    """``(m, 3)``: per face ``ab.ab``, ``ab.ac``, ``ac.ac`` (``ab = b - a``, ``ac = c - a``)."""
    out = np.empty((len(faces), 3))
    for s in range(0, len(faces), block):
        f = faces[s:s + block]
        a = vertices[f[:, 0]]
        ab, ac = vertices[f[:, 1]] - a, vertices[f[:, 2]] - a
        out[s:s + block] = np.stack([(ab * ab).sum(1), (ab * ac).sum(1), (ac * ac).sum(1)], 1)
    return out


def project_on_surface(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray, *,
                       rings: int = 2) -> tuple[SurfaceMap, np.ndarray]:
    """Closest point on the mesh ``(vertices, faces)`` to 3D ``points``.

    Candidates are the faces near the nearest mesh vertex (``rings`` rings); exact whenever the
    closest point lies there, which holds for points near a reasonably sampled surface.
    Returns the :class:`SurfaceMap` and the distances ``(q,)``.
    """
    from scipy.spatial import cKDTree

    used = np.flatnonzero(on_faces(faces, len(vertices)))  # a vertex used by no face has no faces to try
    seeds = used[cKDTree(np.asarray(vertices)[used]).query(points)[1]]
    cand = candidate_faces(faces, seeds, len(vertices), rings=rings)
    smap, d2 = project_on_faces(np.asarray(points, dtype=np.float64), vertices, faces, cand)
    return smap, np.sqrt(d2)
