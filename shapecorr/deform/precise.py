"""Precise maps: for each target vertex of a match, a point on the source surface.

One dispatcher over the three ways of placing a target vertex on the source (face +
barycentric weights, :class:`~shapecorr.fmap.surface.SurfaceMap`):

- ``"spectral"``: the vertex map refined through the functional map
  (:func:`shapecorr.fmap.precise.spectral_precise_map`);
- ``"vertex"``: the vertex map itself;
- ``"register"``: the source deformed onto the target by the ARAP-regularized non-rigid ICP
  of :mod:`.registration`, each target vertex then projected onto the deformed source.

It lives in ``deform`` (the layer of the registration) so that deformation transfer and morphing
use it without importing ``transfer``, a later layer; texture, colour and label transfer import
it as :func:`shapecorr.transfer.precise_map` (the same function).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict

import numpy as np
from scipy.spatial import cKDTree

from ..core import Shape
from ..core.proxy import Proxy, make_proxy
from ..fmap.precise import SpectralBases, spectral_precise_map
from ..fmap.surface import SurfaceMap, project_on_surface

log = logging.getLogger(__name__)

__all__ = ["PRECISE_METHODS", "REGISTER_FINISH_UP_TO", "REGISTER_FULL_UP_TO", "REGISTER_PROXY_SIZE", "deformed_source",
           "precise_map", "proxy_maps", "register_max_vertices", "register_plan", "registered_map",
           "registered_vertex_maps"]

PRECISE_METHODS = ("spectral", "vertex", "register")

#: pairs whose larger shape has at most this many vertices are registered at full resolution ...
REGISTER_FULL_UP_TO = 8000
#: ... larger ones through proxies of about this many vertices (:func:`deformed_source`): the
#: size the registration was chosen at, so a scan-size pair costs a 5k pair's registration
#: (docs/bench/generalize_cpu/scanres_registration for maps, docs/bench/register_cpu/scan_size for
#: texture transfer)
REGISTER_PROXY_SIZE = 5000
#: ... and finished at full resolution (``finish``) when the source has at most this many
#: vertices: the finish's ARAP system is the full source's (stanford-bunny's 36k: +12 s, 2.34 ->
#: 1.24 texels; igea's 134k: +120 s for no gain)
REGISTER_FINISH_UP_TO = 40000


def register_max_vertices(n_vertices: int, *, full_up_to: int | None = None,
                          proxy_size: int | None = REGISTER_PROXY_SIZE) -> int | None:
    """The ``max_vertices`` of :func:`deformed_source` for a pair whose larger shape has
    ``n_vertices``: None (full resolution) up to ``full_up_to`` (``REGISTER_FULL_UP_TO`` when
    None), else ``proxy_size`` (None: full resolution whatever the size)."""
    limit = REGISTER_FULL_UP_TO if full_up_to is None else full_up_to
    return None if n_vertices <= limit else proxy_size


def precise_map(match, source: Shape, target: Shape, *, method: str = "spectral", k: int | None = None,
                iterations: int = 3, rings: int = 2, device: str = "cpu", cache: bool | None = None,
                bases: SpectralBases | None = None, register_settings=None, progress=None,
                register_proxy_size: int | None = REGISTER_PROXY_SIZE, register_finish: bool = True) -> SurfaceMap:
    """For each target vertex, a point on the source surface (:class:`SurfaceMap`).

    method:
      - ``"spectral"`` (default): refine ``match.p2p_21`` by projecting each target vertex's
        spectral embedding onto the source triangles through ``match.fmap_12`` (smooth, sub-vertex
        precision; ``k`` and ``iterations`` as in :func:`shapecorr.fmap.precise.precise_map_arrays`);
      - ``"vertex"``: the vertex map itself (each point sits on a source vertex; a target vertex
        mapped to a source vertex used by no face gets that vertex's closest surface point);
      - ``"register"``: deform the source onto the target starting from the match's vertex maps
        (ARAP-regularized non-rigid ICP, :func:`shapecorr.deform.registration.register` with
        ``register_settings``), then take for each target vertex the closest point of the
        deformed source surface (precise wherever the two surfaces are brought together,
        whatever the two meshings; ``progress`` as there). A pair with a shape above
        ``REGISTER_FULL_UP_TO`` vertices is registered through proxies of
        ``register_proxy_size`` vertices (:func:`register_max_vertices`; None: at full
        resolution, minutes at 100k vertices), then, with ``register_finish`` and a source of
        at most ``REGISTER_FINISH_UP_TO`` vertices, the last ICP stage once more at full
        resolution (:func:`deformed_source`): on bent, remeshed
        realworld models at 11k-38k vertices the median UV error of texture transfer went from
        2.27 texels at full resolution (one pair at 85 s) to 1.20 through proxies and 0.87 with
        the finish (docs/bench/register_cpu/scan_size).
    A point-cloud source has no triangles: the vertex map is used whatever the method.
    """
    if method not in PRECISE_METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(PRECISE_METHODS)}.")
    match.check_shapes(source, target)
    if not source.is_mesh:
        raise ValueError(f"{source.name}: the source is a point cloud; a surface map needs source faces "
                         "(use the vertex map match.p2p_21).")
    if method == "vertex":
        return SurfaceMap.from_vertex_map(match.p2p_21, source.faces, source.vertices)
    if method == "register":
        max_vertices, finish = register_plan(source, target, proxy_size=register_proxy_size, finish=register_finish)
        return registered_map(match, source, target, settings=register_settings, progress=progress,
                              max_vertices=max_vertices, finish=finish)
    return spectral_precise_map(match, source, target, k=k, iterations=iterations, rings=rings, device=device,
                                cache=cache, bases=bases)


def register_plan(source: Shape, target: Shape, *, proxy_size: int | None = REGISTER_PROXY_SIZE,
                  finish: bool = True) -> tuple[int | None, bool]:
    """How :func:`precise_map` registers this pair: ``(max_vertices, finish)`` of
    :func:`deformed_source` (proxies of ``proxy_size`` vertices above ``REGISTER_FULL_UP_TO``,
    :func:`register_max_vertices`; the full-resolution finish after proxies when asked and the
    source has at most ``REGISTER_FINISH_UP_TO`` vertices)."""
    max_vertices = register_max_vertices(max(source.n_vertices, target.n_vertices), proxy_size=proxy_size)
    return max_vertices, bool(finish and max_vertices is not None and source.n_vertices <= REGISTER_FINISH_UP_TO)


def registered_map(match, source: Shape, target: Shape, *, settings=None, progress=None,
                   max_vertices: int | None = None, finish: bool = False) -> SurfaceMap:
    """The precise map read off a registration: each target vertex -> the closest point of the
    source deformed onto the target (see :func:`precise_map`, ``method="register"``;
    ``max_vertices`` and ``finish`` as in :func:`deformed_source`).

    Computed once per target shape object for the same source, vertex maps and settings (kept in
    memory with the target's derived data, never on disk): colours, labels, fields and the
    texture read through one match register the pair once."""
    def compute() -> dict:
        X = deformed_source(source, target, match.p2p_21, match.p2p_12, settings=settings, progress=progress,
                            max_vertices=max_vertices, finish=finish)
        smap, dist = project_on_surface(target.vertices, X, source.faces)
        log.info("registered map: median distance of the target vertices to the deformed source %.3g (x sqrt(area))",
                 float(np.median(dist)) / np.sqrt(max(target.area if target.is_mesh else 1.0, 1e-300)))
        return {"face": smap.face, "bary": smap.bary}

    params = {"source": source.content_hash, "p2p_21": _digest(match.p2p_21), "p2p_12": _digest(match.p2p_12),
              "settings": None if settings is None else asdict(settings), "max_vertices": max_vertices,
              "finish": bool(finish)}
    out = target.derived("registered_map", params, compute, disk=False)
    return SurfaceMap(out["face"].copy(), out["bary"].copy())  # the caller's to change


def _digest(indices) -> str | None:
    """SHA-256 of an index array (None stays None)."""
    if indices is None:
        return None
    a = np.ascontiguousarray(np.asarray(indices, dtype=np.int64))
    return hashlib.sha256(f"{a.shape}".encode() + a.tobytes()).hexdigest()


def registered_vertex_maps(source: Shape, target: Shape, p2p_21, p2p_12=None, *, settings=None,
                           progress=None, max_vertices: int | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Both vertex maps read off a registration of two meshes (:func:`deformed_source` from
    ``p2p_21`` and ``p2p_12``): each target vertex -> the source vertex nearest to its
    closest point on the deformed source (``p2p_21``), each deformed source vertex -> the target
    vertex nearest to its closest point on the target (``p2p_12``). Returns ``(p2p_21, p2p_12,
    fit)``, ``fit`` the median distance of the target vertices to the deformed source, in units
    of the target's ``sqrt(area)``."""
    X = deformed_source(source, target, p2p_21, p2p_12, settings=settings, progress=progress,
                        max_vertices=max_vertices)
    smap_21, dist = project_on_surface(target.vertices, X, source.faces)
    smap_12, _ = project_on_surface(X, target.vertices, target.faces)
    fit = float(np.median(dist)) / np.sqrt(max(target.area, 1e-300))
    return smap_21.nearest_vertex(source.faces), smap_12.nearest_vertex(target.faces), fit


def deformed_source(source: Shape, target: Shape, p2p_21, p2p_12=None, *, settings=None, progress=None,
                    max_vertices: int | None = None, finish: bool = False) -> np.ndarray:
    """The source's vertices deformed onto the target (:func:`shapecorr.deform.registration.register`
    from the vertex maps), ``(n_source, 3)`` in the target's coordinates.

    ``max_vertices``: two meshes of which one has more vertices are registered through proxies of
    about that many vertices each (:func:`shapecorr.core.proxy.make_proxy`; a smaller shape is its
    own): the maps are carried to the proxies (each proxy vertex through the full vertex nearest
    it, each full vertex to the proxy vertex nearest its projection), the source proxy is
    registered onto the target proxy, and every source vertex follows the point of the source
    proxy it was projected on, so the cost no longer grows with the meshes' size. With
    ``finish``, the registration's last, least stiff stage then runs once more on the full meshes
    (:func:`shapecorr.deform.registration.refine_registration`): it brings the fit from the
    proxies' to the full meshes' on a synthetic bend at 2-3x the proxy's size; on scan-size
    FAUST_r and TOSCA_r pairs (15k-38k vertices, 5k-8k proxies) it changed the vertex maps'
    error little, at twice the cost (docs/bench/generalize_cpu/scanres_registration), so the
    matcher does not use it, but it makes texture transfer's sub-vertex points more precise
    (docs/bench/register_cpu/scan_size), so :func:`precise_map` does.
    None: at full resolution whatever the size.
    """
    from .registration import refine_registration, register

    too_large = (max_vertices is not None and source.is_mesh and target.is_mesh
                 and max(source.n_vertices, target.n_vertices) > max_vertices)
    if not too_large:
        return register(source, target, p2p_21, p2p_12, settings=settings, progress=progress).vertices
    proxy1, proxy2 = (make_proxy(shape, max_vertices) for shape in (source, target))
    q21, q12 = proxy_maps(proxy1, proxy2, source, target, p2p_21, p2p_12)
    log.info("registration through proxies of %d and %d vertices (the shapes have %d and %d)",
             proxy1.shape.n_vertices, proxy2.shape.n_vertices, source.n_vertices, target.n_vertices)
    reg = register(proxy1.shape, proxy2.shape, q21, q12, settings=settings, progress=progress)
    if not finish:
        return proxy1.interpolate(reg.vertices)
    finish_progress = None if progress is None else (lambda stage, frac: progress(f"full resolution: {stage}", frac))
    return refine_registration(source, target, proxy1.interpolate(reg.vertices), reg.similarity, p2p_21, p2p_12,
                               settings=settings, progress=finish_progress)


def proxy_maps(proxy1: Proxy, proxy2: Proxy, source: Shape, target: Shape, p2p_21,
               p2p_12=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Full-resolution vertex maps carried to two proxies: a proxy vertex of the target takes the
    map of the full target vertex nearest it, and lands on the source proxy's vertex nearest the
    projection of its full-resolution image (``(q21, q12)``; ``q12`` None without ``p2p_12``)."""
    def nearest_full(proxy: Proxy, shape: Shape) -> np.ndarray:
        if proxy.shape is shape:
            return np.arange(shape.n_vertices)
        return cKDTree(shape.vertices).query(proxy.shape.vertices)[1]

    q21 = proxy1.anchor()[np.asarray(p2p_21)[nearest_full(proxy2, target)]]
    if p2p_12 is None:
        return q21, None
    return q21, proxy2.anchor()[np.asarray(p2p_12)[nearest_full(proxy1, source)]]
