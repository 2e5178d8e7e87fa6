"""Best rigid (and similarity) motion between two point sets with known pairs: Kabsch / Umeyama.

One implementation for the registration's initial alignment, deformation transfer's frame, the
morph's end frame and the benchmarks' rigid alignment to the truth.
"""

from __future__ import annotations

import numpy as np

__all__ = ["best_rotation", "similarity_transform"]


def similarity_transform(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None,
                         scale: float | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """``(s, R, t)`` minimizing ``sum w |s R src + t - dst|^2`` (Umeyama 1991), ``R`` a rotation
    (det +1, reflections excluded); with ``scale`` given, ``s`` is that and only ``R, t`` are fitted.
    ``weights`` default to uniform."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2:
        raise ValueError(f"need two point sets of the same shape (n, d); got {src.shape} and {dst.shape}.")
    w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mu_s, mu_d = w @ src, w @ dst
    a, b = src - mu_s, dst - mu_d
    U, S, Vt = np.linalg.svd((b * w[:, None]).T @ a)
    D = np.ones(src.shape[1])
    D[-1] = np.sign(np.linalg.det(U @ Vt)) or 1.0
    R = (U * D) @ Vt
    var = (w * (a ** 2).sum(1)).sum()
    s = float((S * D).sum() / max(var, 1e-300)) if scale is None else float(scale)
    return s, R, mu_d - s * R @ mu_s


def best_rotation(X: np.ndarray, Y: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """The rotation ``R`` (det +1) minimizing ``sum_i w_i |R (x_i - x_bar) - (y_i - y_bar)|^2`` (Kabsch)."""
    return similarity_transform(X, Y, weights, scale=1.0)[1]
