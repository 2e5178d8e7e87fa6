"""Vertex-index files: ground-truth correspondences (``.vts``, 1-based) and saved maps (0-based)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DatasetError


def read_indices(path, *, one_based: bool, what: str = "ground-truth file") -> np.ndarray:
    """Vertex indices, one per line (extra columns ignored), as 0-based ``int64``.

    ``one_based``: the file counts from 1 (``.vts``) rather than 0 (shapecorr's map files).
    Raises :class:`DatasetError` naming the file for a missing, empty, garbled or
    non-integer file, and for an index below the base.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such {what}.")
    try:
        raw = np.loadtxt(path, dtype=np.float64, ndmin=1)
    except ValueError as exc:
        raise DatasetError(f"{path}: not a list of vertex indices (one integer per line expected): {exc}") from exc
    if raw.ndim != 1:  # several columns: the first holds the vertex index
        raw = raw.reshape(len(raw), -1)[:, 0]
    if raw.size == 0:
        raise DatasetError(f"{path}: the {what} is empty.")
    if not np.all(np.isfinite(raw)) or not np.all(raw == np.round(raw)):
        raise DatasetError(f"{path}: non-integer vertex indices.")
    idx = raw.astype(np.int64) - (1 if one_based else 0)
    if idx.min() < 0:
        base = "1-based" if one_based else "0-based"
        raise DatasetError(f"{path}: vertex index {int(idx.min()) + one_based} is below the first vertex; "
                           f"this file is read as {base}.")
    return idx


def read_vts(path, n_vertices: int | None = None) -> np.ndarray:
    """Read a ``.vts`` file (1-based vertex indices, one per line) as 0-based ``int64``.

    With ``n_vertices``, indices are checked to lie in ``0..n_vertices-1``.
    """
    idx = read_indices(path, one_based=True)
    if n_vertices is not None and idx.max() >= n_vertices:
        raise DatasetError(f"{path}: vertex index {int(idx.max()) + 1} but the shape has only {n_vertices} "
                           "vertices; is this the ground truth of another mesh?")
    return idx
