"""The functional-map energy and its exact minimizer.

For ``C = fmap_12 (k2, k1)``::

    E(C) = w_descr ||C A - B||^2                                (descriptor preservation)
         + w_lap   sum_ij C_ij^2 (lambda1_j - lambda2_i)^2 / s  (Laplacian commutativity)
         + w_dcomm sum_f ||C D1_f - D2_f C||^2                  (descriptor commutativity)
         + w_orient sum_f ||C O1_f - sign O2_f C||^2            (orientation preserving, sign=+1,
                                                                 or reversing, sign=-1)

with ``A = Phi1^T M1 F1``, ``B = Phi2^T M2 F2``. Every term is quadratic in ``C``, so the
minimizer solves one symmetric positive definite linear system of size ``k1 k2`` (900 for
k=30): exact, deterministic and faster than the quasi-Newton iterations usually used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg


@dataclass
class FmapWeights:
    descr: float = 1.0
    lap: float = 0.01
    dcomm: float = 0.1
    orient: float = 0.0
    reversing: bool = False


def _commutator_normal(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Normal matrix of ``C -> sum_f (C X_f - Y_f C)`` on column-major ``vec(C)``.

    ``X (p, k1, k1)``, ``Y (p, k2, k2)``; returns ``(k1 k2, k1 k2)``.
    """
    p, k1, _ = X.shape
    k2 = Y.shape[1]
    eye1, eye2 = np.eye(k1), np.eye(k2)
    XXt = np.einsum("fab,fcb->ac", X, X)
    YtY = np.einsum("fba,fbc->ac", Y, Y)
    H = np.kron(XXt, eye2) + np.kron(eye1, YtY)
    # cross terms: sum_f kron(X_f, Y_f) + its transpose
    cross = (X.reshape(p, k1 * k1).T @ Y.reshape(p, k2 * k2)).reshape(k1, k1, k2, k2)
    cross = cross.transpose(0, 2, 1, 3).reshape(k1 * k2, k1 * k2)
    return H - cross - cross.T


def solve_fmap(descr1_coefs: np.ndarray, descr2_coefs: np.ndarray, evals1: np.ndarray, evals2: np.ndarray,
               weights: FmapWeights, *, dcomm_ops: tuple | None = None, orient_ops: tuple | None = None,
               ridge: float = 1e-10) -> np.ndarray:
    """Minimize the energy above exactly. Returns ``fmap_12 (k2, k1)``.

    ``descr*_coefs`` are ``(k, p)`` projections of the descriptors; ``dcomm_ops`` and
    ``orient_ops`` are pairs ``(ops1 (p, k1, k1), ops2 (p, k2, k2))``.
    """
    A, B = np.asarray(descr1_coefs), np.asarray(descr2_coefs)
    k1, k2 = A.shape[0], B.shape[0]
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"both shapes need the same number of descriptors, got {A.shape[1]} and {B.shape[1]}.")
    if len(evals1) < k1 or len(evals2) < k2:
        raise ValueError("fewer eigenvalues than basis functions.")
    n = k1 * k2
    # scale-free weights: each term normalized by a typical size
    a_scale = max(np.linalg.norm(A) ** 2, 1e-30)
    H = weights.descr / a_scale * np.kron(A @ A.T, np.eye(k2))
    rhs = weights.descr / a_scale * (B @ A.T).reshape(-1, order="F")
    if weights.lap:
        sq = (np.asarray(evals1[:k1])[None, :] - np.asarray(evals2[:k2])[:, None]) ** 2  # (k2, k1)
        sq = sq / max(np.linalg.norm(sq), 1e-30)
        H[np.diag_indices(n)] += weights.lap * sq.reshape(-1, order="F")
    if weights.dcomm and dcomm_ops is not None:
        D1, D2 = dcomm_ops
        Hd = _commutator_normal(D1, D2)
        H += weights.dcomm / max(np.trace(Hd) / n, 1e-30) * Hd
    if weights.orient and orient_ops is not None:
        O1, O2 = orient_ops
        sign = -1.0 if weights.reversing else 1.0
        Ho = _commutator_normal(O1, sign * O2)
        H += weights.orient / max(np.trace(Ho) / n, 1e-30) * Ho
    H[np.diag_indices(n)] += ridge * max(np.trace(H) / n, 1e-30)
    c = scipy.linalg.solve(H, rhs, assume_a="pos")
    return c.reshape(k2, k1, order="F")
