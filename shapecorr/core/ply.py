"""A PLY reader in NumPy: ASCII and binary (either byte order), faces and triangle strips.

Only what shapecorr uses is returned: vertex positions, per-vertex colours and UVs, and the
faces as triangles. Faces come from a ``face`` element (polygons, fan-triangulated) and/or
from a ``tristrips`` element (strips with ``-1`` restarts, as written by old Stanford and
Cyberware scanners, e.g. ``igea.ply``). Other elements (edges, materials, ...) are skipped.

Elements whose lists all have the length of their first row (the usual case: all triangles,
or one long strip) are read in one ``np.frombuffer`` / one array conversion; lists of mixed
lengths (triangles and quads) fall back to a row loop, correct but slower.

Every problem raises ``ValueError`` with what is wrong; :func:`shapecorr.core.io.load` turns it
into a :class:`ShapeParseError` naming the file. A file that declares faces which cannot be
read is an error, never a silent point cloud.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_INDEX_NAMES = ("vertex_indices", "vertex_index")
_UV_NAMES = (("u", "v"), ("s", "t"), ("texture_u", "texture_v"), ("texture_s", "texture_t"))


@dataclass
class _Property:
    name: str
    dtype: str  # numpy type code without byte order ("f4"); the items' type for a list
    count_dtype: str | None = None  # the list-length type for a list property, else None

    @property
    def is_list(self) -> bool:
        return self.count_dtype is not None


@dataclass
class _Element:
    name: str
    count: int
    properties: list


def read_ply(path: Path) -> dict:
    """``{"vertices", "faces", "vertex_colors", "uv"}`` of a PLY file (faces None for a point cloud)."""
    raw = Path(path).read_bytes()
    fmt, elements, start = _parse_header(raw)
    if fmt == "ascii":
        data = _read_ascii(raw[start:], elements)
    else:
        data = _read_binary(raw, start, elements, "<" if fmt == "binary_little_endian" else ">")
    return _to_shape_data(elements, data)


# ----------------------------------------------------------------------------- header
def _parse_header(raw: bytes):
    end = raw.find(b"end_header")
    if not raw.startswith(b"ply") or end < 0:
        raise ValueError("not a PLY file (no 'ply' magic line or no 'end_header')")
    newline = raw.find(b"\n", end)
    start = len(raw) if newline < 0 else newline + 1
    lines = raw[:end].decode("ascii", errors="strict").splitlines()[1:]
    fmt, elements = None, []
    for line in lines:
        tok = line.split()
        if not tok or tok[0] in ("comment", "obj_info"):
            continue
        if tok[0] == "format":
            fmt = tok[1] if len(tok) > 1 else None
        elif tok[0] == "element":
            if len(tok) != 3:
                raise ValueError(f"bad header line {line!r}")
            elements.append(_Element(tok[1], int(tok[2]), []))
        elif tok[0] == "property":
            if not elements:
                raise ValueError(f"property before any element: {line!r}")
            elements[-1].properties.append(_parse_property(tok, line))
        else:
            raise ValueError(f"unknown header line {line!r}")
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise ValueError(f"unknown PLY format {fmt!r}")
    return fmt, elements, start


def _parse_property(tok: list, line: str) -> _Property:
    try:
        if tok[1] == "list":
            return _Property(tok[4], _TYPES[tok[3]], _TYPES[tok[2]])
        return _Property(tok[2], _TYPES[tok[1]])
    except (IndexError, KeyError):
        raise ValueError(f"bad property line {line!r}") from None


# ----------------------------------------------------------------------------- binary
def _read_binary(raw: bytes, offset: int, elements: list, order: str) -> dict:
    out = {}
    for el in elements:
        if el.count < 0:
            raise ValueError(f"element {el.name!r} has a negative count")
        out[el.name], offset = _binary_element(raw, offset, el, order)
    return out


def _binary_element(raw: bytes, offset: int, el: _Element, order: str):
    """Columns ``{property: array or list of arrays}`` of one element, and the offset after it."""
    if el.count == 0:
        return {p.name: np.zeros(0) for p in el.properties}, offset
    lengths = _first_row_list_lengths(raw, offset, el, order)
    dtype = np.dtype(_fixed_fields(el, lengths, order))
    size = el.count * dtype.itemsize
    if offset + size <= len(raw):
        rows = np.frombuffer(raw, dtype=dtype, count=el.count, offset=offset)
        if all((rows[f"{p.name}#n"] == lengths[p.name]).all() for p in el.properties if p.is_list):
            return {p.name: rows[p.name] for p in el.properties}, offset + size
    elif not any(p.is_list for p in el.properties):
        raise ValueError(f"the file ends inside element {el.name!r} (truncated?)")
    return _binary_rows(raw, offset, el, order)


def _first_row_list_lengths(raw: bytes, offset: int, el: _Element, order: str) -> dict:
    lengths = {}
    for p in el.properties:
        if p.is_list:
            n = int(_scalar(raw, offset, order + p.count_dtype))
            if n < 0:
                raise ValueError(f"negative list length in element {el.name!r}")
            lengths[p.name] = n
            offset += np.dtype(p.count_dtype).itemsize + n * np.dtype(p.dtype).itemsize
        else:
            offset += np.dtype(p.dtype).itemsize
    return lengths


def _fixed_fields(el: _Element, lengths: dict, order: str) -> list:
    fields = []
    for p in el.properties:
        if p.is_list:
            fields.append((f"{p.name}#n", order + p.count_dtype))
            fields.append((p.name, order + p.dtype, (lengths[p.name],)))
        else:
            fields.append((p.name, order + p.dtype))
    return fields


def _binary_rows(raw: bytes, offset: int, el: _Element, order: str):
    """Row-by-row reading for lists of varying length (e.g. triangles mixed with quads)."""
    cols = {p.name: [] for p in el.properties}
    for _ in range(el.count):
        for p in el.properties:
            if p.is_list:
                n = int(_scalar(raw, offset, order + p.count_dtype))
                offset += np.dtype(p.count_dtype).itemsize
                cols[p.name].append(_array(raw, offset, order + p.dtype, n))
                offset += n * np.dtype(p.dtype).itemsize
            else:
                cols[p.name].append(_scalar(raw, offset, order + p.dtype))
                offset += np.dtype(p.dtype).itemsize
    return {p.name: (cols[p.name] if p.is_list else np.asarray(cols[p.name])) for p in el.properties}, offset


def _scalar(raw: bytes, offset: int, dtype: str):
    return _array(raw, offset, dtype, 1)[0]


def _array(raw: bytes, offset: int, dtype: str, n: int) -> np.ndarray:
    if offset + n * np.dtype(dtype).itemsize > len(raw):
        raise ValueError("the file ends before the data its header declares (truncated?)")
    return np.frombuffer(raw, dtype=dtype, count=n, offset=offset)


# ----------------------------------------------------------------------------- ASCII
def _read_ascii(body: bytes, elements: list) -> dict:
    tokens = body.decode("ascii", errors="strict").split()
    out, pos = {}, 0
    for el in elements:
        out[el.name], pos = _ascii_element(tokens, pos, el)
    return out


def _ascii_element(tokens: list, pos: int, el: _Element):
    if el.count == 0:
        return {p.name: np.zeros(0) for p in el.properties}, pos
    widths, lengths, at = [], {}, pos  # the first row's layout
    for p in el.properties:
        if p.is_list:
            lengths[p.name] = int(_number(tokens, at))
            widths.append(1 + lengths[p.name])
        else:
            widths.append(1)
        at += widths[-1]
    width = sum(widths)
    block = tokens[pos:pos + el.count * width]
    if len(block) == el.count * width:
        table = np.asarray(block, dtype=np.float64).reshape(el.count, width)
        cols, c, ok = {}, 0, True
        for p, w in zip(el.properties, widths):
            if p.is_list:
                ok &= bool((table[:, c] == lengths[p.name]).all())
                cols[p.name] = table[:, c + 1:c + w]
            else:
                cols[p.name] = table[:, c]
            c += w
        if ok:
            return cols, pos + el.count * width
    elif not lengths:
        raise ValueError(f"the file ends inside element {el.name!r} (truncated?)")
    return _ascii_rows(tokens, pos, el)


def _ascii_rows(tokens: list, pos: int, el: _Element):
    cols = {p.name: [] for p in el.properties}
    for _ in range(el.count):
        for p in el.properties:
            if p.is_list:
                n = int(_number(tokens, pos))
                if pos + 1 + n > len(tokens):
                    raise ValueError(f"the file ends inside element {el.name!r} (truncated?)")
                cols[p.name].append(np.asarray(tokens[pos + 1:pos + 1 + n], dtype=np.float64))
                pos += 1 + n
            else:
                cols[p.name].append(_number(tokens, pos))
                pos += 1
    return {p.name: (cols[p.name] if p.is_list else np.asarray(cols[p.name])) for p in el.properties}, pos


def _number(tokens: list, pos: int) -> float:
    if pos >= len(tokens):
        raise ValueError("the file ends before the data its header declares (truncated?)")
    return float(tokens[pos])


# ----------------------------------------------------------------------------- to a shape
def _to_shape_data(elements: list, data: dict) -> dict:
    vertex = data.get("vertex")
    if vertex is None or not all(c in vertex for c in "xyz"):
        raise ValueError("no 'vertex' element with x, y and z properties")
    vertices = np.column_stack([np.asarray(vertex[c], dtype=np.float64) for c in "xyz"])
    counts = {el.name: el.count for el in elements}
    tris = []
    for el in elements:
        if el.name == "vertex" or el.count == 0:
            continue
        indices = _index_list(data[el.name])
        if indices is None:
            if el.name in ("face", "tristrips"):
                raise ValueError(f"the {el.count} '{el.name}' entries have no vertex_indices list")
            continue
        tris.append(strips_to_triangles(indices) if "strip" in el.name else polygons_to_triangles(indices))
    faces = np.concatenate(tris) if tris else None
    if faces is not None and len(faces) == 0:
        declared = ", ".join(f"{counts[n]} {n}" for n in counts if n != "vertex")
        raise ValueError(f"the header declares {declared} but they hold no usable triangle")
    return {"vertices": vertices, "faces": faces, "vertex_colors": _colors(vertex),
            "uv": _uv(vertex), "point_normals": _normals(vertex)}


def _index_list(columns: dict):
    for name in _INDEX_NAMES:
        if name in columns:
            return columns[name]
    return None


def polygons_to_triangles(polys) -> np.ndarray:
    """Fan-triangulate polygons given as an ``(m, k)`` array or a list of index arrays."""
    if isinstance(polys, np.ndarray) and polys.ndim == 2:
        if polys.shape[1] < 3:
            raise ValueError(f"faces have only {polys.shape[1]} vertices")
        p = polys.astype(np.int64)
        fans = [p[:, [0, i, i + 1]] for i in range(1, p.shape[1] - 1)]
        return np.stack(fans, axis=1).reshape(-1, 3)  # each polygon's triangles stay together
    out = []
    for poly in polys:
        poly = np.asarray(poly, dtype=np.int64)
        if len(poly) < 3:
            raise ValueError(f"a face has only {len(poly)} vertices")
        out.append(np.stack([np.full(len(poly) - 2, poly[0]), poly[1:-1], poly[2:]], axis=1))
    return np.concatenate(out) if out else np.zeros((0, 3), dtype=np.int64)


def strips_to_triangles(strips) -> np.ndarray:
    """Triangles of triangle strips, each strip a sequence of vertex indices with ``-1``
    restarting a new strip. Triangle ``i`` of a strip is ``(s[i], s[i+1], s[i+2])`` for even
    ``i`` and ``(s[i+1], s[i], s[i+2])`` for odd ``i``, so all keep the first one's winding.
    Triangles with a repeated vertex are dropped: strips use them on purpose to turn corners
    or join strips, they are no surface."""
    rows = list(strips) if not (isinstance(strips, np.ndarray) and strips.ndim == 1) else [strips]
    seq = np.concatenate([np.append(_signed(np.asarray(r).ravel()), -1) for r in rows])
    if len(seq) < 3:
        return np.zeros((0, 3), dtype=np.int64)
    a, b, c = seq[:-2], seq[1:-1], seq[2:]
    i = np.arange(len(a))
    restart = np.maximum.accumulate(np.where(seq == -1, np.arange(len(seq)) + 1, 0))[:-2]
    odd = (i - restart) % 2 == 1  # position within its own strip
    tri = np.stack([np.where(odd, b, a), np.where(odd, a, b), c], axis=1)
    keep = (a >= 0) & (b >= 0) & (c >= 0) & (a != b) & (b != c) & (a != c)
    return tri[keep]


def _signed(indices: np.ndarray) -> np.ndarray:
    """Indices as int64; in an unsigned list the largest value is the ``-1`` restart."""
    if np.issubdtype(indices.dtype, np.unsignedinteger):
        indices = np.where(indices == np.iinfo(indices.dtype).max, -1, indices.astype(np.int64))
    return indices.astype(np.int64)


def _colors(vertex: dict):
    names = [c for c in ("red", "green", "blue", "alpha") if c in vertex]
    if names[:3] != ["red", "green", "blue"]:
        return None
    cols = np.column_stack([np.asarray(vertex[c]) for c in names])
    if np.issubdtype(cols.dtype, np.integer) or (cols.size and cols.max() > 1.0):
        return np.clip(cols, 0, 255).astype(np.uint8)
    return cols.astype(np.float64)


def _normals(vertex: dict):
    """The vertices' ``nx ny nz`` properties as an ``(n, 3)`` array, or None."""
    if not all(c in vertex for c in ("nx", "ny", "nz")):
        return None
    return np.column_stack([np.asarray(vertex[c], dtype=np.float64) for c in ("nx", "ny", "nz")])


def _uv(vertex: dict):
    for u, v in _UV_NAMES:
        if u in vertex and v in vertex:
            return np.column_stack([np.asarray(vertex[u], dtype=np.float64),
                                    np.asarray(vertex[v], dtype=np.float64)])
    return None
