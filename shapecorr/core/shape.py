"""The one data type of shapecorr: a triangle mesh or a point cloud.

A :class:`Shape` keeps what cannot be rebuilt (vertices, faces, UVs, colours) apart from
what can (Laplacian, eigenbasis, descriptors, geodesics). Derived data is computed lazily,
once, through :meth:`Shape.derived`, keyed by a hash of the content and every parameter,
kept in memory and optionally on disk (see :mod:`shapecorr.core.cache`).

Vertex order is never changed: index ``i`` of a loaded shape is line ``i`` of its file.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import (
    DegenerateFacesError,
    DisconnectedShapeError,
    DuplicateVerticesError,
    EmptyShapeError,
    FaceIndexError,
    ImperfectShapeError,
    NonFiniteCoordinatesError,
    NonManifoldError,
    InconsistentWindingError,
    OpenBoundaryError,
    ShapeError,
    ShapeWarning,
    UnreferencedVerticesError,
)

__all__ = ["Shape", "ShapeIssue", "ShapeWarning", "Transform"]


# components under this fraction of the surface's area, and those beyond the largest
# MAX_SPECTRAL_COMPONENTS, are loose pieces (see Shape.loose_piece_faces)
LOOSE_PIECE_AREA = 0.01
MAX_SPECTRAL_COMPONENTS = 8


@dataclass(frozen=True)
class ShapeIssue:
    """Something imperfect about a shape that shapecorr handles rather than refuses.

    ``found`` says what was found, ``done`` what shapecorr does about it (both without the
    file name), ``error`` the :class:`ImperfectShapeError` subclass strict loading raises.
    """

    kind: str
    found: str
    done: str
    error: type

    def message(self, where) -> str:
        """``FILE: what was found; what was done`` (the text of the :class:`ShapeWarning`)."""
        return f"{where}: {self.found}; {self.done}"

    def warning(self, where) -> ShapeWarning:
        return ShapeWarning(self.message(where), kind=self.kind)


@dataclass(frozen=True)
class Transform:
    """A similarity ``x_normalized = (x_original - center) * scale``."""

    center: np.ndarray = field(default_factory=lambda: np.zeros(3))
    scale: float = 1.0

    def apply(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, dtype=np.float64) - self.center) * self.scale

    def invert(self, points: np.ndarray) -> np.ndarray:
        return np.asarray(points, dtype=np.float64) / self.scale + self.center

    def compose(self, other: "Transform") -> "Transform":
        """The transform ``other`` applied after ``self``."""
        center = self.center + other.center / self.scale
        return Transform(center=center, scale=self.scale * other.scale)

    def to_dict(self) -> dict:
        return {"center": [float(c) for c in self.center], "scale": float(self.scale)}


class Shape:
    """A triangle mesh (``faces`` is ``(m, 3)``) or a point cloud (``faces`` is None).

    Parameters
    ----------
    vertices : (n, 3) array of coordinates.
    faces : (m, 3) integer array of vertex indices, or None for a point cloud.
    uv : (t, 2) texture coordinates, optional.
    face_uv : (m, 3) indices into ``uv`` for each face corner (OBJ style), optional.
        When ``uv`` has one row per vertex and ``face_uv`` is None, UVs are per vertex.
    vertex_colors : (n, 3) or (n, 4) colours (uint8 0-255 or float 0-1), optional.
    point_normals : (n, 3) normals of a point cloud's points as its file gives them (a scanner's
        or a photogrammetry tool's), optional; used instead of estimated ones
        (:func:`shapecorr.core.pointcloud.outward_normals`), their signs made consistent and
        outward. Meshes take their normals from their faces and ignore these. A copy with other
        vertices (a deformation) drops them unless it is given new ones; :meth:`normalized`
        keeps them.
    texture : path of the texture image, optional.
    name : a short name (defaults to the file stem when loaded).
    path : the file it was loaded from, if any.
    transform : the normalization applied so far (identity for a loaded shape).
    """

    def __init__(
        self,
        vertices,
        faces=None,
        *,
        uv=None,
        face_uv=None,
        vertex_colors=None,
        point_normals=None,
        texture=None,
        material_name: str | None = None,
        name: str | None = None,
        path=None,
        transform: Transform | None = None,
        validate: bool = True,
    ):
        self.vertices = np.ascontiguousarray(np.asarray(vertices, dtype=np.float64))
        self.faces = None if faces is None else np.ascontiguousarray(np.asarray(faces, dtype=np.int64))
        self.uv = None if uv is None else np.ascontiguousarray(np.asarray(uv, dtype=np.float64))
        self.face_uv = None if face_uv is None else np.ascontiguousarray(np.asarray(face_uv, dtype=np.int64))
        self.vertex_colors = None if vertex_colors is None else np.asarray(vertex_colors)
        self.point_normals = None if point_normals is None else np.ascontiguousarray(
            np.asarray(point_normals, dtype=np.float64))
        self.texture = None if texture is None else Path(texture)
        self.material_name = material_name
        self.path = None if path is None else Path(path)
        self.name = name or (self.path.stem if self.path else "shape")
        self.transform = transform or Transform()
        self._memo: dict[str, dict] = {}
        self._hash: str | None = None
        if validate:
            self.validate()
        for arr in (self.vertices, self.faces, self.uv, self.face_uv, self.vertex_colors, self.point_normals):
            if arr is not None:
                arr.setflags(write=False)

    # ------------------------------------------------------------------ basics
    @property
    def is_mesh(self) -> bool:
        return self.faces is not None and len(self.faces) > 0

    @property
    def is_point_cloud(self) -> bool:
        return not self.is_mesh

    @property
    def n_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def n_faces(self) -> int:
        return 0 if self.faces is None else int(self.faces.shape[0])

    @property
    def has_uv(self) -> bool:
        return self.uv is not None and (self.face_uv is not None or len(self.uv) == self.n_vertices)

    def __len__(self) -> int:
        return self.n_vertices

    def __repr__(self) -> str:
        kind = f"mesh, {self.n_faces} faces" if self.is_mesh else "point cloud"
        extra = ", uv" if self.has_uv else ""
        return f"Shape({self.name!r}: {self.n_vertices} vertices, {kind}{extra})"

    def summary(self) -> dict:
        """A JSON-friendly description (used in reports)."""
        out = {
            "name": self.name,
            "path": None if self.path is None else str(self.path),
            "kind": "mesh" if self.is_mesh else "point_cloud",
            "n_vertices": self.n_vertices,
            "n_faces": self.n_faces,
            "has_uv": self.has_uv,
            "has_colors": self.vertex_colors is not None,
            "has_point_normals": self.point_normals is not None,
            "transform": self.transform.to_dict(),
        }
        if self.is_mesh:
            out["area"] = float(self.area)
            out["n_components"] = int(self.n_components)
            out["n_boundary_edges"] = int(self.boundary_edges.shape[0])
            out["is_manifold"] = bool(self.is_edge_manifold)
        out["issues"] = [issue.found for issue in self.issues()]
        return out

    # --------------------------------------------------------------- validation
    def validate(self) -> None:
        """Raise a specific :class:`ShapeError` if the shape cannot be used at all: wrong array
        shapes, no vertices, NaN or infinite coordinates, face indices out of range.

        Imperfect but usable shapes (degenerate faces, vertices used by no face, ...) pass:
        see :meth:`issues` for those and how they are handled.
        """
        v, f, p = self.vertices, self.faces, self.path
        if v.ndim != 2 or v.shape[1] != 3:
            raise ShapeError(f"vertices must have shape (n, 3), got {v.shape}.", p)
        if v.shape[0] == 0:
            raise EmptyShapeError("the shape has no vertices; check that the file is not empty or truncated.", p)
        bad = ~np.isfinite(v).all(axis=1)
        if bad.any():
            idx = np.flatnonzero(bad)
            raise NonFiniteCoordinatesError(
                f"{idx.size} vertices have NaN or infinite coordinates (first: vertex {idx[0]}); "
                "fix or remove them in the file (shapecorr never drops vertices silently, "
                "since that would renumber the correspondence).",
                p,
            )
        if f is not None:
            if f.ndim != 2 or f.shape[1] != 3:
                raise ShapeError(f"faces must have shape (m, 3), got {f.shape}.", p)
            if f.size and (f.min() < 0 or f.max() >= v.shape[0]):
                bad_face = int(np.flatnonzero((f < 0).any(1) | (f >= v.shape[0]).any(1))[0])
                raise FaceIndexError(
                    f"face {bad_face} refers to vertex {f[bad_face].tolist()} but the shape has "
                    f"only {v.shape[0]} vertices (valid indices 0..{v.shape[0] - 1}); "
                    "the file is probably truncated or uses the wrong index base.",
                    p,
                )
        if self.face_uv is not None:
            if self.faces is None or self.face_uv.shape != self.faces.shape:
                raise ShapeError("face_uv must have the same shape as faces.", p)
            if self.uv is None or (self.face_uv.size and (self.face_uv.min() < 0 or self.face_uv.max() >= len(self.uv))):
                raise FaceIndexError("texture-coordinate indices (vt) out of range.", p)
        if self.vertex_colors is not None and self.vertex_colors.shape[0] != v.shape[0]:
            raise ShapeError(
                f"vertex_colors has {self.vertex_colors.shape[0]} rows for {v.shape[0]} vertices.", p
            )
        if self.point_normals is not None and self.point_normals.shape != v.shape:
            raise ShapeError(f"point_normals has shape {self.point_normals.shape} for {v.shape[0]} points; "
                             "give one (x, y, z) normal per point.", p)

    def degenerate_faces(self, rel_tol: float = 1e-12) -> np.ndarray:
        """Indices of faces with a repeated vertex or (numerically) zero area: area at most
        ``rel_tol`` times the squared bounding-box size."""
        def compute():
            f = self.faces
            if f is None or len(f) == 0:
                return np.zeros(0, dtype=np.int64)
            repeated = (f[:, 0] == f[:, 1]) | (f[:, 1] == f[:, 2]) | (f[:, 0] == f[:, 2])
            scale = np.ptp(self.vertices, axis=0).max() ** 2
            tiny = self.face_areas <= rel_tol * max(scale, np.finfo(float).tiny)
            return np.flatnonzero(repeated | tiny)

        return self._cached_geom(f"degenerate_faces:{rel_tol!r}", compute)

    def repaired(self) -> "Shape":
        """A copy without degenerate faces; vertices (and their order) are kept. A shape with
        none is returned as it is (not memoized on itself, which would make it a reference
        cycle that only the garbage collector frees)."""
        bad = self.degenerate_faces()
        if not bad.size:
            return self

        def compute():
            keep = np.ones(self.n_faces, dtype=bool)
            keep[bad] = False
            return self.copy(faces=self.faces[keep],
                             face_uv=None if self.face_uv is None else self.face_uv[keep])

        return self._cached_geom("repaired", compute)

    # ------------------------------------------------------------- geometry
    @property
    def face_areas(self) -> np.ndarray:
        return self._cached_geom("face_areas", lambda: _face_areas(self.vertices, self.faces))

    @property
    def area(self) -> float:
        return float(self.face_areas.sum()) if self.is_mesh else float("nan")

    @property
    def face_normals(self) -> np.ndarray:
        def compute():
            v, f = self.vertices, self.faces
            n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
            return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-30)

        return self._cached_geom("face_normals", compute)

    @property
    def vertex_normals(self) -> np.ndarray:
        """Area-weighted vertex normals (meshes only)."""

        def compute():
            v, f = self.vertices, self.faces
            n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
            vn = np.zeros_like(v)
            for c in range(3):
                np.add.at(vn, f[:, c], n)
            return vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-30)

        return self._cached_geom("vertex_normals", compute)

    @property
    def winding(self):
        """:class:`shapecorr.core.orientation.Winding`: the faces rewound coherently and outward
        (per component, with the small holes closed and the bands bridged as for the Laplacian:
        :attr:`hole_fill`), which faces that reversed, and how many edges were incoherent."""
        from .orientation import coherent_outward_faces

        def compute():
            fill = self.hole_fill
            return coherent_outward_faces(self.vertices, self.faces, fill.centers,
                                          np.vstack([fill.faces, fill.bridge_faces]))

        return self._cached_geom("winding", compute)

    @property
    def outward_faces(self) -> np.ndarray:
        """The faces wound coherently and outward (same order; some reversed). Meshes only."""
        return self.winding.faces

    @property
    def outward_vertex_normals(self) -> np.ndarray:
        """Area-weighted vertex normals of :attr:`outward_faces` (meshes only)."""
        if not self.winding.n_reversed:
            return self.vertex_normals
        return self._cached_geom("outward_vertex_normals",
                                 lambda: self.copy(faces=self.outward_faces).vertex_normals)

    # ------------------------------------------------------------- topology
    @property
    def welded_index(self) -> np.ndarray:
        """``(n,)``: for each vertex, the first vertex at exactly its position (itself when no
        earlier vertex is there). ``-0.0`` and ``0.0`` are the same position."""
        return self._cached_geom("welded_index", lambda: _first_at_same_position(self.vertices))

    @property
    def n_duplicate_vertices(self) -> int:
        """Vertices at exactly the position of an earlier one (kept, never merged by loading)."""
        return int((self.welded_index != np.arange(self.n_vertices)).sum())

    @property
    def seam_index(self) -> np.ndarray:
        """``(n,)``: each vertex on an open edge (of the mesh without its degenerate faces) is
        mapped to the first vertex on an open edge at exactly its position, every other vertex
        to itself. Repeated vertices along open edges are a seam (patches of a CAD model, a
        triangle soup) that the surface does not really have; repeated vertices inside the
        surface are two sheets that touch (a hand on a thigh) and stay apart."""

        def compute():
            rep = np.arange(self.n_vertices)
            if not self.is_mesh:
                return rep
            edges, counts = self._edge_counts(self.repaired().faces, "repaired_edge_counts")
            on_edge = np.unique(edges[counts == 1])
            if on_edge.size:
                rep[on_edge] = on_edge[_first_at_same_position(self.vertices[on_edge])]
            return rep

        return self._cached_geom("seam_index", compute)

    @property
    def surface_faces(self) -> np.ndarray:
        """The faces as the Laplacian sees them ``(m', 3)``: degenerate faces dropped and the
        repeated vertices of seams joined (:attr:`seam_index`). Meshes only."""
        return self._cached_geom("surface_faces", lambda: self.seam_index[self.repaired().faces])

    @property
    def surface_vertices(self) -> np.ndarray:
        """Indices (sorted) of the vertices used by :attr:`surface_faces` (a point cloud's
        distinct points); the others are attached to their nearest surface vertex in the
        Laplacian."""

        def compute():
            if not self.is_mesh:
                return np.flatnonzero(self.welded_index == np.arange(self.n_vertices))
            used = np.zeros(self.n_vertices, dtype=bool)
            used[self.surface_faces.ravel()] = True
            return np.flatnonzero(used)

        return self._cached_geom("surface_vertices", compute)

    def _edge_counts(self, faces: np.ndarray, name: str):
        """Unique undirected edges of ``faces`` and how many faces use each (computed once)."""

        def compute():
            a, b = faces.ravel(), faces[:, [1, 2, 0]].ravel()  # the three edges of each face
            key = np.minimum(a, b) * np.int64(self.n_vertices) + np.maximum(a, b)
            uniq, counts = np.unique(key, return_counts=True)
            edges = np.stack([uniq // self.n_vertices, uniq % self.n_vertices], axis=1)
            return edges, counts

        return self._cached_geom(name, compute)

    @property
    def edges(self) -> np.ndarray:
        """Unique undirected edges ``(e, 2)`` of :attr:`faces`, with ``e[:, 0] < e[:, 1]``."""
        return self._edge_counts(self.faces, "edge_counts")[0]

    def _surface_edge_counts(self):
        if (self.seam_index == np.arange(self.n_vertices)).all():  # no seam: the same faces
            return self._edge_counts(self.repaired().faces, "repaired_edge_counts")
        return self._edge_counts(self.surface_faces, "surface_edge_counts")

    @property
    def boundary_edges(self) -> np.ndarray:
        """Edges of the surface (:attr:`surface_faces`) used by exactly one face."""
        edges, counts = self._surface_edge_counts()
        return edges[counts == 1]

    @property
    def non_manifold_edges(self) -> np.ndarray:
        """Edges of the surface (:attr:`surface_faces`) used by three or more faces."""
        edges, counts = self._surface_edge_counts()
        return edges[counts > 2]

    @property
    def is_edge_manifold(self) -> bool:
        return self.non_manifold_edges.shape[0] == 0

    @property
    def is_watertight(self) -> bool:
        return self.is_mesh and self.boundary_edges.shape[0] == 0 and self.is_edge_manifold

    @property
    def component_labels(self) -> np.ndarray:
        """``(n,)``: the connected component of each vertex over the surface's edges
        (:attr:`surface_faces`; a vertex used by no face is a component of its own)."""

        def compute():
            from scipy.sparse import coo_matrix
            from scipy.sparse.csgraph import connected_components

            e = self._surface_edge_counts()[0]
            n = self.n_vertices
            g = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
            return connected_components(g, directed=False)[1]

        return self._cached_geom("component_labels", compute)

    @property
    def component_sizes(self) -> np.ndarray:
        """Vertex counts of the connected components of the surface (:attr:`surface_faces`,
        vertices used by no face not counted), largest first."""

        def compute():
            sizes = np.bincount(self.component_labels[self.surface_vertices])
            return -np.sort(-sizes[sizes > 0])

        return self._cached_geom("component_sizes", compute)

    @property
    def loose_piece_faces(self) -> np.ndarray:
        """Boolean ``(m',)`` over :attr:`surface_faces`: the faces of *loose pieces*, components
        too small to be part of the shape (scanner debris, a stray triangle): those with less
        than ``LOOSE_PIECE_AREA`` of the surface's area, and beyond the ``MAX_SPECTRAL_COMPONENTS``
        largest. Each zero eigenvalue of the Laplacian belongs to one component, so many small
        pieces would fill the low spectrum with their indicator functions; the Laplacian leaves
        them out and attaches their vertices to the nearest vertex of the kept surface."""

        def compute():
            faces = self.surface_faces
            labels = self.component_labels[faces[:, 0]]
            area = np.bincount(labels, weights=_face_areas(self.vertices, faces),
                               minlength=self.n_vertices)
            order = np.argsort(-area, kind="stable")
            keep = np.zeros(len(area), dtype=bool)
            big = order[area[order] >= LOOSE_PIECE_AREA * max(area.sum(), 1e-300)][:MAX_SPECTRAL_COMPONENTS]
            keep[big if big.size else order[:1]] = True
            return ~keep[labels]

        return self._cached_geom("loose_piece_faces", compute)

    @property
    def hole_fill(self):
        """:class:`shapecorr.core.holes.HoleFill`: fans closing the small holes of
        :attr:`spectral_faces`, and strips bridging a band missing all round a limb (two loops
        facing each other on two components); the Laplacian is computed as if they were closed."""
        from .holes import small_hole_fill

        def compute():
            faces = self.spectral_faces
            return small_hole_fill(self.vertices, faces, float(_face_areas(self.vertices, faces).sum()),
                                   labels=self.component_labels)

        return self._cached_geom("hole_fill", compute)

    @property
    def spectral_faces(self) -> np.ndarray:
        """The faces the Laplacian is built on: :attr:`surface_faces` without loose pieces."""
        loose = self.loose_piece_faces
        return self.surface_faces if not loose.any() else self._cached_geom(
            "spectral_faces", lambda: self.surface_faces[~loose])

    @property
    def n_components(self) -> int:
        """Connected components of the surface (see :attr:`component_sizes`)."""
        return int(len(self.component_sizes))

    @property
    def unreferenced_vertices(self) -> np.ndarray:
        """Vertices used by no face (none for a point cloud)."""
        if not self.is_mesh:
            return np.zeros(0, dtype=np.int64)
        used = np.zeros(self.n_vertices, dtype=bool)
        used[self.faces.ravel()] = True
        return np.flatnonzero(~used)

    # --------------------------------------------------------- reported issues
    def issues(self) -> list[ShapeIssue]:
        """What is imperfect about the shape and how shapecorr handles it, one
        :class:`ShapeIssue` per kind. Degenerate faces are reported on this shape; the rest
        on :meth:`repaired` (what :func:`shapecorr.load` hands over), since dropping a
        degenerate face can leave a vertex unused or open a boundary."""
        out = []
        bad = self.degenerate_faces()
        if bad.size:
            out.append(ShapeIssue(
                "degenerate_faces",
                f"{bad.size} of {self.n_faces} faces are degenerate (zero area or a repeated vertex; "
                f"first: face {int(bad[0])} = {self.faces[bad[0]].tolist()})",
                "dropped them (vertices and their order are kept)", DegenerateFacesError))
        return out + self.repaired()._issues_of_faces()

    def _issues_of_faces(self) -> list[ShapeIssue]:
        out = []
        unref = self.unreferenced_vertices
        if unref.size:
            out.append(ShapeIssue(
                "unreferenced_vertices",
                f"{unref.size} vertices are used by no face (first: vertex {int(unref[0])})",
                "kept; in the Laplacian each takes the values of its nearest surface vertex",
                UnreferencedVerticesError))
        dup = np.flatnonzero(self.welded_index != np.arange(self.n_vertices))
        if dup.size:
            if self.is_mesh:
                joined = int((self.seam_index != np.arange(self.n_vertices)).sum())
                how = f"; the Laplacian joins the {joined} on open edges (a seam)" if joined else ""
            else:
                how = "; the Laplacian joins them"
            out.append(ShapeIssue(
                "duplicate_vertices",
                f"{dup.size} duplicate vertices (at exactly the position of an earlier vertex; "
                f"first: vertex {int(dup[0])} = vertex {int(self.welded_index[dup[0]])})",
                "kept, not merged (vertex order unchanged)" + how, DuplicateVerticesError))
        if not self.is_mesh:
            return out
        nm = self.non_manifold_edges.shape[0]
        if nm:
            out.append(ShapeIssue(
                "non_manifold_edges", f"{nm} non-manifold edges (used by 3 or more faces)",
                "handled by the robust (tufted) Laplacian", NonManifoldError))
        nb = self.boundary_edges.shape[0]
        if nb:
            holes, bridges = self.hole_fill.n_holes, self.hole_fill.n_bridges
            done = "handled (free boundary in the Laplacian)"
            if holes or bridges:
                closed = [f"{holes} small {'hole is' if holes == 1 else 'holes are'} closed (a fan)"] if holes else []
                if bridges:
                    closed.append(f"{bridges} {'band' if bridges == 1 else 'bands'} missing all round a part "
                                  f"{'is' if bridges == 1 else 'are'} bridged (a strip joining two pieces)")
                done = (" and ".join(closed) + " for the Laplacian, no vertex added to the shape; "
                        "any other boundary is free")
            out.append(ShapeIssue("open_boundary", f"open boundary ({nb} boundary edges)", done,
                                  OpenBoundaryError))
        w = self.winding
        if w.incoherent_edges:
            out.append(ShapeIssue(
                "inconsistent_winding",
                f"faces wound inconsistently ({w.incoherent_edges} edges where two neighbouring "
                f"faces run the same way; {w.n_reversed} of {self.n_faces} faces face the other way)",
                "normals are taken from the faces rewound coherently and outward "
                "(the file's faces are kept)", InconsistentWindingError))
        sizes = self.component_sizes
        if len(sizes) > 1:
            shown = ", ".join(str(int(s)) for s in sizes[:5]) + (", ..." if len(sizes) > 5 else "")
            loose = self.loose_piece_faces
            n_loose = len(sizes) - len(np.unique(self.component_labels[self.surface_faces[~loose, 0]]))
            how = ("matched as one shape (one zero eigenvalue per component); check that the "
                   "other shape has the same pieces")
            if n_loose:
                share = float(_face_areas(self.vertices, self.surface_faces[loose]).sum()
                              / max(_face_areas(self.vertices, self.surface_faces).sum(), 1e-300))
                what = "one is a loose piece" if n_loose == 1 else f"{n_loose} are loose pieces"
                how = (f"{what} ({100 * share:.2g} % of the area; each under "
                       f"{100 * LOOSE_PIECE_AREA:g} % or beyond the {MAX_SPECTRAL_COMPONENTS} largest), "
                       "which follow their nearest vertex of the rest; the rest " + how)
            out.append(ShapeIssue(
                "components", f"{len(sizes)} connected components ({shown} vertices)", how,
                DisconnectedShapeError))
        return out

    def warn_issues(self, issues: list[ShapeIssue] | None = None) -> None:
        """One :class:`ShapeWarning` per issue (those of :meth:`issues` unless given)."""
        where = self.path or self.name
        for issue in self.issues() if issues is None else issues:
            warnings.warn(issue.warning(where), stacklevel=3)

    def refuse(self, issues: list[ShapeIssue]) -> ImperfectShapeError:
        """The error strict loading raises for ``issues`` (the first one's class; the message
        lists them all and says what would have been done)."""
        first = issues[0]
        also = "".join(f"; also {i.found}" for i in issues[1:])
        return first.error(
            f"{first.found}{also}. Refused because strict loading was asked; without it "
            f"shapecorr would handle this ({first.done}).", self.path)

    # ----------------------------------------------------------- normalization
    def normalized(self, area: float | None = None) -> "Shape":
        """A copy centred at the (area-weighted) centroid and scaled to unit area (a mesh's
        area counts its small holes as closed, as its Laplacian does: :attr:`hole_fill`).

        For point clouds pass ``area`` (e.g. the total of the point-cloud mass matrix);
        without it a point cloud is scaled to unit RMS radius. The transform is recorded in
        ``.transform`` (composed with any earlier one) so results can be mapped back with
        :meth:`to_original`.
        """
        v = self.vertices
        if self.is_mesh:
            fa = self.face_areas
            centroids = v[self.faces].mean(axis=1)
            center = (centroids * fa[:, None]).sum(0) / fa.sum()
            total = fa.sum() + self.hole_fill.area if area is None else area
            scale = 1.0 / np.sqrt(total)
        else:
            center = v.mean(axis=0)
            if area is not None:
                scale = 1.0 / np.sqrt(area)
            else:
                rms = np.sqrt(((v - center) ** 2).sum(1).mean())
                scale = 1.0 / max(rms, 1e-30)
        t = Transform(center=center, scale=float(scale))
        return self.copy(vertices=t.apply(v), transform=self.transform.compose(t),
                         point_normals=self.point_normals)  # a similarity: the normals still fit

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """Map coordinates of this (normalized) shape back to the file's coordinates."""
        return self.transform.invert(points)

    # ------------------------------------------------------------------- copies
    def copy(self, **changes) -> "Shape":
        kw = dict(
            vertices=self.vertices,
            faces=self.faces,
            uv=self.uv,
            face_uv=self.face_uv,
            vertex_colors=self.vertex_colors,
            point_normals=self.point_normals,
            texture=self.texture,
            material_name=self.material_name,
            name=self.name,
            path=self.path,
            transform=self.transform,
        )
        kw.update(changes)
        if "vertices" in changes and "point_normals" not in changes:
            kw["point_normals"] = None  # moved or other points: the file's normals no longer fit them
        return Shape(**kw, validate=False)

    def save(self, path, **kwargs) -> Path:
        """Write the shape; the format follows the extension (see :func:`shapecorr.core.io.save`)."""
        from .io import save

        return save(self, path, **kwargs)

    # ------------------------------------------------------------ derived data
    @property
    def content_hash(self) -> str:
        """SHA-256 over the geometry (vertices, faces) with dtypes and shapes."""
        if self._hash is None:
            h = hashlib.sha256()
            for arr in (self.vertices, self.faces):
                if arr is None:
                    h.update(b"none")
                    continue
                h.update(f"{arr.dtype.str}{arr.shape}".encode())
                h.update(np.ascontiguousarray(arr).tobytes())
            self._hash = h.hexdigest()
        return self._hash

    def derived(self, kind: str, params: dict, compute: Callable[[], dict], *, disk: bool | None = None) -> dict:
        """Return derived data ``kind`` for ``params``, computing it at most once.

        ``compute`` returns a dict of numpy arrays / scipy sparse matrices / scalars. Results
        are memoized on the shape and, unless ``disk`` is False (or caching is disabled with
        :func:`shapecorr.core.cache.set_cache_dir`), stored on disk keyed by the content hash,
        ``kind`` and every parameter. A corrupt disk entry is rebuilt, never trusted.
        """
        from . import cache as _cache

        key = _cache.make_key(self.content_hash, kind, params)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        store = _cache.get_cache() if disk is not False else None
        value = store.get(key) if store is not None else None
        if value is None:
            value = compute()
            if store is not None:
                store.put(key, value, meta={"kind": kind, "params": params, "shape": self.name})
        self._memo[key] = value
        return value

    def _cached_geom(self, name: str, compute):
        hit = self._memo.get("geom:" + name)
        if hit is None:
            hit = compute()
            if isinstance(hit, np.ndarray):
                hit.setflags(write=False)
            self._memo["geom:" + name] = hit
        return hit


def _face_areas(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    if f is None or len(f) == 0:
        return np.zeros(0)
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    return 0.5 * np.linalg.norm(n, axis=1)


def _first_at_same_position(points: np.ndarray) -> np.ndarray:
    """For each row, the index of the first row equal to it (``-0.0 == 0.0``)."""
    v = points + 0.0  # -0.0 + 0.0 is +0.0
    order = np.lexsort(v.T[::-1])  # stable: equal rows stay in index order
    sv = v[order]
    starts = np.ones(len(v), dtype=bool)
    starts[1:] = (sv[1:] != sv[:-1]).any(axis=1)
    first = order[starts]  # the smallest index of each group of equal rows
    rep = np.empty(len(v), dtype=np.int64)
    rep[order] = first[np.cumsum(starts) - 1]
    return rep
