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


def two_columns(text: str, path, what: str) -> list[list[str]]:
    """The two fields of each line of a text file (spaces or a comma between them; ``#``
    comments and blank lines skipped); a line with another count raises :class:`DatasetError`
    naming the file, the line and ``what`` two fields were expected."""
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.replace(",", " ").split()
        if len(fields) != 2:
            raise DatasetError(f"{path}:{n}: expected two {what}, got {line!r}.")
        rows.append(fields)
    return rows


def read_landmarks(path) -> np.ndarray:
    """Landmark pairs from a file, as an ``(L, 2)`` array of 0-based ``(source vertex, target
    vertex)``: JSON (``{"pairs": [[i, j], ...]}`` or ``[[i, j], ...]``) or text with two
    integers per line (``#`` comments and blank lines ignored). Raises :class:`DatasetError`
    naming the file and what is wrong (ranges are checked against the shapes later)."""
    import json

    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such landmark file.")
    text = path.read_text(errors="replace")
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise DatasetError(f"{path}: not valid JSON ({exc}).") from None
        pairs = data.get("pairs") if isinstance(data, dict) else data
        if pairs is None:
            raise DatasetError(f'{path}: expected {{"pairs": [[source vertex, target vertex], ...]}}.')
    else:
        pairs = two_columns(text, path, "vertex indices (source target)")
    try:
        a = np.asarray(pairs, dtype=np.float64)
    except (TypeError, ValueError):
        raise DatasetError(f"{path}: each landmark is a pair of vertex indices [source, target].") from None
    if a.size == 0:
        raise DatasetError(f"{path}: no landmark pairs in the file.")
    if a.ndim != 2 or a.shape[1] != 2:
        raise DatasetError(f"{path}: each landmark is a pair of vertex indices [source, target].")
    if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)) or a.min() < 0:
        raise DatasetError(f"{path}: landmark vertex indices must be whole numbers >= 0 (0-based).")
    return a.astype(np.int64)
