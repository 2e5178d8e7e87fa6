"""Reading and writing shapes.

Meshes: OFF, OBJ (UVs, material and texture reference kept), PLY, STL, GLB/GLTF.
Point clouds: PLY without faces, XYZ / PTS / TXT (one point per line, extra columns ignored
except RGB in columns 4-6 of XYZ-like files when they look like colours, and normals in columns
4-6 (or 7-9 after colours) when every row there is a unit vector). A point cloud's normals (PLY
``nx ny nz``, or those columns) are kept as :attr:`Shape.point_normals`; unusable ones (zero,
NaN, another count) are dropped with a warning and estimated instead.

Vertex order is never changed and duplicate vertices are never merged unless
``merge_duplicates=True`` is asked for. Polygons are fan-triangulated; PLY triangle strips
are read as triangles (see :mod:`shapecorr.core.ply`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from .errors import (
    EmptyShapeError,
    ShapeError,
    ShapeFileNotFoundError,
    ShapeParseError,
    UnsupportedFormatError,
)
from .ply import read_ply
from .shape import Shape, ShapeIssue

MESH_FORMATS = (".off", ".obj", ".ply", ".stl", ".glb", ".gltf")
POINT_FORMATS = (".xyz", ".pts", ".txt")
READ_FORMATS = MESH_FORMATS + POINT_FORMATS
WRITE_FORMATS = (".off", ".obj", ".ply", ".stl", ".xyz", ".txt")


def load(path, *, strict: bool = False, merge_duplicates: bool = False, normalize: bool = False,
         warn: bool = True) -> Shape:
    """Load a mesh or point cloud.

    Imperfect input is handled, not refused: degenerate faces are dropped; vertices used by
    no face, duplicate vertices, several components, boundaries and non-manifold edges are
    kept and handled by the Laplacian. Each kind found gives one :class:`ShapeWarning`
    ``FILE: what was found; what was done`` (see :meth:`Shape.issues`). Vertex count and order
    are never changed (correspondence files index vertices), unless ``merge_duplicates``.
    Unusable input (no vertices, NaN coordinates, face indices out of range, a garbled file)
    raises one :class:`ShapeError` naming the file.

    Parameters
    ----------
    path : file to read; the format follows the extension.
    strict : refuse imperfect input instead: raise the :class:`ImperfectShapeError` subclass
        of the first issue found (:class:`DegenerateFacesError`, ...), its message listing all.
    merge_duplicates : merge vertices at identical positions (renumbers vertices!).
    normalize : return the shape centred and scaled to unit area (see :meth:`Shape.normalized`).
    warn : emit the :class:`ShapeWarning` of each handled issue.
    """
    path = Path(path)
    data = _read(path)
    data.setdefault("name", path.stem)
    notes = data.pop("notes", [])  # handled oddities of the file itself (a missing .mtl, ...)
    data["point_normals"], dropped = _usable_normals(data.pop("point_normals", None), data)
    notes += dropped
    shape = Shape(**data, path=path, validate=False)
    shape.validate()
    if merge_duplicates:
        shape = merge_duplicate_vertices(shape)
    issues = shape.issues()
    if strict and issues:
        raise shape.refuse(issues)
    shape = shape.repaired()
    if warn:
        shape.warn_issues(notes + issues)
    if normalize:
        shape = shape.normalized()
    return shape


def _read(path: Path) -> dict:
    """The raw arrays of a shape file (checks that it exists and has a known format)."""
    if not path.exists():
        raise ShapeFileNotFoundError("no such file; check the path (relative paths are resolved "
                                     f"from {Path.cwd()}).", path)
    if path.is_dir():
        raise ShapeError("this is a folder, not a shape file.", path)
    ext = path.suffix.lower()
    if ext not in READ_FORMATS:
        raise UnsupportedFormatError(
            f"unknown shape format {ext or '(no extension)'!r}; shapecorr reads "
            f"{', '.join(READ_FORMATS)}. Convert the file (e.g. with MeshLab) or rename it if "
            "the extension is wrong.", path)
    if path.stat().st_size == 0:
        raise EmptyShapeError("the file is empty (0 bytes).", path)
    try:
        if ext == ".off":
            return _read_off(path)
        if ext == ".obj":
            return _read_obj(path)
        if ext == ".ply":
            return read_ply(path)
        if ext in POINT_FORMATS:
            return _read_points(path)
        return _read_trimesh(path, ext)
    except ShapeError:
        raise
    except (ValueError, IndexError, UnicodeDecodeError, KeyError, TypeError, EOFError) as exc:
        raise ShapeParseError(f"could not parse this {ext[1:].upper()} file ({exc}); it is garbled, "
                              "truncated or not really in this format.", path) from exc


def _usable_normals(normals, data: dict) -> tuple[np.ndarray | None, list[ShapeIssue]]:
    """A point cloud's normals from its file if every point has a finite, non-zero one (then
    scaled to unit length), else None and a note saying why they are ignored; meshes ignore them."""
    if normals is None or data.get("faces") is not None:
        return None, []
    n = np.asarray(normals, dtype=np.float64)
    points = len(data["vertices"])
    if n.shape != (points, 3):
        why = f"the file's normals have shape {n.shape} for {points} points"
    else:
        length = np.linalg.norm(n, axis=1)
        bad = int((~np.isfinite(length) | (length < 1e-12)).sum())
        if not bad:
            return n / length[:, None], []
        why = f"{bad} of the file's {points} point normals are zero or not finite"
    return None, [ShapeIssue("unusable_normals", why, "the normals are estimated from the points instead",
                             ShapeParseError)]


def merge_duplicate_vertices(shape: Shape) -> Shape:
    """Merge vertices at identical positions into the first of them (renumbers vertices; only
    on request). The kept vertices stay in their order."""
    rep = shape.welded_index
    keep = np.flatnonzero(rep == np.arange(shape.n_vertices))
    if len(keep) == shape.n_vertices:
        return shape
    new_index = np.empty(shape.n_vertices, dtype=np.int64)
    new_index[keep] = np.arange(len(keep))
    new_index = new_index[rep]
    faces = None if shape.faces is None else new_index[shape.faces]
    colors = None if shape.vertex_colors is None else shape.vertex_colors[keep]
    normals = None if shape.point_normals is None else shape.point_normals[keep]
    uv = shape.uv
    if uv is not None and shape.face_uv is None and len(uv) == shape.n_vertices:
        uv = uv[keep]
    return shape.copy(vertices=shape.vertices[keep], faces=faces, vertex_colors=colors, uv=uv, point_normals=normals)


# ----------------------------------------------------------------------------- readers
def _fan(polys: list[list[int]]) -> np.ndarray:
    tris = []
    for p in polys:
        if len(p) < 3:
            raise ValueError(f"a face has only {len(p)} vertices")
        for i in range(1, len(p) - 1):
            tris.append((p[0], p[i], p[i + 1]))
    return np.asarray(tris, dtype=np.int64).reshape(-1, 3)


def _read_off_fast(text: str):
    """Plain triangle OFF without comments or colours, parsed in bulk (None if not that)."""
    if "#" in text:
        return None
    tok = text.split()
    if not tok or tok[0] != "OFF" or len(tok) < 4:
        return None
    try:
        nv, nf = int(tok[1]), int(tok[2])
    except ValueError:
        return None
    start = 4
    end_v = start + 3 * nv
    if nv == 0 or len(tok) != end_v + 4 * nf:
        return None
    faces = np.array(tok[end_v:], dtype=np.int64).reshape(nf, 4) if nf else None
    if faces is not None and not (faces[:, 0] == 3).all():
        return None
    verts = np.array(tok[start:end_v], dtype=np.float64).reshape(nv, 3)
    return {"vertices": verts, "faces": None if faces is None else faces[:, 1:].copy(), "vertex_colors": None}


def _read_off(path: Path) -> dict:
    text = path.read_text(errors="strict")
    fast = _read_off_fast(text)
    if fast is not None:
        return fast
    tokens_lines = [ln.split("#", 1)[0].split() for ln in text.splitlines()]
    lines = [t for t in tokens_lines if t]
    if not lines:
        raise EmptyShapeError("the file holds no data.", path)
    head = lines[0]
    has_color = False
    if head[0].upper().endswith("OFF"):
        has_color = "C" in head[0].upper()[:-3]
        counts = head[1:] if len(head) > 1 else None
        rest = lines[1:]
        if counts is None:
            counts, rest = rest[0], rest[1:]
    else:
        raise ValueError("missing 'OFF' header")
    nv, nf = int(counts[0]), int(counts[1])
    if nv == 0:
        raise EmptyShapeError("the OFF header declares 0 vertices.", path)
    if len(rest) < nv + nf:
        raise ValueError(f"header declares {nv} vertices and {nf} faces but the file has only "
                         f"{len(rest)} data lines (truncated?)")
    vrows = rest[:nv]
    try:
        verts = np.array([r[:3] for r in vrows], dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"bad vertex line ({exc})") from exc
    if verts.shape != (nv, 3):
        raise ValueError("a vertex line has fewer than 3 coordinates")
    colors = None
    if has_color and all(len(r) >= 6 for r in vrows):
        colors = np.array([r[3:7] for r in vrows], dtype=np.float64)
    frows = rest[nv:nv + nf]
    faces = None
    if nf:
        if all(r[0] == "3" and len(r) >= 4 for r in frows):
            faces = np.array([r[1:4] for r in frows], dtype=np.int64)
        else:
            polys = []
            for r in frows:
                k = int(r[0])
                if len(r) < k + 1:
                    raise ValueError("a face line lists fewer vertices than it declares")
                polys.append([int(x) for x in r[1:k + 1]])
            faces = _fan(polys)
    if colors is not None and colors.max() > 1.0:
        colors = colors.clip(0, 255).astype(np.uint8)
    return {"vertices": verts, "faces": faces, "vertex_colors": colors}


def _obj_index(tok: str, n: int) -> int:
    i = int(tok)
    return i - 1 if i > 0 else n + i


def _read_obj(path: Path) -> dict:
    verts, colors, uvs = [], [], []
    polys, poly_uv = [], []
    mtllib = None
    material = None
    notes = []
    for raw in path.read_text(errors="strict").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        tag = parts[0]
        if tag == "v":
            if len(parts) < 4:
                raise ValueError(f"vertex line with fewer than 3 coordinates: {raw!r}")
            verts.append(parts[1:4])
            if len(parts) >= 7:
                colors.append(parts[4:7])
        elif tag == "vt":
            uvs.append(parts[1:3])
        elif tag == "f":
            nv, nt = len(verts), len(uvs)
            idx, tidx = [], []
            for corner in parts[1:]:
                fields = corner.split("/")
                idx.append(_obj_index(fields[0], nv))
                if len(fields) > 1 and fields[1]:
                    tidx.append(_obj_index(fields[1], nt))
            polys.append(idx)
            poly_uv.append(tidx if len(tidx) == len(idx) else None)
        elif tag == "mtllib" and len(parts) > 1:
            mtllib = line.split(None, 1)[1]
        elif tag == "usemtl" and len(parts) > 1 and material is None:
            material = parts[1]
    if not verts:
        raise EmptyShapeError("the OBJ file has no 'v' lines.", path)
    vertices = np.asarray(verts, dtype=np.float64)
    faces = _fan(polys) if polys else None
    uv = face_uv = None
    if uvs and polys and all(t is not None for t in poly_uv):
        uv = np.asarray(uvs, dtype=np.float64)
        face_uv = _fan(poly_uv)
    vertex_colors = None
    if colors and len(colors) == len(verts):
        vertex_colors = np.asarray(colors, dtype=np.float64)
        if vertex_colors.max() > 1.0:
            vertex_colors = vertex_colors.clip(0, 255).astype(np.uint8)
    texture = None
    if mtllib:
        mtl_path = path.parent / mtllib
        if not mtl_path.exists():
            notes.append(ShapeIssue("missing_material", f"material library {mtllib} not found",
                                    "texture ignored", None))
        texture, mat_name = _texture_from_mtl(mtl_path, material)
        material = material or mat_name
    return {"vertices": vertices, "faces": faces, "uv": uv, "face_uv": face_uv,
            "vertex_colors": vertex_colors, "texture": texture, "material_name": material,
            "notes": notes}


def _texture_from_mtl(mtl_path: Path, material: str | None):
    """Return (texture path or None, material name) from a .mtl file (missing is tolerated)."""
    if not mtl_path.exists():
        return None, material
    current, found, first = None, {}, None
    for raw in mtl_path.read_text(errors="replace").splitlines():
        parts = raw.split("#", 1)[0].split()
        if not parts:
            continue
        if parts[0] == "newmtl" and len(parts) > 1:
            current = parts[1]
            first = first or current
        elif parts[0] == "map_Kd" and len(parts) > 1 and current:
            found[current] = parts[-1]
    name = material if material in found else (first if first in found else None)
    if name is None:
        return None, material
    return (mtl_path.parent / found[name]), name


def _read_points(path: Path) -> dict:
    rows = []
    for raw in path.read_text(errors="strict").splitlines():
        s = raw.split("#", 1)[0].replace(",", " ").split()
        if s:
            rows.append(s)
    if not rows:
        raise EmptyShapeError("the file holds no points.", path)
    # PTS files may start with a point count.
    if len(rows[0]) == 1 and len(rows) > 1:
        rows = rows[1:]
    width = min(len(r) for r in rows)
    if width < 3:
        raise ValueError("each line needs at least 3 numbers (x y z)")
    data = np.asarray([r[:width] for r in rows], dtype=np.float64)
    colors = normals = None
    if width >= 6:
        c = data[:, 3:6]
        if (c >= 0).all() and (c <= 255).all() and (c == np.round(c)).all() and c.max() > 1:
            colors = c.astype(np.uint8)
        elif _unit_rows(c):
            normals = c
    if width >= 9 and colors is not None and _unit_rows(data[:, 6:9]):
        normals = data[:, 6:9]
    return {"vertices": data[:, :3], "faces": None, "vertex_colors": colors, "point_normals": normals}


def _unit_rows(columns: np.ndarray) -> bool:
    """Whether every row of three columns is a unit vector (written with a few digits)."""
    return bool(len(columns)) and bool(np.all(np.abs(np.linalg.norm(columns, axis=1) - 1.0) < 0.01))


def _read_trimesh(path: Path, ext: str) -> dict:
    import trimesh

    try:
        loaded = trimesh.load(str(path), process=False, maintain_order=True, force=None)
    except Exception as exc:  # trimesh raises many types for garbled files
        raise ShapeParseError(f"could not parse this {ext[1:].upper()} file ({type(exc).__name__}: {exc}).",
                              path) from exc
    if isinstance(loaded, trimesh.Scene):
        geoms = [g for g in loaded.dump(concatenate=False)] if hasattr(loaded, "dump") else list(loaded.geometry.values())
        meshes = [g for g in geoms if isinstance(g, trimesh.Trimesh)]
        clouds = [g for g in geoms if isinstance(g, trimesh.PointCloud)]
        if meshes:
            loaded = trimesh.util.concatenate(meshes) if len(meshes) > 1 else meshes[0]
        elif clouds:
            loaded = clouds[0]
        elif ext == ".stl":  # trimesh gives an empty scene for unreadable bytes
            raise ShapeParseError(f"could not parse this {ext[1:].upper()} file: no mesh or points in it "
                                  "(garbled, truncated or not really in this format).", path)
        else:
            raise EmptyShapeError("the scene holds no mesh or point cloud.", path)
    colors = None
    vis = getattr(loaded, "visual", None)
    if isinstance(loaded, trimesh.PointCloud):
        c = getattr(loaded, "colors", None)
        if c is not None and len(c) == len(loaded.vertices):
            colors = np.asarray(c)[:, :3]
        return {"vertices": np.asarray(loaded.vertices, dtype=np.float64), "faces": None,
                "vertex_colors": colors}
    uv = None
    if vis is not None and getattr(vis, "kind", None) == "vertex":
        c = np.asarray(vis.vertex_colors)
        if c.shape[0] == len(loaded.vertices) and not (c[:, :3] == c[0, :3]).all():
            colors = c[:, :3]
    if vis is not None and getattr(vis, "kind", None) == "texture" and getattr(vis, "uv", None) is not None:
        u = np.asarray(vis.uv, dtype=np.float64)
        if u.shape[0] == len(loaded.vertices):
            uv = u
    faces = np.asarray(loaded.faces, dtype=np.int64)
    return {"vertices": np.asarray(loaded.vertices, dtype=np.float64),
            "faces": faces if faces.size else None, "vertex_colors": colors, "uv": uv}


# ----------------------------------------------------------------------------- writers
def save(shape: Shape, path, *, overwrite: bool = True, texture: bool = True) -> Path:
    """Write ``shape`` to ``path`` (format from the extension).

    OBJ keeps UVs and writes a ``.mtl`` plus a copy of the texture image beside it when the
    shape has one. ``overwrite=False`` refuses to replace an existing file.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in WRITE_FORMATS:
        raise UnsupportedFormatError(f"cannot write {ext or '(no extension)'!r}; shapecorr writes "
                                     f"{', '.join(WRITE_FORMATS)}.", path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: already exists; pass overwrite=True or choose another name.")
    path.parent.mkdir(parents=True, exist_ok=True)
    v, f = shape.vertices, shape.faces
    if ext == ".off":
        with open(path, "w") as fh:
            fh.write(f"OFF\n{len(v)} {0 if f is None else len(f)} 0\n")
            np.savetxt(fh, v, fmt="%.9g")
            if f is not None:
                np.savetxt(fh, np.hstack([np.full((len(f), 1), 3), f]), fmt="%d")
    elif ext == ".obj":
        _write_obj(shape, path, texture=texture)
    elif ext in (".xyz", ".txt"):
        np.savetxt(path, v if shape.point_normals is None else np.hstack([v, shape.point_normals]), fmt="%.9g")
    elif ext == ".ply" and f is None and shape.point_normals is not None:
        _write_ply_points(shape, path)
    else:
        import trimesh

        if f is None:
            obj = trimesh.PointCloud(v, colors=shape.vertex_colors)
        else:
            obj = trimesh.Trimesh(v, f, process=False, vertex_colors=shape.vertex_colors)
        obj.export(str(path))
    return path


def _write_ply_points(shape: Shape, path: Path) -> None:
    """A binary PLY point cloud with ``nx ny nz`` (and ``red green blue`` when coloured)."""
    fields = [(c, "<f8") for c in "xyz"] + [(c, "<f4") for c in ("nx", "ny", "nz")]
    colors = shape.vertex_colors
    if colors is not None:
        c = np.asarray(colors)[:, :3]
        colors = c if c.dtype == np.uint8 else np.clip(np.round(255 * c.astype(np.float64)), 0, 255).astype(np.uint8)
        fields += [(c, "u1") for c in ("red", "green", "blue")]
    rows = np.empty(shape.n_vertices, dtype=fields)
    for i, c in enumerate("xyz"):
        rows[c] = shape.vertices[:, i]
    for i, c in enumerate(("nx", "ny", "nz")):
        rows[c] = shape.point_normals[:, i]
    if colors is not None:
        for i, c in enumerate(("red", "green", "blue")):
            rows[c] = colors[:, i]
    types = {"<f8": "double", "<f4": "float", "u1": "uchar"}
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {shape.n_vertices}"]
    header += [f"property {types[t]} {name}" for name, t in fields] + ["end_header"]
    with open(path, "wb") as fh:
        fh.write(("\n".join(header) + "\n").encode("ascii"))
        fh.write(rows.tobytes())


def _write_obj(shape: Shape, path: Path, texture: bool = True) -> None:
    lines = []
    tex = shape.texture if (texture and shape.texture is not None and shape.has_uv) else None
    if tex is not None:
        mtl = path.with_suffix(".mtl")
        tex_name = Path(tex).name
        target = path.parent / tex_name
        if Path(tex).exists() and Path(tex).resolve() != target.resolve():
            shutil.copyfile(tex, target)
        mat = shape.material_name or "material_0"
        mtl.write_text(f"newmtl {mat}\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nd 1\nillum 1\nmap_Kd {tex_name}\n")
        lines.append(f"mtllib {mtl.name}")
    v = shape.vertices
    c = shape.vertex_colors
    if c is not None:
        cf = c[:, :3].astype(np.float64) / (255.0 if c.dtype == np.uint8 else 1.0)
        lines.extend(f"v {a:.9g} {b:.9g} {d:.9g} {r:.6g} {g:.6g} {bb:.6g}" for (a, b, d), (r, g, bb) in zip(v, cf))
    else:
        lines.extend(f"v {a:.9g} {b:.9g} {d:.9g}" for a, b, d in v)
    f = shape.faces
    if f is not None:
        if shape.has_uv:
            uv = shape.uv
            fuv = shape.face_uv if shape.face_uv is not None else f
            lines.extend(f"vt {a:.9g} {b:.9g}" for a, b in uv)
            if tex is not None:
                lines.append(f"usemtl {shape.material_name or 'material_0'}")
            lines.extend(f"f {a + 1}/{ta + 1} {b + 1}/{tb + 1} {d + 1}/{td + 1}"
                         for (a, b, d), (ta, tb, td) in zip(f, fuv))
        else:
            lines.extend(f"f {a + 1} {b + 1} {d + 1}" for a, b, d in f)
    path.write_text("\n".join(lines) + "\n")
