"""Laplacians and mass matrices.

Convention (as in gpytoolbox): ``L`` is the *weak*, positive semi-definite Laplacian
(``L @ 1 = 0``, ``x^T L x >= 0``), to be paired with the lumped mass matrix ``M`` (given as
the vector ``mass`` of its diagonal): the generalized problem is ``L phi = lambda M phi``.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from ..core import Shape, TooFewPointsError

log = logging.getLogger(__name__)

LAPLACIAN_KINDS = ("robust", "cotan", "pointcloud")


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
    """Classic cotangent Laplacian and barycentric lumped mass (NumPy/SciPy)."""
    L, mass = cotan_laplacian_torch(vertices, faces, device="cpu")
    L = L.coalesce()
    idx = L.indices().numpy()
    return (sp.csr_matrix((L.values().numpy(), (idx[0], idx[1])), shape=tuple(L.shape)),
            mass.numpy())


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
    Returns ``(L, mass)`` with ``L`` a CSR matrix and ``mass`` a vector.
    """
    if kind == "auto":
        kind = "robust" if shape.is_mesh else "pointcloud"
    if kind not in LAPLACIAN_KINDS:
        raise ValueError(f"unknown Laplacian kind {kind!r}; choose one of {LAPLACIAN_KINDS} or 'auto'.")
    if kind in ("robust", "cotan") and not shape.is_mesh:
        raise ValueError(f"{shape.name}: a {kind!r} Laplacian needs faces; this is a point cloud "
                         "(use kind='pointcloud' or 'auto').")
    params = {"kind": kind}
    if kind != "cotan":
        params["mollify"] = mollify
    if kind == "pointcloud":
        params["n_neighbors"] = n_neighbors

    def compute():
        if kind == "robust":
            L, mass = robust_mesh_laplacian(shape.vertices, shape.faces, mollify)
        elif kind == "cotan":
            L, mass = cotan_laplacian(shape.vertices, shape.faces)
        else:
            L, mass = point_cloud_laplacian(shape.vertices, n_neighbors, mollify)
        L, mass = _fix_isolated(L, mass)
        return {"L": L, "mass": mass}

    out = shape.derived("laplacian", params, compute, disk=cache)
    return out["L"], out["mass"]


def _fix_isolated(L: sp.csr_matrix, mass: np.ndarray):
    """Vertices with zero mass (used by no face) would make ``M`` singular.

    They get a tiny mass and a large diagonal stiffness, which sends their (meaningless)
    eigenvalues to the top of the spectrum, away from the low modes the basis uses.
    """
    zero = mass <= 0
    if not zero.any():
        return L, mass
    mass = mass.copy()
    mean_mass = mass[~zero].mean() if (~zero).any() else 1.0
    mass[zero] = 1e-6 * mean_mass
    diag = np.zeros(len(mass))
    diag[zero] = np.abs(L.diagonal()).max() if L.nnz else 1.0
    log.info("%d vertices have zero mass (used by no face); they are kept out of the low spectrum",
             int(zero.sum()))
    return (L + sp.diags(diag)).tocsr(), mass
