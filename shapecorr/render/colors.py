"""Colour schemes that make a correspondence visible.

Colour the source with :func:`correspondence_colors`, then give each target vertex the colour
of its matched source vertex: ``target_colors = source_colors[match.p2p_21]``. A good map shows
the same pattern in the same places on both shapes.
"""

from __future__ import annotations

import numpy as np

from ..core import Shape

COLOR_SCHEMES = ("xyz", "spectral", "stripes", "geodesic")


def _unit(x: np.ndarray, lo_q: float = 0.0, hi_q: float = 1.0, rows=None) -> np.ndarray:
    """Each column scaled to [0, 1] between the given quantiles (of ``rows`` only, if given)."""
    ref = x if rows is None else x[rows]
    lo = np.quantile(ref, lo_q, axis=0)
    hi = np.quantile(ref, hi_q, axis=0)
    return np.clip((x - lo) / np.maximum(hi - lo, 1e-12), 0.0, 1.0)


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.round(255 * rgb), 0, 255).astype(np.uint8)


def correspondence_colors(shape: Shape, scheme: str = "xyz", *, k: int = 4, n_stripes: int = 8) -> np.ndarray:
    """Per-vertex colours ``(n, 3) uint8`` of ``shape`` for showing a map.

    scheme:
      - ``"xyz"``: bounding-box-normalized coordinates as RGB (simple, depends on the pose);
      - ``"spectral"``: eigenfunctions 1-3 of the Laplace-Beltrami operator as RGB (intrinsic,
        so the same on every pose of the shape, up to sign);
      - ``"stripes"``: bands along the three coordinates (sharp edges show local distortion);
      - ``"geodesic"``: banded geodesic distance from the top-most vertex (intrinsic).
    ``k`` and ``n_stripes`` tune the spectral and banded schemes.
    """
    v = np.asarray(shape.vertices, dtype=np.float64)
    drawn = shape.surface_vertices if shape.is_mesh else None  # a stray vertex does not wash out the colours
    if scheme == "xyz":
        return _to_uint8(_unit(v, rows=drawn))
    if scheme == "stripes":
        t = _unit(v, rows=drawn)
        s = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * n_stripes * t))
        rgb = 0.25 + 0.55 * s + 0.2 * t
        return _to_uint8(rgb / rgb.max())
    if scheme == "spectral":
        from ..spectral import eigenbasis

        norm = shape.normalized() if shape.is_mesh else shape
        basis = eigenbasis(norm, max(k, 4))
        return _to_uint8(_unit(basis.evecs[:, 1:4], 0.02, 0.98))
    if scheme == "geodesic":
        from ..geodesic import geodesic_distances

        d = geodesic_distances(shape, int(np.argmax(v[:, 1])))
        t = _unit(d[:, None])[:, 0]
        band = 0.65 + 0.35 * (np.sin(2 * np.pi * n_stripes * t) > 0)
        import matplotlib

        rgb = matplotlib.colormaps["viridis"](t)[:, :3] * band[:, None]
        return _to_uint8(rgb)
    raise ValueError(f"unknown colour scheme {scheme!r}; choose one of {', '.join(COLOR_SCHEMES)}.")
