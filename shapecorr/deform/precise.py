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

import logging

import numpy as np

from ..core import Shape
from ..fmap.precise import SpectralBases, spectral_precise_map
from ..fmap.surface import SurfaceMap, project_on_surface

log = logging.getLogger(__name__)

__all__ = ["PRECISE_METHODS", "precise_map", "registered_map", "registered_vertex_maps"]

PRECISE_METHODS = ("spectral", "vertex", "register")


def precise_map(match, source: Shape, target: Shape, *, method: str = "spectral", k: int | None = None,
                iterations: int = 3, rings: int = 2, device: str = "cpu", cache: bool | None = None,
                bases: SpectralBases | None = None, register_settings=None, progress=None) -> SurfaceMap:
    """For each target vertex, a point on the source surface (:class:`SurfaceMap`).

    method:
      - ``"spectral"`` (default): refine ``match.p2p_21`` by projecting each target vertex's
        spectral embedding onto the source triangles through ``match.fmap_12`` (smooth, sub-vertex
        precision; ``k`` and ``iterations`` as in :func:`shapecorr.fmap.precise.precise_map_arrays`);
      - ``"vertex"``: the vertex map itself (each point sits on a source vertex);
      - ``"register"``: deform the source onto the target starting from the match's vertex maps
        (ARAP-regularized non-rigid ICP, :func:`shapecorr.deform.registration.register` with
        ``register_settings``), then take for each target vertex the closest point of the
        deformed source surface (precise wherever the two surfaces are brought together,
        whatever the two meshings; ``progress`` as there).
    A point-cloud source has no triangles: the vertex map is used whatever the method.
    """
    if method not in PRECISE_METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(PRECISE_METHODS)}.")
    match.check_shapes(source, target)
    if not source.is_mesh:
        raise ValueError(f"{source.name}: the source is a point cloud; a surface map needs source faces "
                         "(use the vertex map match.p2p_21).")
    if method == "vertex":
        return SurfaceMap.from_vertex_map(match.p2p_21, source.faces)
    if method == "register":
        return registered_map(match, source, target, settings=register_settings, progress=progress)
    return spectral_precise_map(match, source, target, k=k, iterations=iterations, rings=rings, device=device,
                                cache=cache, bases=bases)


def registered_map(match, source: Shape, target: Shape, *, settings=None, progress=None) -> SurfaceMap:
    """The precise map read off a registration: each target vertex -> the closest point of the
    source deformed onto the target (see :func:`precise_map`, ``method="register"``)."""
    from .registration import register

    reg = register(source, target, match.p2p_21, match.p2p_12, settings=settings, progress=progress)
    smap, dist = project_on_surface(target.vertices, reg.vertices, source.faces)
    log.info("registered map: median distance of the target vertices to the deformed source %.3g "
             "(x sqrt(area))", float(np.median(dist)) / np.sqrt(max(target.area if target.is_mesh else 1.0, 1e-300)))
    return smap


def registered_vertex_maps(source: Shape, target: Shape, p2p_21, p2p_12=None, *, settings=None,
                           progress=None) -> tuple[np.ndarray, np.ndarray, float]:
    """Both vertex maps read off a registration of two meshes (:func:`registration.register`
    from ``p2p_21`` and ``p2p_12``): each target vertex -> the source vertex nearest to its
    closest point on the deformed source (``p2p_21``), each deformed source vertex -> the target
    vertex nearest to its closest point on the target (``p2p_12``). Returns ``(p2p_21, p2p_12,
    fit)``, ``fit`` the median distance of the target vertices to the deformed source, in units
    of the target's ``sqrt(area)``."""
    from .registration import register

    reg = register(source, target, p2p_21, p2p_12, settings=settings, progress=progress)
    smap_21, dist = project_on_surface(target.vertices, reg.vertices, source.faces)
    smap_12, _ = project_on_surface(reg.vertices, target.vertices, target.faces)
    fit = float(np.median(dist)) / np.sqrt(max(target.area, 1e-300))
    return smap_21.nearest_vertex(source.faces), smap_12.nearest_vertex(target.faces), fit
