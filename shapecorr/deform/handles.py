"""Handle files for ``shapecorr deform``: which vertices stay and where others go.

The format (JSON, coordinates in the shape file's own units)::

    {"fixed": [0, 1, 2, 17],
     "moved": [[250, 0.1, 0.5, -0.2], [251, 0.12, 0.5, -0.2]]}

``fixed``: vertex ids (0-based) that keep their position; ``moved``: ``[vertex id, x, y, z]``
rows, the new position of each moved vertex. Either list may be absent or empty, not both.
Everything is checked against the shape before any work, and every problem is reported as
one :class:`HandleFileError` naming the file, the entry and the fix.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..core.errors import ShapecorrError

KEYS = ("fixed", "moved")


class HandleFileError(ShapecorrError, ValueError):
    """A handle file that cannot be used (unreadable, malformed, or ids the shape lacks)."""


class Handles(NamedTuple):
    """Validated handles: ``fixed (f,)`` and ``moved_ids (k,)`` vertex ids, ``moved_positions (k, 3)``."""

    fixed: np.ndarray
    moved_ids: np.ndarray
    moved_positions: np.ndarray

    def to_json(self) -> dict:
        """The handle-file layout (the inverse of :func:`parse_handles`)."""
        return {"fixed": [int(i) for i in self.fixed],
                "moved": [[int(i), *map(float, p)] for i, p in zip(self.moved_ids, self.moved_positions)]}


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_id(where: str, i, n: int | None) -> int:
    if not _is_int(i):
        raise HandleFileError(f"{where}: vertex id {json.dumps(i)} is not an integer; give 0-based vertex ids.")
    if i < 0 or (n is not None and i >= n):
        span = f"ids 0..{n - 1}" if n is not None else "ids start at 0"
        raise HandleFileError(f"{where}: vertex id {i} is out of range (the shape has {n} vertices, {span}).")
    return int(i)


def parse_handles(data, n_vertices: int | None = None, *, source: str = "handles") -> Handles:
    """Validate a decoded handle file ``data`` (see the module doc) for a shape with
    ``n_vertices`` vertices; ``source`` names the file in messages."""
    if not isinstance(data, dict):
        raise HandleFileError(f'{source}: expected a JSON object {{"fixed": [...], "moved": [[id, x, y, z], ...]}}, '
                              f"got {type(data).__name__}.")
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise HandleFileError(f"{source}: unknown key {unknown[0]!r}; a handle file has only "
                              f"{' and '.join(map(repr, KEYS))}.")
    fixed_raw = data.get("fixed", [])
    moved_raw = data.get("moved", [])
    if not isinstance(fixed_raw, list):
        raise HandleFileError(f"{source}: 'fixed' must be a list of vertex ids, got {type(fixed_raw).__name__}.")
    if not isinstance(moved_raw, list):
        raise HandleFileError(f"{source}: 'moved' must be a list of [vertex id, x, y, z] rows, "
                              f"got {type(moved_raw).__name__}.")
    fixed = [_check_id(f"{source}: fixed[{k}]", i, n_vertices) for k, i in enumerate(fixed_raw)]
    moved_ids, positions = [], []
    for k, row in enumerate(moved_raw):
        where = f"{source}: moved[{k}]"
        if not isinstance(row, list) or len(row) != 4:
            raise HandleFileError(f"{where}: expected [vertex id, x, y, z], got {json.dumps(row)}.")
        moved_ids.append(_check_id(where, row[0], n_vertices))
        for axis, c in zip("xyz", row[1:]):
            if not _is_number(c):
                raise HandleFileError(f"{where}: {axis} = {json.dumps(c)} is not a finite number.")
        positions.append([float(c) for c in row[1:]])
    if not fixed and not moved_ids:
        raise HandleFileError(f"{source}: no handles; list at least one vertex in 'fixed' or 'moved'.")
    seen: dict[int, str] = {}
    for name, ids in (("fixed", fixed), ("moved", moved_ids)):
        for k, i in enumerate(ids):
            if i in seen:
                also = "twice in 'fixed'" if seen[i] == name == "fixed" else \
                    "twice in 'moved'" if seen[i] == name else "in both 'fixed' and 'moved'"
                raise HandleFileError(f"{source}: {name}[{k}]: vertex {i} is listed {also}; give each vertex once.")
            seen[i] = name
    return Handles(np.asarray(fixed, dtype=np.int64), np.asarray(moved_ids, dtype=np.int64),
                   np.asarray(positions, dtype=np.float64).reshape(-1, 3))


def read_handles(path, n_vertices: int | None = None) -> Handles:
    """Read and validate the handle file at ``path`` (see :func:`parse_handles`)."""
    p = Path(path)
    if not p.exists():
        raise HandleFileError(f"{p}: no such handle file.")
    if p.is_dir():
        raise HandleFileError(f"{p}: is a folder; give a JSON handle file.")
    try:
        data = json.loads(p.read_text())
    except UnicodeDecodeError as exc:
        raise HandleFileError(f"{p}: not a text file ({exc.reason}); a handle file is JSON.") from exc
    except json.JSONDecodeError as exc:
        raise HandleFileError(f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).") from exc
    return parse_handles(data, n_vertices, source=str(p))


def write_handles(handles: Handles, path) -> Path:
    """Write ``handles`` as a handle file."""
    p = Path(path)
    p.write_text(json.dumps(handles.to_json(), indent=1) + "\n")
    return p
