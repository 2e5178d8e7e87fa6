"""A surface reconstructed from a point cloud: the mesh proxy through which a cloud is matched.

A point cloud has no faces, so the matcher's mesh path (the orientation-aware learned features,
the orientation term, the fallback) does not apply to it directly. Here a watertight mesh is
reconstructed from the points and their outward normals (:func:`~shapecorr.core.pointcloud.outward_normals`)
by screened Poisson reconstruction (``pymeshlab``, an optional dependency), decimated to about
the number of points (:func:`decimate_manifold`), and every point is projected on it
(:func:`~shapecorr.core.proxy.project_on_mesh`): the result is a :class:`~shapecorr.core.proxy.Proxy`,
the same stand-in the pipeline uses for very large meshes, so the match is lifted back to every
point by the same code (:mod:`shapecorr.fmap.lift`).

Only the largest connected piece of the Poisson surface is kept. A reconstruction is used only
when it is good (:func:`check_reconstruction`): closed and edge-manifold (but for a few edges
where Poisson's zero-area faces were dropped), nearly every point near it (a thin part whose
normals came out wrong, a cow's tail or ear, may be lost or come out as a piece of its own: its
few points then take the map of the nearest surface point), and most of it near the points (a
Poisson surface of an open patch closes it with a hallucinated back side). Otherwise
:class:`ReconstructionError` says why and the caller keeps matching the points themselves.

The points are never changed or renumbered; the proxy is a new mesh with its own numbering.

:func:`pair_proxies` is the rule by which a pair gets its proxies (decimated large meshes,
reconstructed clouds), shared by the pipeline and by what reads a match's functional map later.
"""

from __future__ import annotations

import logging
import threading
import warnings
from dataclasses import dataclass

import numpy as np

from .errors import SettingsError, ShapeError, ShapeWarning
from .proxy import Proxy, clean_mesh, make_proxy, project_on_mesh
from .shape import Shape

log = logging.getLogger(__name__)

#: octree depth of the screened Poisson reconstruction (depth 8: ~14k vertices on a FAUST_r human, the
#: hands kept (at depth 7 1 % of the points lay 2-3 % of the diagonal off the surface); 1.5 s CPU)
POISSON_DEPTH = 8
#: connected pieces with at least this share of the faces count as pieces in reports (smaller ones
#: are Poisson's blobs); only the largest piece is kept
MIN_COMPONENT_SHARE = 0.01


class ReconstructionError(ShapeError):
    """A point cloud whose reconstructed surface is not good enough to match through."""


@dataclass(frozen=True)
class ReconstructionChecks:
    """Limits a reconstruction must meet to be used (distances relative to the cloud's
    bounding-box diagonal)."""

    max_point_distance: float = 0.03  # a point farther from the surface than this is lost ...
    # ... and at most this share of the points may be lost (a thin part: a cow's tail is 0.5 % of its
    # area; a second body or a wrong reconstruction loses far more); 0: none
    max_lost_points: float = 0.02
    max_open_edges: float = 0.002  # boundary and non-manifold edges, at most this share of the edges
    max_far_area: float = 0.1  # at most this share of the surface far (> far_spacing spacings) from any point
    far_spacing: float = 4.0  # "far": more than this many median point spacings from the nearest point
    min_points: int = 50  # fewer points: no reconstruction

    def __post_init__(self):
        for name in ("max_point_distance", "max_open_edges", "max_far_area", "far_spacing"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
                raise SettingsError(f"ReconstructionChecks.{name} must be a positive number, got {value!r}.")
        lost = self.max_lost_points
        if not (isinstance(lost, (int, float)) and 0 <= lost < 1):
            raise SettingsError(f"ReconstructionChecks.max_lost_points must be a share in [0, 1), got {lost!r}.")
        if not (isinstance(self.min_points, int) and self.min_points >= 4):
            raise SettingsError(f"ReconstructionChecks.min_points must be an integer >= 4, got {self.min_points!r}.")


#: the checks of a cloud matched against a mesh: a few points may be lost, since the other way, the
#: cloud as points against the mesh, pairs two different discretizations (a cow mesh against its own
#: surface drawn as 5000 points: 21.6 as points, 3.6 through a surface that lost its tail)
MESH_PAIR_CHECKS = ReconstructionChecks()
#: the checks of two clouds: no point lost, since the other way, both clouds as points, is
#: consistent (cow, suzanne and teapot drawn twice: 3.4-4.0 as points, 4.4-5.1 through surfaces
#: that lost a few points; docs/bench/pointcloud_cpu/realworld)
CLOUD_PAIR_CHECKS = ReconstructionChecks(max_lost_points=0.0)


@dataclass(frozen=True)
class ReconstructionReport:
    """What was reconstructed and how well it fits the points."""

    n_points: int
    n_vertices: int  # of the proxy (after decimation)
    n_components: int  # pieces of at least MIN_COMPONENT_SHARE of the faces, before the largest was kept
    open_edges: int  # boundary and non-manifold edges (a few where Poisson's zero-area faces were dropped)
    point_distance_max: float  # relative to the bounding-box diagonal
    lost_points: int  # points farther than ReconstructionChecks.max_point_distance from the surface
    far_area: float  # share of the surface far from every point
    point_distance_p99: float = 0.0  # 99th percentile of the points' distances, relative to the diagonal
    normals: str = "estimated"  # the normals it was reconstructed from: "estimated" or "file"

    def to_dict(self) -> dict:
        return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


#: pymeshlab is not thread-safe: two filters running at once in one process crash it (a
#: segmentation fault, seen with two Poisson reconstructions in two threads). Every use of it
#: in shapecorr holds this lock, so matches run from several threads queue there instead.
PYMESHLAB_LOCK = threading.Lock()


def have_pymeshlab() -> bool:
    """Whether ``pymeshlab`` (the reconstruction's dependency, the ``pointcloud`` extra) imports."""
    try:
        import pymeshlab  # noqa: F401
    except ImportError:
        return False
    return True


def poisson_surface(points: np.ndarray, normals: np.ndarray, depth: int = POISSON_DEPTH) -> tuple[np.ndarray, np.ndarray]:
    """Screened Poisson reconstruction (``pymeshlab``) of oriented points: ``(vertices, faces)``,
    unreferenced vertices dropped. Raises ImportError without pymeshlab."""
    mesh = dict(vertex_matrix=np.asarray(points, dtype=np.float64),
                v_normals_matrix=np.asarray(normals, dtype=np.float64))
    return clean_mesh(*meshlab_filter(mesh, "generate_surface_reconstruction_screened_poisson", depth=int(depth),
                                      preclean=True, threads=1))


def meshlab_filter(mesh: dict, name: str, **params) -> tuple[np.ndarray, np.ndarray]:
    """pymeshlab's filter ``name`` with ``params``, applied to the ``pymeshlab.Mesh`` made of the
    arrays ``mesh`` (its keyword arguments): the resulting ``(vertices, faces)``. All of it under
    :data:`PYMESHLAB_LOCK`. Raises ImportError without pymeshlab."""
    import pymeshlab

    with PYMESHLAB_LOCK:
        ms = pymeshlab.MeshSet()
        ms.add_mesh(pymeshlab.Mesh(**mesh))
        getattr(ms, name)(**params)
        m = ms.current_mesh()
        return np.asarray(m.vertex_matrix(), dtype=np.float64), np.asarray(m.face_matrix(), dtype=np.int64)


def decimate_manifold(vertices: np.ndarray, faces: np.ndarray, n_target: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadric edge-collapse decimation to about ``n_target`` vertices that keeps the topology
    (``pymeshlab``, ``preservetopology``): a closed manifold stays one. The proxies' decimator
    (:func:`~shapecorr.core.proxy.decimate`) made 8 non-manifold edges on a FAUST_r Poisson
    surface (14.7k -> 5k vertices)."""
    n_faces = round(len(faces) * n_target / max(len(vertices), 1))
    mesh = dict(vertex_matrix=vertices, face_matrix=np.asarray(faces, dtype=np.int32))
    return clean_mesh(*meshlab_filter(mesh, "meshing_decimation_quadric_edge_collapse", targetfacenum=max(4, n_faces),
                                      preservetopology=True, preservenormal=True, qualitythr=0.5))


def largest_component(vertices: np.ndarray, faces: np.ndarray, min_share: float = MIN_COMPONENT_SHARE
                      ) -> tuple[np.ndarray, np.ndarray, int]:
    """The mesh's largest connected piece (by faces): ``(vertices, faces, number of pieces with
    at least min_share of the faces)``."""
    mesh = Shape(vertices, faces, validate=False)
    face_label = mesh.component_labels[faces[:, 0]]
    counts = np.bincount(face_label)
    v, f = clean_mesh(vertices, faces[face_label == int(np.argmax(counts))])
    return v, f, int((counts >= min_share * len(faces)).sum())


def point_spacing(points: np.ndarray) -> float:
    """The median distance from a point to its nearest other point."""
    from .pointcloud import knn

    return float(np.median(knn(points, 1)[0][:, 0]))


def far_area_share(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray, far: float) -> float:
    """Share of the surface area (faces by their centroids) farther than ``far`` from every point."""
    from scipy.spatial import cKDTree

    corners = vertices[faces]
    area = 0.5 * np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1)
    d = cKDTree(points).query(corners.mean(axis=1))[0]
    return float(area[d > far].sum() / max(area.sum(), 1e-300))


def reconstruct_proxy(shape: Shape, n_target: int | None = None, *, depth: int = POISSON_DEPTH,
                      checks: ReconstructionChecks = ReconstructionChecks()) -> tuple[Proxy, ReconstructionReport]:
    """The reconstructed surface of the point cloud ``shape`` as a :class:`Proxy` (every point
    projected on it) and its :class:`ReconstructionReport`.

    Screened Poisson (``depth``) on the points and their outward normals, its largest piece,
    decimated to about ``n_target`` vertices (default: the number of points) when larger.
    Raises :class:`ReconstructionError` when the surface fails ``checks`` (see
    :func:`check_reconstruction`), ImportError without pymeshlab, ShapeError for a mesh.

    A cloud with its file's normals (:attr:`Shape.point_normals`) is reconstructed twice, from
    those and from estimated ones, and the surface that passes the checks and lies closer to its
    points (99th percentile of their distances) is kept (``report.normals`` says which). The
    file's normals made the closer surface on realworld models drawn as points (a cow: 0.5-0.6 %
    of the diagonal against 2.6-2.8 %, whose thin tail's estimated normals turn), the farther one
    on FAUST_r bodies' vertices (0.5-1.6 % against 0.3-0.5 %; fewer handles, but parts off the
    points), whose pairs it matched worse (40 pairs: 1.99 -> 2.21).
    """
    from .pointcloud import outward_normals

    if shape.is_mesh:
        raise ShapeError(f"{shape.name}: a reconstruction is for point clouds; this shape has faces.", shape.path)
    points = shape.vertices
    if len(points) < checks.min_points:
        raise ReconstructionError(f"{shape.name}: {len(points)} points are too few to reconstruct a surface "
                                  f"(at least {checks.min_points}).", shape.path)
    n_target = len(points) if n_target is None else int(n_target)
    if n_target < 4:
        raise SettingsError(f"reconstruct_proxy: n_target must be at least 4, got {n_target}.")
    tried = [_reconstruct(shape, outward_normals(points), n_target, depth, checks)]
    if shape.point_normals is not None:
        tried.append(_reconstruct(shape, outward_normals(points, normals=shape.point_normals), n_target, depth, checks,
                                  source="file"))
    usable = [t for t in tried if not isinstance(t, ReconstructionError)]
    if not usable:
        raise tried[-1]
    proxy, report = min(usable, key=lambda t: t[1].point_distance_p99)
    log.info("%s: reconstructed surface of %d vertices (from %d points): %s", shape.name, proxy.shape.n_vertices,
             len(points), report.to_dict())
    return proxy, report


def _reconstruct(shape: Shape, normals: np.ndarray, n_target: int, depth: int, checks: ReconstructionChecks,
                 source: str = "estimated"):
    """One reconstruction of ``shape`` from ``normals`` (``source``: "estimated" or "file"):
    ``(Proxy, ReconstructionReport)``, or the :class:`ReconstructionError` of its checks
    (returned, not raised)."""
    points = shape.vertices
    v, f = poisson_surface(points, normals, depth)
    v, f, n_comp = largest_component(v, f)
    if len(v) > n_target:
        v, f = decimate_manifold(v, f, n_target)
    mesh = Shape(v, f, name=f"{shape.name}-surface", validate=False)
    face, bary, dist = project_on_mesh(points, v, f, point_normals=normals)
    try:
        report = check_reconstruction(shape, mesh, dist, n_comp, checks, normals=source)
    except ReconstructionError as exc:
        return exc
    return Proxy(mesh, face, bary, dist, source), report


def check_reconstruction(cloud: Shape, mesh: Shape, distance: np.ndarray, n_components: int,
                         checks: ReconstructionChecks, normals: str = "estimated") -> ReconstructionReport:
    """The :class:`ReconstructionReport` of ``mesh`` reconstructed from ``cloud`` (``distance``:
    each point's distance to it; ``n_components``: the Poisson surface's pieces before the
    largest was kept); raises :class:`ReconstructionError` naming every failed check: one
    piece, closed and edge-manifold but for ``max_open_edges``, at most ``max_lost_points`` of
    the points farther than ``max_point_distance``, at most ``max_far_area`` of the surface far
    from the points."""
    diag = float(np.linalg.norm(np.ptp(cloud.vertices, axis=0))) or 1.0
    far = far_area_share(cloud.vertices, mesh.vertices, mesh.faces, checks.far_spacing * point_spacing(cloud.vertices))
    n_open = len(mesh.boundary_edges) + len(mesh.non_manifold_edges)
    lost = int((distance > checks.max_point_distance * diag).sum())
    report = ReconstructionReport(len(cloud.vertices), mesh.n_vertices, n_components, n_open,
                                  float(distance.max()) / diag, lost, far,
                                  float(np.quantile(distance, 0.99)) / diag, normals)
    problems = []
    if mesh.n_components != 1:
        problems.append(f"{mesh.n_components} connected pieces")
    if n_open > checks.max_open_edges * len(mesh.edges):
        problems.append(f"not closed and manifold ({n_open} boundary or non-manifold edges of {len(mesh.edges)})")
    if lost > checks.max_lost_points * len(distance):
        pieces = f", the surface came out in {n_components} connected pieces" if n_components > 1 else ""
        problems.append(f"{100 * lost / len(distance):.1f} % of the points farther than {checks.max_point_distance} "
                        f"of the diagonal from it (at most {100 * checks.max_lost_points:g} %{pieces})")
    if report.far_area > checks.max_far_area:
        problems.append(f"{100 * report.far_area:.0f} % of the surface far from every point "
                        f"(at most {100 * checks.max_far_area:.0f} %; an open surface?)")
    if problems:
        raise ReconstructionError(f"{cloud.name}: the surface reconstructed from the points is not usable: "
                                  + "; ".join(problems) + ".", cloud.path)
    return report


def pair_proxies(src: Shape, tgt: Shape, *, proxy_above: int | None, proxy_size: int,
                 point_cloud_surface: str = "none") -> tuple[Proxy, Proxy] | None:
    """The proxies a pair is matched through (the pipeline's rule, in one place so that what
    uses a match's functional map can rebuild the bases it is expressed in), or None.

    Two meshes: proxies of about ``proxy_size`` vertices when one has more than ``proxy_above``
    (a shape of at most ``proxy_size`` vertices is its own proxy); None when neither has, or
    ``proxy_above`` is None. A pair with a point cloud, with ``point_cloud_surface`` "poisson"
    (or "mixed" and one mesh): each cloud's reconstructed surface
    (:func:`shapecorr.core.reconstruct.reconstruct_proxy`, at most ``proxy_size`` vertices), each
    mesh its own proxy (decimated above ``proxy_above``), so the pair is matched by the mesh path
    and lifted to every point; None otherwise (the clouds are matched as points), and with a
    :class:`ShapeWarning` without pymeshlab or when a reconstruction fails its checks
    (:data:`MESH_PAIR_CHECKS` against a mesh, a few points may be lost, with a warning;
    :data:`CLOUD_PAIR_CHECKS` for two clouds, none)."""
    if src.is_mesh and tgt.is_mesh:
        if proxy_above is None or max(src.n_vertices, tgt.n_vertices) <= proxy_above:
            return None
        return make_proxy(src, proxy_size), make_proxy(tgt, proxy_size)
    if point_cloud_surface == "none" or (point_cloud_surface == "mixed" and not (src.is_mesh or tgt.is_mesh)):
        return None
    if not have_pymeshlab():
        warnings.warn(ShapeWarning("point clouds are matched as points: reconstructing their surface needs "
                                   "pymeshlab (pip install 'shapecorr[pointcloud]')"), stacklevel=4)
        return None
    out = []
    checks = MESH_PAIR_CHECKS if (src.is_mesh or tgt.is_mesh) else CLOUD_PAIR_CHECKS
    for shape in (src, tgt):
        if shape.is_mesh:
            big = proxy_above is not None and shape.n_vertices > proxy_above
            out.append(make_proxy(shape, proxy_size if big else shape.n_vertices))
            continue
        try:
            proxy, report = reconstruct_proxy(shape, min(shape.n_vertices, proxy_size), checks=checks)
        except ReconstructionError as exc:
            warnings.warn(ShapeWarning(f"{exc} Matched as points instead."), stacklevel=4)
            return None
        if report.lost_points:
            warnings.warn(ShapeWarning(
                f"{shape.name}: {report.lost_points} of {report.n_points} points lie off the surface reconstructed "
                f"from the cloud (up to {report.point_distance_max:.3f} of the diagonal; a thin part lost?); they "
                "take the map of the nearest surface point."), stacklevel=4)
        out.append(proxy)
    return tuple(out)
