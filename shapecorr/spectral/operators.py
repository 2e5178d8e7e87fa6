"""Differential operators on triangle meshes used by the functional-map energies.

- :func:`face_gradients`: per-face gradient of vertex functions.
- :func:`orientation_operators`: for each descriptor ``f``, the operator
  ``g -> <n x grad f, grad g>`` expressed in a spectral basis (Ren et al. 2018). A map that
  preserves orientation commutes with them; a left-right flip anti-commutes.
- :func:`multiplication_operators`: ``g -> f g`` in the basis (descriptor commutativity).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..core.orientation import outward_sign


def face_gradient_basis(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of the three hat functions of each face: ``(m, 3, 3)`` (face, corner, xyz),
    with the unit face normals ``(m, 3)`` and face areas ``(m,)``."""
    v = vertices[faces]  # (m, 3 corners, 3)
    n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    dbl_area = np.linalg.norm(n, axis=1)
    dbl_area = np.maximum(dbl_area, 1e-30)
    normals = n / dbl_area[:, None]
    grads = np.empty_like(v)
    for c in range(3):
        e = v[:, (c + 2) % 3] - v[:, (c + 1) % 3]  # edge opposite corner c
        grads[:, c] = np.cross(normals, e) / dbl_area[:, None]
    return grads, normals, 0.5 * dbl_area


def face_gradients(vertices, faces, funcs: np.ndarray, _basis=None) -> np.ndarray:
    """Per-face gradients of vertex functions ``funcs (n, p)`` -> ``(m, 3, p)``."""
    grads, _, _ = _basis if _basis is not None else face_gradient_basis(vertices, faces)
    vals = funcs[faces]  # (m, 3, p)
    return np.einsum("mcx,mcp->mxp", grads, vals)


def orientation_operators(vertices: np.ndarray, faces: np.ndarray, descr: np.ndarray,
                          evecs: np.ndarray, orientation_sign: float = 1.0) -> np.ndarray:
    """Orientation operators of descriptors ``descr (n, p)`` in the basis ``evecs (n, k)``.

    Returns ``(p, k, k)``: ``O[f] = Phi^T A (<n x grad f, grad Phi>)`` where ``A`` spreads each
    face value over its corners with area/3 weights (the weak form, so ``O`` pairs with an
    M-orthonormal basis). ``orientation_sign`` flips the normals of inward-oriented meshes.
    """
    basis = face_gradient_basis(vertices, faces)
    _, normals, areas = basis
    normals = normals * orientation_sign
    grad_f = face_gradients(vertices, faces, descr, basis)  # (m, 3, p)
    grad_phi = face_gradients(vertices, faces, evecs, basis)  # (m, 3, k)
    rot = np.cross(normals[:, :, None], grad_f, axisa=1, axisb=1, axisc=1)  # (m, 3, p)
    n = vertices.shape[0]
    m = faces.shape[0]
    spread = sp.csr_matrix((np.repeat(areas / 3.0, 3), (faces.reshape(-1), np.repeat(np.arange(m), 3))),
                           shape=(n, m))
    phi_spread = (spread.T @ evecs)  # (m, k): area/3-weighted sum of Phi over each face's corners
    # O[p, a, b] = sum_t phi_spread[t, a] * <rot[t, :, p], grad_phi[t, :, b]>
    out = np.empty((descr.shape[1], evecs.shape[1], evecs.shape[1]))
    for p in range(descr.shape[1]):  # a loop keeps memory at O(m k), not O(p m k)
        inner = np.einsum("tx,txb->tb", rot[:, :, p], grad_phi)  # (m, k)
        out[p] = phi_spread.T @ inner
    return out


def multiplication_operators(descr: np.ndarray, evecs: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """``D[f] = Phi^T M diag(f) Phi`` for each descriptor column: ``(p, k, k)``.

    Computed in blocks of vertices (about 32 MB of intermediate each), so memory stays
    ``O(p k^2)`` plus a block, not ``O(n p k)``.
    """
    n, k = evecs.shape
    p = descr.shape[1]
    out = np.zeros((p * k, k))
    block = max(1, (32 * 2 ** 20) // (8 * p * k))
    for start in range(0, n, block):
        sl = slice(start, start + block)
        e = evecs[sl]
        weighted = (e * mass[sl, None])[:, None, :] * descr[sl, :, None]  # (b, p, k)
        out += weighted.reshape(len(e), p * k).T @ e
    return out.reshape(p, k, k)


def orientation_sign(vertices: np.ndarray, faces: np.ndarray) -> float:
    """+1 if the faces are oriented outward, -1 if inward (the signed volume about the centroid,
    where it tells; an open sheet keeps its winding: +1). See
    :func:`shapecorr.core.orientation.outward_sign`."""
    return outward_sign(vertices, faces)
