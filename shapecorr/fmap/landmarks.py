"""Landmarks: a few vertex pairs the user knows correspond (nose to nose, tail tip to tail tip).

Where the shapes are far from isometric (a cat and a dog, a cartoon cow and a scanned one) the
automatic map can swap parts that look alike to it (a tail and a hind leg). A few landmarks
settle that, as markers do in Sumner & Popovic's deformation transfer. They enter the match in
three places (:mod:`shapecorr.pipeline`):

- **descriptors**: each landmark gives heat kernels ``h_t(x, landmark)`` at a few diffusion
  times (:func:`landmark_functions`), joined to the solve's own descriptors, so that the initial
  functional map carries "near the nose" to "near the nose";
- **guides** of the ZoomOut's vertex-map steps (the same functions, weighted as
  :func:`shapecorr.fmap.refine.feature_guides` does), which keep every refined map close to
  them;
- **exactly** at the end: each landmark's target vertex goes to its source vertex and back
  (:func:`enforce_landmarks`).

Pure array functions on prepared shapes (centred, unit area): the times are the same on both
shapes, so that the functions compare.
"""

from __future__ import annotations

import numpy as np

from ..core import SettingsError

__all__ = ["LANDMARK_TIMES", "check_landmarks", "enforce_landmarks", "landmark_errors", "landmark_functions",
           "landmark_times"]

#: diffusion times of the landmark functions, in units of ``1 / evals[REFERENCE_EIGENVALUE]`` of
#: the shapes (unit area): from about an eigenfunction's wavelength to most of the shape
LANDMARK_TIMES = (0.5, 1.6, 5.0, 16.0, 50.0)
REFERENCE_EIGENVALUE = 20


def check_landmarks(landmarks, n_source: int, n_target: int) -> np.ndarray:
    """``landmarks`` as an ``(L, 2)`` int64 array of ``(source vertex, target vertex)`` pairs
    (0-based), checked: whole numbers, in range, no vertex paired twice on either side.
    Raises :class:`~shapecorr.core.SettingsError` saying what is wrong."""
    try:
        a = np.asarray(landmarks)
    except Exception as exc:  # ragged lists and the like
        raise SettingsError(f"landmarks: expected (source vertex, target vertex) pairs; {exc}") from None
    if a.size == 0:
        raise SettingsError("landmarks: no pairs given; give at least one (source vertex, target vertex) pair.")
    if a.ndim != 2 or a.shape[1] != 2:
        raise SettingsError(f"landmarks: expected (source vertex, target vertex) pairs, got an array of shape {a.shape}.")
    if not np.issubdtype(a.dtype, np.integer):
        if not np.issubdtype(a.dtype, np.number) or not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise SettingsError("landmarks: vertex indices must be whole numbers (0-based).")
    a = a.astype(np.int64)
    for col, n, side in ((0, n_source, "source"), (1, n_target, "target")):
        bad = np.flatnonzero((a[:, col] < 0) | (a[:, col] >= n))
        if len(bad):
            raise SettingsError(f"landmarks: pair {int(bad[0])} names {side} vertex {int(a[bad[0], col])}, but the "
                                f"{side} has {n} vertices (0-based indices 0..{n - 1}).")
        values, counts = np.unique(a[:, col], return_counts=True)
        if (counts > 1).any():
            raise SettingsError(f"landmarks: {side} vertex {int(values[counts > 1][0])} is in more than one pair; "
                                "each vertex may be paired once.")
    return a


def landmark_times(evals1: np.ndarray, evals2: np.ndarray) -> np.ndarray:
    """The diffusion times of :func:`landmark_functions`, shared by both shapes: :data:`LANDMARK_TIMES`
    over the mean of the two shapes' ``REFERENCE_EIGENVALUE``-th eigenvalue (the last one they
    have, if fewer)."""
    j = min(REFERENCE_EIGENVALUE, len(evals1) - 1, len(evals2) - 1)
    lam = 0.5 * (float(evals1[j]) + float(evals2[j]))
    if not np.isfinite(lam) or lam <= 0:
        raise SettingsError("landmarks: the shapes' eigenvalues are not positive; the landmark functions need a "
                            "connected shape with more than a few vertices.")
    return np.asarray(LANDMARK_TIMES) / lam


def landmark_functions(evals: np.ndarray, evecs: np.ndarray, vertices, times) -> np.ndarray:
    """Heat kernels ``h_t(x, v) = sum_i exp(-t evals_i) phi_i(x) phi_i(v)`` of each landmark vertex
    ``v`` at each time ``t``, from the shape's mass-orthonormal eigenbasis: ``(n, L * T)``, time
    after time, each column divided by its value at its landmark (1 there, falling off with the
    distance from it)."""
    ids = np.asarray(vertices, dtype=np.int64)
    cols = []
    for t in np.asarray(times, dtype=np.float64):
        h = evecs @ (np.exp(-t * np.asarray(evals))[:, None] * evecs[ids].T)  # (n, L)
        peak = h[ids, np.arange(len(ids))]
        cols.append(h / np.where(np.abs(peak) > 1e-300, peak, 1.0))
    return np.concatenate(cols, axis=1)


def enforce_landmarks(p2p_21: np.ndarray, p2p_12: np.ndarray | None, landmarks: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray | None]:
    """Both vertex maps with every landmark pair exact (copies): target vertex ``j`` of a pair
    ``(i, j)`` goes to ``i``, and ``i`` to ``j``."""
    a = np.asarray(landmarks, dtype=np.int64)
    p21 = np.array(p2p_21, dtype=np.int64, copy=True)
    p21[a[:, 1]] = a[:, 0]
    if p2p_12 is None:
        return p21, None
    p12 = np.array(p2p_12, dtype=np.int64, copy=True)
    p12[a[:, 0]] = a[:, 1]
    return p21, p12


def landmark_errors(p2p_21: np.ndarray, landmarks: np.ndarray, source_vertices: np.ndarray) -> np.ndarray:
    """For each pair ``(i, j)``, the distance between where the map sends ``j`` and ``i`` (in the
    units of ``source_vertices``)."""
    a = np.asarray(landmarks, dtype=np.int64)
    v = np.asarray(source_vertices)
    return np.linalg.norm(v[np.asarray(p2p_21)[a[:, 1]]] - v[a[:, 0]], axis=1)
