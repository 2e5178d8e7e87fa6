"""Per-vertex tangent gradients for learned surface features.

A learned feature network needs a notion of direction on the surface that tells left from
right. Intrinsic descriptors (WKS, HKS, the eigenbasis) are identical on the two halves of a
symmetric body; the gradient of a function, expressed in a tangent frame whose handedness
follows the outward normal, is not: the sine of the angle between two gradients changes sign
under a reflection. This module builds, once per shape, two sparse matrices ``Gx, Gy`` with
``(Gx f, Gy f)`` = the gradient of the vertex function ``f`` in each vertex's tangent frame
``(e1, e2 = n x e1)``, by weighted least squares over the vertex's mesh neighbours.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..core.pointcloud import tangent_frames  # noqa: F401 (one home, in the data layer; re-exported)


def gradient_operators(vertices: np.ndarray, edges: np.ndarray, normals: np.ndarray,
                       reg: float = 1e-5) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Sparse ``(Gx, Gy)``, each ``(n, n)``: tangent gradient of a vertex function.

    ``edges`` are undirected ``(m, 2)`` vertex pairs (each used in both directions); for
    vertex i with neighbours j the gradient g solves ``min sum_j w_ij (g . d_ij - (f_j - f_i))^2``
    with ``d_ij`` the edge vector projected onto i's tangent plane, ``w_ij = 1/|d_ij|^2``
    (scale-free) and a ``reg`` ridge relative to the mean weight, so an isolated or degenerate
    neighbourhood gives a zero gradient instead of a division by zero.
    """
    v = np.asarray(vertices, dtype=np.float64)
    n = len(v)
    e = np.asarray(edges, dtype=np.int64)
    src = np.concatenate([e[:, 0], e[:, 1]])
    dst = np.concatenate([e[:, 1], e[:, 0]])
    e1, e2 = tangent_frames(np.asarray(normals, dtype=np.float64))
    vec = v[dst] - v[src]
    d = np.stack([(vec * e1[src]).sum(1), (vec * e2[src]).sum(1)], axis=1)  # (2m, 2)
    w = 1.0 / np.maximum((d ** 2).sum(1), 1e-30)
    # normal matrices A_i = sum_j w d d^T (2x2 per vertex)
    A = np.zeros((n, 2, 2))
    np.add.at(A, src, w[:, None, None] * d[:, :, None] * d[:, None, :])
    count = np.bincount(src, minlength=n).astype(np.float64)
    mean_w = np.bincount(src, weights=w, minlength=n) / np.maximum(count, 1)
    A += (reg * np.maximum(mean_w, 1e-30))[:, None, None] * np.eye(2)[None]
    Ainv = np.linalg.inv(A)
    coef = np.einsum("eab,eb->ea", Ainv[src], w[:, None] * d)  # (2m, 2): weight of (f_j - f_i)
    rows = np.concatenate([src, src])
    cols = np.concatenate([dst, src])
    Gx = sp.csr_matrix((np.concatenate([coef[:, 0], -coef[:, 0]]), (rows, cols)), shape=(n, n))
    Gy = sp.csr_matrix((np.concatenate([coef[:, 1], -coef[:, 1]]), (rows, cols)), shape=(n, n))
    return Gx, Gy
