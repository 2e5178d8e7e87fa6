"""Laplacians and mass matrices.

Convention (as in gpytoolbox): ``L`` is the *weak*, positive semi-definite Laplacian
(``L @ 1 = 0``, ``x^T L x >= 0``), to be paired with the lumped mass matrix ``M`` (given as
the vector ``mass`` of its diagonal): the generalized problem is ``L phi = lambda M phi``.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from ..core import DegenerateFacesError, Shape, TooFewPointsError

log = logging.getLogger(__name__)

LAPLACIAN_KINDS = ("robust", "cotan", "pointcloud")
#: part of the cache keys of Laplacians and eigenbases: raise it when what they hold changes
#: (2: imperfect meshes handled on the surface, other vertices attached to their nearest)
LAPLACIAN_VERSION = 7  # 3: loose pieces attached; 4: small holes closed (Shape.hole_fill); 5: bands bridged;
# 6: holes judged by their closing fan's area, facing loops bridged across longer gaps; 7: a stump inside a larger hole bridged


def robust_mesh_laplacian(vertices: np.ndarray, faces: np.ndarray, mollify: float = 1e-5):
    """Tufted intrinsic-Delaunay Laplacian (robust-laplacian); handles non-manifold meshes."""
    import robust_laplacian

    L, M = robust_laplacian.mesh_laplacian(np.asarray(vertices, np.float64), np.asarray(faces, np.int64),
                                           mollify_factor=mollify)
    return sp.csr_matrix(L), np.asarray(M.diagonal(), dtype=np.float64)


def point_cloud_laplacian(vertices: np.ndarray, n_neighbors: int = 30, mollify: float = 1e-5):
    """Robust point-cloud Laplacian (tufted Laplacian of a local Delaunay triangulation)."""
    import robust_laplacian

    if len(vertices) <= 3:
        raise TooFewPointsError(f"a point-cloud Laplacian needs more than 3 points, got {len(vertices)}.")
    L, M = robust_laplacian.point_cloud_laplacian(np.asarray(vertices, np.float64),
                                                  mollify_factor=mollify,
                                                  n_neighbors=min(n_neighbors, len(vertices) - 1))
    return sp.csr_matrix(L), np.asarray(M.diagonal(), dtype=np.float64)


def cotan_laplacian(vertices: np.ndarray, faces: np.ndarray):
    """Classic cotangent Laplacian (weak form, PSD) and barycentric lumped mass (NumPy/SciPy);
    :func:`cotan_laplacian_torch` is the same on a torch device."""
    V = np.asarray(vertices, dtype=np.float64)
    F = np.asarray(faces, dtype=np.int64)
    n = len(V)
    v0, v1, v2 = V[F[:, 0]], V[F[:, 1]], V[F[:, 2]]

    def cot(a, b):  # cot of the angle between the edges a and b leaving one corner
        return np.einsum("ij,ij->i", a, b) / np.maximum(np.linalg.norm(np.cross(a, b), axis=1), 1e-30)

    w = 0.5 * np.concatenate([cot(v1 - v0, v2 - v0), cot(v2 - v1, v0 - v1), cot(v0 - v2, v1 - v2)])
    ii = np.concatenate([F[:, 1], F[:, 2], F[:, 0]])  # each corner's opposite edge (ii, jj)
    jj = np.concatenate([F[:, 2], F[:, 0], F[:, 1]])
    L = sp.coo_matrix((np.concatenate([-w, -w, w, w]), (np.concatenate([ii, jj, ii, jj]),
                                                        np.concatenate([jj, ii, ii, jj]))), shape=(n, n)).tocsr()
    area = 0.5 * np.linalg.norm(np.cross(v1 - v0, v2 - v0), axis=1)
    mass = np.bincount(F.reshape(-1), weights=np.repeat(area / 3.0, 3), minlength=n)
    return L, mass


def cotan_laplacian_torch(vertices, faces, device="cpu", dtype=None):
    """Cotangent Laplacian in torch, on CPU or CUDA.

    Returns ``(L, mass)``: ``L`` a sparse COO tensor ``(n, n)`` (weak form, PSD) and ``mass``
    the barycentric lumped vertex areas ``(n,)``, both on ``device``.
    """
    import torch

    dtype = dtype or torch.float64
    V = torch.as_tensor(np.array(vertices, dtype=np.float64), dtype=dtype, device=device)  # a writable copy
    F = torch.as_tensor(np.array(faces, dtype=np.int64), dtype=torch.long, device=device)
    n = V.shape[0]
    v0, v1, v2 = V[F[:, 0]], V[F[:, 1]], V[F[:, 2]]
    # cot of the angle at each corner, from the two edges leaving it
    def cot(a, b):
        cross = torch.linalg.norm(torch.cross(a, b, dim=1), dim=1)
        return (a * b).sum(1) / cross.clamp_min(1e-30)

    cot0 = cot(v1 - v0, v2 - v0)  # angle at v0, opposite edge (1, 2)
    cot1 = cot(v2 - v1, v0 - v1)  # opposite edge (2, 0)
    cot2 = cot(v0 - v2, v1 - v2)  # opposite edge (0, 1)
    ii = torch.cat([F[:, 1], F[:, 2], F[:, 0]])
    jj = torch.cat([F[:, 2], F[:, 0], F[:, 1]])
    w = 0.5 * torch.cat([cot0, cot1, cot2])
    rows = torch.cat([ii, jj, ii, jj])
    cols = torch.cat([jj, ii, ii, jj])
    vals = torch.cat([-w, -w, w, w])
    L = torch.sparse_coo_tensor(torch.stack([rows, cols]), vals, (n, n), check_invariants=False).coalesce()
    area = 0.5 * torch.linalg.norm(torch.cross(v1 - v0, v2 - v0, dim=1), dim=1)
    mass = torch.zeros(n, dtype=dtype, device=device)
    mass.index_add_(0, F.reshape(-1), (area / 3.0).repeat_interleave(3))
    return L, mass


def laplacian(shape: Shape, kind: str = "auto", *, mollify: float = 1e-5, n_neighbors: int = 30,
              cache: bool | None = None):
    """Laplacian and mass of a shape, computed once (memory + disk cache).

    ``kind``: ``"auto"`` (robust for meshes, point-cloud Laplacian for point clouds),
    ``"robust"``, ``"cotan"`` or ``"pointcloud"`` (also usable on a mesh's vertices).
    Returns ``(L, mass)`` with ``L`` a CSR matrix and ``mass`` a vector, one row per vertex.

    Imperfect meshes (see :meth:`Shape.issues`) are handled as follows. The Laplacian is
    built on the surface (:attr:`Shape.surface_faces`): degenerate faces are left out and
    repeated vertices along open edges are joined (a seam of repeated vertices is no cut;
    repeated vertices inside the surface, where two sheets touch, stay apart). Every other
    vertex (used by no face, or a joined repeat) is attached to its nearest
    surface vertex by :func:`attach_to_nearest`, so its eigenvector values are those of that
    vertex and its mass is positive but negligible; so is every vertex of a loose piece (a
    component under 1 % of the area, or beyond the 8 largest: :attr:`Shape.loose_piece_faces`).
    Small holes are closed by a fan around a new vertex, which is then eliminated
    (:attr:`Shape.hole_fill`, :func:`eliminate_last`), and a band missing all round a limb
    (two loops facing each other on two pieces) is bridged by a strip on the loops' own vertices:
    the spectrum is that of the closed surface, on the shape's own vertices.
    The other components and boundaries need nothing special (one zero eigenvalue per
    component; free boundary).
    """
    if kind == "auto":
        kind = "robust" if shape.is_mesh else "pointcloud"
    if kind not in LAPLACIAN_KINDS:
        raise ValueError(f"unknown Laplacian kind {kind!r}; choose one of {LAPLACIAN_KINDS} or 'auto'.")
    if kind in ("robust", "cotan") and not shape.is_mesh:
        raise ValueError(f"{shape.name}: a {kind!r} Laplacian needs faces; this is a point cloud "
                         "(use kind='pointcloud' or 'auto').")
    params = {"kind": kind, "version": LAPLACIAN_VERSION}
    if kind != "cotan":
        params["mollify"] = mollify
    if kind == "pointcloud":
        params["n_neighbors"] = n_neighbors

    def compute():
        L, mass = _surface_laplacian(shape, kind, mollify, n_neighbors)
        return {"L": L, "mass": mass}

    out = shape.derived("laplacian", params, compute, disk=cache)
    return out["L"], out["mass"]


def _surface_laplacian(shape: Shape, kind: str, mollify: float, n_neighbors: int):
    """The Laplacian of the distinct surface vertices, then the others attached to them."""
    v = shape.vertices
    if kind == "pointcloud":
        keep = np.flatnonzero(shape.welded_index == np.arange(shape.n_vertices))
        L, mass = point_cloud_laplacian(v[keep], n_neighbors, mollify)
        return attach_to_nearest(L, mass, keep, v)
    faces_s = shape.spectral_faces
    keep = np.unique(faces_s)
    if keep.size == 0:
        raise DegenerateFacesError(
            f"all {shape.n_faces} faces are degenerate (zero area), so there is no surface; "
            "fix the mesh or use its vertices as a point cloud (laplacian='pointcloud').", shape.path)
    local = np.full(shape.n_vertices + shape.hole_fill.n_holes, -1, dtype=np.int64)
    local[keep] = np.arange(keep.size)
    fill = shape.hole_fill
    local[shape.n_vertices:] = keep.size + np.arange(fill.n_holes)
    faces = local[np.vstack([faces_s, fill.bridge_faces, fill.faces]) if fill.closes_anything else faces_s]
    points = np.vstack([v[keep], fill.centers]) if fill.n_holes else v[keep]
    if kind == "robust":
        L, mass = robust_mesh_laplacian(points, faces, mollify)
    else:
        L, mass = cotan_laplacian(points, faces)
    if fill.closes_anything:
        log.info("%s: %d small holes closed and %d bands bridged for the Laplacian (%.3g of the area)",
                 shape.name, fill.n_holes, fill.n_bridges, fill.area / max(float(mass.sum()), 1e-300))
    if fill.n_holes:
        L, mass = eliminate_last(L, mass, keep.size)
    return attach_to_nearest(L, mass, keep, v)


def eliminate_last(L: sp.spmatrix, mass: np.ndarray, n_keep: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """Remove the vertices from ``n_keep`` on from ``(L, mass)``, keeping what they did.

    ``L`` becomes its Schur complement on the first ``n_keep`` vertices (the Laplacian of
    functions extended harmonically over the removed vertices: again symmetric, positive
    semi-definite, with zero row sums), and each removed vertex's mass goes to the kept ones
    by the same harmonic weights (which sum to one), so the total mass is unchanged.
    """
    from scipy.sparse.linalg import spsolve

    L = sp.csr_matrix(L)
    Lkk, Lkr = L[:n_keep, :n_keep], L[:n_keep, n_keep:]
    Lrr = L[n_keep:, n_keep:]
    off = Lrr - sp.diags(Lrr.diagonal())
    if off.count_nonzero() == 0:  # removed vertices not adjacent to each other (one per hole)
        X = sp.diags(1.0 / Lrr.diagonal()) @ Lkr.T.tocsr()  # (r, k): Lrr^-1 Lrk
    else:
        X = sp.csr_matrix(spsolve(Lrr.tocsc(), Lkr.T.tocsc()))
    red = Lkk - Lkr @ X
    red = sp.csr_matrix(0.5 * (red + red.T))
    return red, mass[:n_keep] - X.T @ mass[n_keep:]


def attach_to_nearest(L: sp.spmatrix, mass: np.ndarray, keep: np.ndarray, vertices: np.ndarray,
                      *, mass_fraction: float = 1e-6):
    """Extend the Laplacian ``(L, mass)`` of the vertices ``keep`` to all ``vertices``.

    Each other vertex ``o`` (used by no face, or a repeat of a surface vertex) is tied to its
    nearest vertex ``r`` among ``keep`` by a stiff spring ``w`` (the mean diagonal of ``L``),
    and the vertices tied to ``r`` share ``mass_fraction`` of ``r``'s mass, which ``r`` gives
    up (the total mass, the area, is unchanged). Row ``o`` of ``L phi = lambda M phi`` reads
    ``w (phi_o - phi_r) = lambda m_o phi_o``, so ``phi_o = phi_r`` up to a relative
    ``lambda m_o / w``; in row ``r`` the spring's pull equals what ``r`` gave up to first
    order, so the low spectrum is that of the surface alone up to second-order terms. Every
    vertex gets a finite value (its nearest surface vertex's) and a positive mass; no zero
    eigenvalue is added (``o`` joins ``r``'s component).
    """
    n = len(vertices)
    if len(keep) == n:
        return sp.csr_matrix(L), mass
    from scipy.spatial import cKDTree

    others = np.setdiff1d(np.arange(n), keep)
    nearest = keep[cKDTree(vertices[keep]).query(vertices[others])[1]]
    diag = L.diagonal()
    w = float(diag[diag > 0].mean()) if (diag > 0).any() else 1.0
    coo = sp.coo_matrix(L)
    rows = np.concatenate([keep[coo.row], others, nearest, others, nearest])
    cols = np.concatenate([keep[coo.col], others, nearest, nearest, others])
    vals = np.concatenate([coo.data, np.full(others.size, w), np.full(others.size, w),
                           np.full(others.size, -w), np.full(others.size, -w)])
    full_mass = np.zeros(n)
    full_mass[keep] = mass
    tied = np.bincount(nearest, minlength=n)
    full_mass[others] = mass_fraction * full_mass[nearest] / tied[nearest]
    full_mass[tied > 0] *= 1.0 - mass_fraction
    log.info("%d vertices off the surface (unused or repeated) are attached to their nearest surface "
             "vertex", others.size)
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, n)), full_mass
