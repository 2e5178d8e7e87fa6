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

Each term is divided by a typical size so that the weights are scale-free. Two choices
(:attr:`FmapWeights.scales`):

* ``"frobenius"``: the descriptor term by ``||A||^2``, the Laplacian mask by its Frobenius
  norm, the operator terms by the mean diagonal of their normal matrices.
* ``"canonical"``: the normalizers of pyFM's ``canonical_taus`` (its default,
  ``normalize_weights=True``), which count the *effective* number of independent descriptors
  ``p_eff = (tr G)^2 / ||G||_F^2`` (``G`` the Gram matrix of the projected descriptors without
  the constant mode): the descriptor term by ``||A[1:]||^2 / p_eff`` (times
  ``min(k1, k2) / k1``), the mask by its mean times ``min(k1, k2)``, the operator terms by their
  normal matrices' mean diagonal times ``min(k1, k2) / p_eff`` (the orientation term without
  the trace products). The descriptor term is then about ``p_eff`` times stronger against the
  Laplacian term than with ``"frobenius"``.

The Laplacian mask (:attr:`FmapWeights.lap_mask`) is ``(lambda1_j - lambda2_i)^2``
(``"squared"``) or the bounded resolvent mask of Ren et al. 2019 (``"resolvent"``, exponent
``resolvent_gamma``), which has the same zeros but does not let the high frequencies dominate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg


SCALES = ("frobenius", "canonical")
LAP_MASKS = ("squared", "resolvent")


@dataclass(frozen=True)
class FmapWeights:
    """The energy's weights, how its terms are normalized and which Laplacian mask it uses."""

    descr: float = 1.0
    lap: float = 0.01
    dcomm: float = 0.1
    orient: float = 0.0
    reversing: bool = False
    scales: str = "frobenius"
    lap_mask: str = "squared"
    resolvent_gamma: float = 0.5

    def __post_init__(self):
        for name in ("descr", "lap", "dcomm", "orient"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value >= 0):
                raise ValueError(f"weight {name} must be a finite number >= 0, got {value!r}.")
        if self.scales not in SCALES:
            raise ValueError(f"unknown scales {self.scales!r}; use one of {', '.join(SCALES)}.")
        if self.lap_mask not in LAP_MASKS:
            raise ValueError(f"unknown lap_mask {self.lap_mask!r}; use one of {', '.join(LAP_MASKS)}.")
        if not 0 < self.resolvent_gamma <= 1:
            raise ValueError(f"resolvent_gamma must be in (0, 1], got {self.resolvent_gamma!r}.")


def laplacian_mask(evals1: np.ndarray, evals2: np.ndarray, kind: str = "squared", gamma: float = 0.5) -> np.ndarray:
    """``(k2, k1)`` penalty on ``C_ij`` for mismatched eigenvalues: ``(lambda1_j - lambda2_i)^2``
    or the resolvent mask ``|R(lambda1_j) - R(lambda2_i)|^2`` with ``R(x) = 1 / (x^gamma - i)``
    on both spectra divided by their common largest eigenvalue (Ren et al. 2019)."""
    e1, e2 = np.abs(np.asarray(evals1, dtype=float)), np.abs(np.asarray(evals2, dtype=float))
    if kind == "squared":
        return (e1[None, :] - e2[:, None]) ** 2
    top = max(e1.max(initial=0.0), e2.max(initial=0.0), 1e-30)
    g1, g2 = (e1 / top) ** gamma, (e2 / top) ** gamma
    re1, re2, im1, im2 = g1 / (g1 ** 2 + 1), g2 / (g2 ** 2 + 1), 1 / (g1 ** 2 + 1), 1 / (g2 ** 2 + 1)
    return (re1[None, :] - re2[:, None]) ** 2 + (im1[None, :] - im2[:, None]) ** 2


def effective_descriptors(*coefs: np.ndarray) -> float:
    """The effective number of independent descriptors, ``(tr G)^2 / ||G||_F^2`` with ``G`` the
    Gram matrix of the ``(k, p)`` projections without the constant mode, averaged over shapes."""
    values = []
    for F in coefs:
        gram = F[1:].T @ F[1:]
        denom = float(np.sum(gram ** 2))
        values.append(float(np.trace(gram)) ** 2 / denom if denom > 0 else 1.0)
    return float(np.mean(values)) if values else 1.0


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
    canonical = weights.scales == "canonical"
    # "canonical": pyFM's normalizers (the module docstring), through the effective descriptor count
    m, p_eff = min(k1, k2), (max(effective_descriptors(A, B), 1e-12) if canonical else 1.0)
    a_size = m / k1 * np.linalg.norm(A[1:]) ** 2 / p_eff if canonical else np.linalg.norm(A) ** 2
    a_scale = max(a_size, 1e-30)
    H = weights.descr / a_scale * np.kron(A @ A.T, np.eye(k2))
    rhs = weights.descr / a_scale * (B @ A.T).reshape(-1, order="F")
    if weights.lap:
        mask = laplacian_mask(evals1[:k1], evals2[:k2], weights.lap_mask, weights.resolvent_gamma)  # (k2, k1)
        mask = mask / max(m * mask.mean() if canonical else np.linalg.norm(mask), 1e-30)
        H[np.diag_indices(n)] += weights.lap * mask.reshape(-1, order="F")
    op_factor = m / p_eff if canonical else 1.0
    if weights.dcomm and dcomm_ops is not None:
        D1, D2 = dcomm_ops
        Hd = _commutator_normal(D1, D2)
        H += weights.dcomm / max(np.trace(Hd) / n * op_factor, 1e-30) * Hd
    if weights.orient and orient_ops is not None:
        O1, O2 = orient_ops
        sign = -1.0 if weights.reversing else 1.0
        Ho = _commutator_normal(O1, sign * O2)
        # canonical: the operators' squared norms only (pyFM's "skew" size, without the trace products)
        size = (k2 * np.sum(O1 ** 2) + k1 * np.sum(O2 ** 2)) if canonical else np.trace(Ho)
        H += weights.orient / max(size / n * op_factor, 1e-30) * Ho
    H[np.diag_indices(n)] += ridge * max(np.trace(H) / n, 1e-30)
    c = scipy.linalg.solve(H, rhs, assume_a="pos")
    return c.reshape(k2, k1, order="F")
