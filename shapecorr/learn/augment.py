"""Training-time augmentation: the same surface with other meshing, other resolution, other
proportions and other poses, so that learned features depend on the surface, not on its mesh.

- :func:`decimated`: quadric edge collapse to fewer vertices (``fast_simplification``, through
  :func:`shapecorr.core.proxy.decimate`, the one decimator of the package);
- :func:`remeshed`: isotropic remeshing to a target vertex count (pymeshlab; more or fewer
  vertices), or *anisotropic* remeshing: the shape is stretched along a random axis, remeshed
  isotropically and stretched back, so that its triangles are long and thin in one direction;
- :func:`stretched`: other body proportions;
- :func:`bent`: a smooth twist about a random axis (another pose; not exactly isometric: on a
  blob twisted by 0.6 rad the median edge length changes by 7 %);
- :func:`reproportioned`: *local*, non-isometric proportions, as two species differ (a limb,
  neck or head longer or shorter, thicker or thinner): a few smooth stretch fields, each
  centred at a random vertex with a geodesic Gaussian weight, scaling its part along the part's
  own axis and across it by different factors.

Remeshing and decimation renumber the vertices: a ground-truth correspondence does not survive
them (the self-supervised loss needs none). Stretching, bending and re-proportioning keep the
vertex order (the ground truth holds exactly). :func:`random_variant` draws one augmentation as
:class:`AugmentSettings` asks; :func:`random_pose` only its pose and proportions.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from ..core import Shape
from ..core.errors import SettingsError
from ..core.proxy import decimate
from ..core.reconstruct import have_pymeshlab, meshlab_filter
from ..fmap.confidence import graph_distances

log = logging.getLogger(__name__)


def stretched(shape: Shape, rng: np.random.Generator, amount: float = 0.2) -> Shape:
    """``shape`` stretched along three random orthogonal axes by factors in
    ``exp([-amount, amount])``: other body proportions, same vertex order (the ground truth
    still applies). A training augmentation against over-fitting to the training subjects."""
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    scale = np.exp(rng.uniform(-amount, amount, 3))
    v = ((shape.vertices - shape.vertices.mean(0)) @ q) * scale @ q.T
    return shape.copy(vertices=v, name=f"{shape.name}_stretched")


def decimated(shape: Shape, n_target: int) -> Shape:
    """``shape`` decimated to about ``n_target`` vertices (itself if it has no more)."""
    if shape.n_vertices <= n_target:
        return shape
    v, f = decimate(shape.vertices, shape.faces, n_target)
    return Shape(v, f, name=f"{shape.name}~dec{len(v)}")


def _edge_length(shape: Shape, n_target: int) -> float:
    """The edge length of an equilateral mesh of ``shape``'s area with about ``n_target``
    vertices (about two triangles per vertex)."""
    return math.sqrt(2.0 * shape.area / (math.sqrt(3.0) * n_target))


def remeshed(shape: Shape, n_target: int, *, anisotropy: float = 1.0, rng: np.random.Generator | None = None,
             iterations: int = 3) -> Shape:
    """``shape`` remeshed by pymeshlab's isotropic explicit remeshing to about ``n_target``
    vertices. ``anisotropy > 1``: the triangles come out that many times longer along a random
    axis (drawn with ``rng``) than across it. Raises ImportError without pymeshlab."""
    import pymeshlab

    v = np.asarray(shape.vertices, dtype=np.float64)
    centre = v.mean(0)
    q = np.eye(3)
    scale = np.ones(3)
    if anisotropy != 1.0:
        q, _ = np.linalg.qr((rng or np.random.default_rng()).standard_normal((3, 3)))
        scale = np.array([anisotropy, 1.0, 1.0])
    work = ((v - centre) @ q) * scale
    work_shape = Shape(work, shape.faces)
    v_new, faces = meshlab_filter(dict(vertex_matrix=work, face_matrix=np.asarray(shape.faces, dtype=np.int32)),
                                  "meshing_isotropic_explicit_remeshing", iterations=iterations,
                                  targetlen=pymeshlab.PureValue(_edge_length(work_shape, n_target)))
    out = (v_new / scale) @ q.T + centre
    tag = "aniso" if anisotropy != 1.0 else "iso"
    return Shape(out, faces, name=f"{shape.name}~{tag}{len(out)}")


def bent(shape: Shape, rng: np.random.Generator, amount: float = 0.5) -> Shape:
    """``shape`` twisted about a random axis through its centre by an angle that grows
    linearly along that axis (up to about ``amount`` radians across the shape): a smooth
    change of pose, isometric only near the axis (edges away from it are sheared); vertex
    order unchanged."""
    v = np.asarray(shape.vertices, dtype=np.float64)
    c = v.mean(0)
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    local = (v - c) @ q  # axis 0 is the twist axis
    extent = max(float(np.ptp(local[:, 0])), 1e-12)
    a = amount * rng.choice([-1.0, 1.0]) * local[:, 0] / extent
    ca, sa = np.cos(a), np.sin(a)
    y, z = local[:, 1].copy(), local[:, 2].copy()
    local[:, 1], local[:, 2] = ca * y - sa * z, sa * y + ca * z
    return shape.copy(vertices=local @ q.T + c, name=f"{shape.name}~bent")


def reproportioned(shape: Shape, rng: np.random.Generator, amount: float = 0.5, n_fields: tuple[int, int] = (3, 6),
                   radius: tuple[float, float] = (0.1, 0.3)) -> Shape:
    """``shape`` with other *local* proportions: ``n_fields`` (drawn in the range) smooth stretch
    fields applied one after another, each centred at a random vertex ``c`` with the weight
    ``w = exp(-d^2 / 2r^2)`` of the geodesic (edge-graph) distance ``d`` from ``c``, ``r`` drawn in
    ``radius`` x sqrt(area). Each moves ``x -> x + w(x) (M - I)(x - c)``, where ``M`` scales
    by ``exp(s_axis)`` along the principal axis of the weighted part (a limb's own axis) and by
    ``exp(s_across)`` across it, both drawn in ``[-amount, amount]``: the part around ``c``
    becomes longer or shorter, thicker or thinner, and the rest of the surface (geodesically
    far, even where close in space, such as the other leg) stays where it is. Not isometric.
    Vertex order and faces unchanged. With ``amount <= 0.5`` a field does not fold the surface
    where the geodesic distance is close to the Euclidean one (the stretch along a direction is at
    least ``1 - 0.45 (e^amount - 1) > 0.7``); at thin parts (ears, tail) single triangles can
    turn over (FAUST_r / TOSCA_r, amount 0.5: 0-1 of 10k faces)."""
    if shape.faces is None:
        raise ValueError(f"reproportioned: {shape.name or 'the shape'} is a point cloud; it needs a mesh "
                         "(geodesic weights along its edges).")
    if not (0 <= amount <= 1 and 1 <= n_fields[0] <= n_fields[1] and 0 < radius[0] <= radius[1]):
        raise ValueError(f"reproportioned: need 0 <= amount <= 1, 1 <= n_fields low <= high, 0 < radius low <= high; "
                         f"got {amount!r}, {n_fields!r}, {radius!r}.")
    v = np.asarray(shape.vertices, dtype=np.float64)
    n = int(rng.integers(n_fields[0], n_fields[1] + 1))
    centres = rng.choice(len(v), n, replace=False)
    radii = rng.uniform(radius[0], radius[1], n) * math.sqrt(shape.area)
    logs = rng.uniform(-amount, amount, (n, 2))  # along the part's axis, across it
    dist = graph_distances(v, shape.edges, centres)
    out = v.copy()
    for k in range(n):
        w = np.exp(-0.5 * (dist[k] / radii[k]) ** 2)  # 0 on other connected pieces (inf distance)
        out = out + w[:, None] * ((out - out[centres[k]]) @ (_part_scaling(out, w, *logs[k]) - np.eye(3)))
    return shape.copy(vertices=out, name=f"{shape.name}~prop")


def _part_scaling(x: np.ndarray, w: np.ndarray, log_axis: float, log_across: float) -> np.ndarray:
    """The symmetric 3x3 scaling by ``exp(log_axis)`` along the principal axis of the points
    ``x`` weighted by ``w`` and by ``exp(log_across)`` across it."""
    m = (w[:, None] * x).sum(0) / w.sum()
    d = x - m
    axis = np.linalg.eigh((w[:, None] * d).T @ d)[1][:, -1]
    return math.exp(log_across) * np.eye(3) + (math.exp(log_axis) - math.exp(log_across)) * np.outer(axis, axis)


@dataclass(frozen=True)
class AugmentSettings:
    """How :func:`random_variant` draws an augmentation.

    ``resolution``: vertex counts drawn log-uniformly in this range for remeshed and decimated
    variants. ``anisotropy``: the largest stretch factor of anisotropic remeshing (drawn in
    ``[1.5, anisotropy]``). ``stretch``: log-range of the random proportions (0: none).
    ``bend``: the largest twist in radians (0: none). ``remesh``: use pymeshlab remeshing when
    installed (otherwise only decimation changes the mesh). ``local``: the largest log-factor of
    :func:`reproportioned`'s local stretches (0: none, the default; at most 0.5) and
    ``local_fields`` their number.
    """

    resolution: tuple[int, int] = (2000, 20000)
    anisotropy: float = 3.0
    stretch: float = 0.2
    bend: float = 0.6
    remesh: bool = True
    local: float = 0.0
    local_fields: tuple[int, int] = (3, 6)

    def __post_init__(self):
        lo, hi = self.resolution
        if not (isinstance(lo, int) and isinstance(hi, int) and 100 <= lo <= hi):
            raise SettingsError(f"AugmentSettings.resolution must be two integers 100 <= low <= high, got "
                                f"{self.resolution!r}.")
        if not (math.isfinite(self.anisotropy) and self.anisotropy >= 1.5):
            raise SettingsError(f"AugmentSettings.anisotropy must be >= 1.5, got {self.anisotropy!r}.")
        for name in ("stretch", "bend"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise SettingsError(f"AugmentSettings.{name} must be a finite number >= 0, got {v!r}.")
        if not (math.isfinite(self.local) and 0 <= self.local <= 0.5):
            raise SettingsError(f"AugmentSettings.local must be in [0, 0.5] (larger stretches can fold the "
                                f"surface), got {self.local!r}.")
        lo, hi = self.local_fields
        if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi):
            raise SettingsError(f"AugmentSettings.local_fields must be two integers 1 <= low <= high, got "
                                f"{self.local_fields!r}.")


def random_variant(shape: Shape, rng: np.random.Generator, settings: AugmentSettings = AugmentSettings()) -> Shape:
    """One random augmented copy of a mesh: a random pose and proportions (when enabled), then
    one of: decimation, isotropic remeshing, anisotropic remeshing (remeshing when pymeshlab is
    installed and ``settings.remesh``), to a random resolution. Decimation cannot add vertices:
    above the shape's own count it is remeshed instead (or kept when remeshing is off)."""
    return _random_mesh(random_pose(shape, rng, settings), shape.n_vertices, rng, settings)


def variant_with_map(shape: Shape, rng: np.random.Generator,
                     settings: AugmentSettings = AugmentSettings()) -> tuple[Shape, np.ndarray]:
    """:func:`random_variant` (the same draws from ``rng``) and its vertex map from ``shape``:
    ``vertex_map[i]`` is the vertex of the copy nearest to vertex ``i`` of ``shape`` in the
    copy's pose. The pose and proportions keep the vertex order, so the map is the one the
    remeshing or decimation defines; its error is that of a nearest vertex on the new mesh (at
    most about one of its edge lengths, as for FAUST_r's own ground truth). With it, a ground
    truth ``gt`` of ``shape`` (template point -> vertex) becomes ``vertex_map[gt]`` on the copy:
    supervised training on other meshings and resolutions of the same surface."""
    from scipy.spatial import cKDTree

    posed = random_pose(shape, rng, settings)
    out = _random_mesh(posed, shape.n_vertices, rng, settings)
    _, vertex_map = cKDTree(out.vertices).query(posed.vertices)
    return out, np.asarray(vertex_map, dtype=np.int64)


def random_pose(shape: Shape, rng: np.random.Generator, settings: AugmentSettings = AugmentSettings()) -> Shape:
    """``shape`` with random local proportions (:func:`reproportioned`, when ``settings.local``),
    pose (:func:`bent`) and global proportions (:func:`stretched`), as ``settings`` asks; the
    same mesh and vertex order (a ground truth of ``shape`` holds for it exactly)."""
    out = shape
    if settings.local:
        out = reproportioned(out, rng, settings.local, settings.local_fields)
    if settings.bend:
        out = bent(out, rng, rng.uniform(0.3, 1.0) * settings.bend)
    if settings.stretch:
        out = stretched(out, rng, settings.stretch)
    return out


def _random_mesh(out: Shape, n_source: int, rng: np.random.Generator, settings: AugmentSettings) -> Shape:
    lo, hi = settings.resolution
    n = round(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    can_remesh = settings.remesh and have_pymeshlab()
    kind = rng.choice(["decimate", "iso", "aniso"]) if can_remesh else "decimate"
    if kind == "decimate" and n >= n_source:
        kind = "iso" if can_remesh else "keep"
    name = out.name
    if kind == "decimate":
        out = decimated(out, n)
    elif kind == "iso":
        out = remeshed(out, n, rng=rng)
    elif kind == "aniso":
        out = remeshed(out, n, anisotropy=float(rng.uniform(1.5, settings.anisotropy)), rng=rng)
    log.debug("augmented %s -> %s (%d vertices)", name, out.name, out.n_vertices)
    return out
