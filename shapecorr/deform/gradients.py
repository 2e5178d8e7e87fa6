"""Per-triangle deformation gradients and the Poisson solve that turns gradients back into a mesh.

Deformation transfer and morphing both work on *deformation gradients*: for a triangle with
rest corners ``v0, v1, v2`` and deformed corners ``v0', v1', v2'``, the 3x3 matrix ``Q`` of the
affine map that sends the one onto the other. A triangle fixes ``Q`` only on its own plane, so,
as in Sumner & Popovic ("Deformation Transfer for Triangle Meshes", SIGGRAPH 2004), a fourth
vertex is added along the normal, scaled by ``1 / sqrt(|n|)`` so that a rotation and a uniform
scaling are recovered exactly::

    W  = [v1 - v0, v2 - v0, n / sqrt(|n|)]        (n = (v1 - v0) x (v2 - v0))
    Q  = W' W^-1

Going back, from one prescribed ``Q_t`` per triangle of a rest mesh to new vertex positions,
uses the equivalent gradient formulation of the least-squares problem (Botsch, Sumner, Pauly &
Gross, "Deformation Transfer for Detail-Preserving Surface Editing", 2006): with ``G`` the
per-face gradient operator of piecewise-linear functions (``(3m, n)``; rows ``3t..3t+2`` give
the gradient, a 3-vector in the face's plane, on face ``t``) and ``A`` the face areas,

    min_X'  sum_t area_t || (G X')_t - (G X)_t Q_t^T ||_F^2
    =>      (G^T A G) X' = G^T A B,      G^T A G = the cotangent Laplacian (PSD, weak form).

``X'`` is defined up to one translation per connected component: one vertex per component is
pinned while solving and each component is then moved so that its area-weighted centroid lands
where the caller says (by default: where it was). :class:`PoissonSolver` factors the pinned
Laplacian once (SuperLU) and solves for any number of gradient fields (morph frames, edits).
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

log = logging.getLogger(__name__)

__all__ = [
    "PoissonSolver",
    "deformation_gradients",
    "face_areas",
    "gradient_operator",
    "solve_from_gradients",
    "triangle_frames",
]


def _check_mesh(vertices, faces, what: str = "vertices") -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"{what} must be an (n, 3) array, got shape {v.shape}.")
    if f.ndim != 2 or f.shape[1] != 3 or len(f) == 0:
        raise ValueError(f"faces must be a non-empty (m, 3) array of triangles, got shape {f.shape}; "
                         "deformation gradients need a triangle mesh (not a point cloud).")
    if f.min() < 0 or f.max() >= len(v):
        raise ValueError(f"faces refer to vertex {int(f.max())} but there are {len(v)} {what}.")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{what} contain NaN or infinite coordinates.")
    return v, f


def face_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area of every triangle ``(m,)``."""
    v = np.asarray(vertices, dtype=np.float64)
    e1 = v[faces[:, 1]] - v[faces[:, 0]]
    e2 = v[faces[:, 2]] - v[faces[:, 0]]
    return 0.5 * np.linalg.norm(np.cross(e1, e2), axis=1)


def triangle_frames(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Sumner & Popovic's frame per triangle ``(m, 3, 3)``: columns ``v1 - v0``, ``v2 - v0`` and
    ``n / sqrt(|n|)`` (the fourth vertex along the normal; zero for a degenerate triangle)."""
    v, f = _check_mesh(vertices, faces)
    e1 = v[f[:, 1]] - v[f[:, 0]]
    e2 = v[f[:, 2]] - v[f[:, 0]]
    n = np.cross(e1, e2)
    length = np.linalg.norm(n, axis=1, keepdims=True)
    n4 = n / np.sqrt(np.maximum(length, 1e-300))
    return np.stack([e1, e2, n4], axis=2)


def deformation_gradients(vertices: np.ndarray, faces: np.ndarray, deformed: np.ndarray) -> np.ndarray:
    """Deformation gradient ``Q_t`` ``(m, 3, 3)`` of every triangle from ``vertices`` to ``deformed``
    (same faces): ``Q_t @ (v_i - v_0) = v_i' - v_0'`` for the triangle's edges, and
    ``Q_t n_t / sqrt|n_t| = n_t' / sqrt|n_t'|`` along the normal. For a global affine map
    ``x -> M x + b`` this is ``M`` on every triangle's plane, and exactly ``M`` when ``M`` is a
    rotation times a uniform scaling. Degenerate rest triangles get the least-squares
    (pseudo-inverse) gradient.
    """
    v, f = _check_mesh(vertices, faces)
    d, _ = _check_mesh(deformed, f, "deformed vertices")
    if d.shape != v.shape:
        raise ValueError(f"deformed vertices {d.shape} do not match the rest vertices {v.shape}.")
    W = triangle_frames(v, f)
    W2 = triangle_frames(d, f)
    det = np.linalg.det(W)
    scale = np.einsum("mij,mij->m", W, W) ** 1.5  # det ~ |e|^3: a scale-free degeneracy test
    ok = np.abs(det) > 1e-12 * np.maximum(scale, 1e-300)
    inv = np.empty_like(W)
    inv[ok] = np.linalg.inv(W[ok])
    if (~ok).any():
        inv[~ok] = np.linalg.pinv(W[~ok])
        log.info("%d degenerate rest triangles: least-squares deformation gradients", int((~ok).sum()))
    return W2 @ inv


def gradient_operator(vertices: np.ndarray, faces: np.ndarray) -> sp.csr_matrix:
    """Per-face gradient of piecewise-linear functions, ``(3m, n)``.

    Row ``3t + k`` gives the ``k``-th ambient coordinate of the gradient on face ``t``:
    ``grad phi_i = n_hat x (v_{i+2} - v_{i+1}) / (2 area)`` for corner ``i`` (zero on degenerate
    faces). ``G @ X`` for the coordinates ``X (n, 3)`` gives, per face, the projector on its plane.
    """
    v, f = _check_mesh(vertices, faces)
    m = len(f)
    e1 = v[f[:, 1]] - v[f[:, 0]]
    e2 = v[f[:, 2]] - v[f[:, 0]]
    n = np.cross(e1, e2)
    twice_area = np.linalg.norm(n, axis=1)
    good = twice_area > 1e-14 * np.maximum(np.einsum("ij,ij->i", e1, e1) + np.einsum("ij,ij->i", e2, e2), 1e-300)
    n_hat = np.where(good[:, None], n / np.maximum(twice_area, 1e-300)[:, None], 0.0)
    inv2a = np.where(good, 1.0 / np.maximum(twice_area, 1e-300), 0.0)
    rows, cols, vals = [], [], []
    for i in range(3):
        opposite = v[f[:, (i + 2) % 3]] - v[f[:, (i + 1) % 3]]
        g = np.cross(n_hat, opposite) * inv2a[:, None]  # (m, 3)
        for k in range(3):
            rows.append(3 * np.arange(m) + k)
            cols.append(f[:, i])
            vals.append(g[:, k])
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(3 * m, len(v)))


def _components(faces: np.ndarray, n: int) -> np.ndarray:
    """Connected-component label of every vertex (vertices in no face are their own component)."""
    from scipy.sparse.csgraph import connected_components

    i = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]])
    j = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0]])
    adj = sp.csr_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    return connected_components(adj, directed=False)[1]


class PoissonSolver:
    """Vertex positions from per-face deformation gradients on one rest mesh, factored once.

    >>> solver = PoissonSolver(rest_vertices, faces)
    >>> new_vertices = solver.solve(Q)           # Q (m, 3, 3), one gradient per face

    Each connected component keeps its area-weighted centroid (plus ``shift`` when given); the
    rest is the least-squares fit of the gradients (see the module docstring).
    """

    def __init__(self, vertices: np.ndarray, faces: np.ndarray):
        from scipy.sparse.linalg import splu

        self.vertices, self.faces = _check_mesh(vertices, faces)
        n = len(self.vertices)
        self.G = gradient_operator(self.vertices, self.faces)  # (3m, n)
        self.areas = face_areas(self.vertices, self.faces)
        self._weights = np.repeat(self.areas, 3)
        L = (self.G.T @ sp.diags(self._weights) @ self.G).tocsc()
        self.labels = _components(self.faces, n)
        n_comp = int(self.labels.max()) + 1
        pinned = np.full(n_comp, -1, dtype=np.int64)
        pinned[self.labels[::-1]] = np.arange(n)[::-1]  # the first vertex of each component
        self.pinned = pinned
        self.free = np.setdiff1d(np.arange(n), pinned)
        mass = np.zeros(n)
        np.add.at(mass, self.faces.ravel(), np.repeat(self.areas / 3.0, 3))
        self._mass = np.where(np.bincount(self.labels, weights=mass, minlength=n_comp)[self.labels] > 0, mass, 1.0)
        self._comp_mass = np.bincount(self.labels, weights=self._mass, minlength=n_comp)
        self._rest_centroids = self.centroids(self.vertices)
        self._L_free = L[self.free][:, self.free].tocsc()
        self._lu = splu(self._L_free) if len(self.free) else None
        self._GX = (self.G @ self.vertices).reshape(-1, 3, 3)  # per face: the projector on its plane

    @property
    def n_components(self) -> int:
        return len(self.pinned)

    def centroids(self, X: np.ndarray) -> np.ndarray:
        """Area-weighted centroid of every connected component of positions ``X (n, 3)``."""
        w = self._mass[:, None] * X
        return np.stack([np.bincount(self.labels, weights=w[:, k], minlength=self.n_components)
                         for k in range(3)], 1) / self._comp_mass[:, None]

    def rhs(self, Q: np.ndarray) -> np.ndarray:
        """Target per-face gradients ``B_t = (G X)_t Q_t^T`` stacked ``(3m, 3)``."""
        Q = np.asarray(Q, dtype=np.float64)
        if Q.shape != (len(self.faces), 3, 3):
            raise ValueError(f"need one 3x3 gradient per face: expected shape {(len(self.faces), 3, 3)}, "
                             f"got {Q.shape}.")
        return (self._GX @ np.transpose(Q, (0, 2, 1))).reshape(-1, 3)

    def solve(self, Q: np.ndarray, shift=None, centroids=None) -> np.ndarray:
        """New positions ``(n, 3)`` whose per-face gradients fit ``Q (m, 3, 3)`` best.

        Translation: each component's area-weighted centroid is put at ``centroids``
        (``(n_components, 3)`` or ``(3,)``) when given, else at its rest centroid plus ``shift``
        (``(3,)`` or ``(n_components, 3)``; default zero).
        """
        b = self.G.T @ (self._weights[:, None] * self.rhs(Q))  # (n, 3) divergence
        X = np.zeros_like(self.vertices)
        if self._lu is not None:
            X[self.free] = self._lu.solve(np.ascontiguousarray(b[self.free]))
        if centroids is None:
            centroids = self._rest_centroids + (0.0 if shift is None else np.asarray(shift, dtype=np.float64))
        centroids = np.broadcast_to(np.asarray(centroids, dtype=np.float64), (self.n_components, 3))
        return X + (centroids - self.centroids(X))[self.labels]


def solve_from_gradients(vertices: np.ndarray, faces: np.ndarray, Q: np.ndarray, shift=None) -> np.ndarray:
    """One-call :class:`PoissonSolver`: positions of the mesh ``(vertices, faces)`` deformed so that
    its per-face gradients fit ``Q (m, 3, 3)``, centroids kept (plus ``shift``)."""
    return PoissonSolver(vertices, faces).solve(Q, shift=shift)
