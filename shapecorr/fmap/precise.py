"""From a vertex map to a *precise* map through the functional map: each target vertex -> a point on a source face.

A vertex map ``p2p_21`` sends every target vertex to a source vertex, so anything carried
through it is piecewise constant at the source's resolution (blocky texture, jagged label
borders). The functional map ``fmap_12 (k2, k1)`` knows more: the spectral embedding of
target vertex j, ``Phi2[j]`` (length k2), should equal the image of the source point it comes
from, ``Phi1(x) C^T``, and ``Phi1`` is linear on each source triangle. So the best source point
is the closest point to ``Phi2[j]`` on the triangles of the embedded source mesh
``(Phi1 C^T, F1)``: a small projection problem solved exactly per triangle, among the faces
around the vertex-map match (the vertex-to-point projection of Ezuz & Ben-Chen, "Deblurring
and Denoising of Maps between Shapes", 2017).

This is the ``"spectral"`` method of :func:`shapecorr.transfer.precise_map` (the dispatcher,
which also offers the vertex map and the registration); it lives in the fmap layer so that
``deform`` and ``transfer`` share it.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np

from .surface import SurfaceMap, candidate_faces, project_on_faces, surface_seeds

log = logging.getLogger(__name__)

__all__ = ["SpectralBases", "precise_map_arrays", "source_was_decimated", "spectral_bases", "spectral_precise_map"]


class SpectralBases(NamedTuple):
    evecs1: np.ndarray  # (n1, k1) source basis (M1-orthonormal, normalized shape)
    evecs2: np.ndarray  # (n2, k2) target basis
    mass1: np.ndarray  # (n1,)
    mass2: np.ndarray  # (n2,)


def spectral_bases(match, source, target, *, device: str = "cpu", cache: bool | None = None) -> SpectralBases:
    """The eigenbases the match's functional map is expressed in (the same sizes and Laplacian
    as the match computed, so they come from the cache), at every vertex of both shapes.

    A pair matched through proxies (``match.info["proxy"]``: large meshes, reconstructed
    point-cloud surfaces) has its functional map in the proxies' bases: the proxies are rebuilt
    by the pipeline's rule (:func:`shapecorr.core.reconstruct.pair_proxies`) and their bases carried to
    every vertex by barycentric interpolation, as the match's own lifting does. The shapes' own
    bases would be other functions (another operator for a point cloud; at best the same ones
    up to signs and order for a decimated mesh), and their eigenvectors cost minutes at 100k
    vertices."""
    from .prepare import prepare_shape

    k2, k1 = np.shape(match.fmap_12)
    kind = (match.settings or {}).get("laplacian", "auto")
    k_basis = (match.info or {}).get("k_basis") or [k1, k2]
    ks = (max(int(k_basis[0]), k1), max(int(k_basis[1]), k2))
    proxies = _match_proxies(match, source, target)
    if proxies is not None:
        evecs = [proxy.interpolate(prepare_shape(proxy.shape, kk, laplacian_kind=kind, device=device,
                                                 cache=cache).evecs[:, :k])
                 for proxy, kk, k in zip(proxies, ks, (k1, k2))]
        return SpectralBases(evecs[0], evecs[1], *(_unit_mass(shape, kind, cache) for shape in (source, target)))
    P1 = prepare_shape(source, ks[0], laplacian_kind=kind, device=device, cache=cache)
    P2 = prepare_shape(target, ks[1], laplacian_kind=kind, device=device, cache=cache)
    return SpectralBases(P1.evecs[:, :k1], P2.evecs[:, :k2], P1.mass, P2.mass)


def source_was_decimated(match, source) -> bool:
    """Whether ``match`` was computed through a proxy of the source with fewer vertices than it."""
    info = (match.info or {}).get("proxy")
    return bool(info) and int(info["sizes"][0]) < source.n_vertices


def _match_proxies(match, source, target):
    """The proxies ``match`` was computed through, rebuilt (None when it was not)."""
    info = (match.info or {}).get("proxy")
    if not info:
        return None
    from ..core.reconstruct import pair_proxies

    large = (match.settings or {}).get("large") or {}
    proxies = pair_proxies(source, target, proxy_above=large.get("proxy_above"),
                           proxy_size=int(large.get("proxy_size", 10000)),
                           point_cloud_surface=large.get("point_cloud_surface", "none"))
    sizes = None if proxies is None else [int(p.shape.n_vertices) for p in proxies]
    if sizes != list(info.get("sizes", [])):
        from ..core.errors import ShapeMismatchError

        raise ShapeMismatchError(f"the match was computed through proxies of {info.get('sizes')} vertices, but these "
                                 f"shapes and its settings give {sizes}: pass the shapes the match was computed for.")
    return proxies


def _unit_mass(shape, kind: str, cache: bool | None) -> np.ndarray:
    """The shape's lumped mass scaled to a total of 1 (its bases are those of the unit-area shape)."""
    from ..spectral import laplacian

    mass = np.asarray(laplacian(shape, kind, cache=cache)[1], dtype=np.float64)
    return mass / mass.sum()


def precise_map_arrays(fmap_12: np.ndarray, evecs1: np.ndarray, evecs2: np.ndarray, faces1: np.ndarray,
                       p2p_21: np.ndarray, *, mass2: np.ndarray | None = None, k: int | None = None,
                       iterations: int = 3, rings: int = 2) -> tuple[SurfaceMap, np.ndarray]:
    """Array core of :func:`spectral_precise_map`.

    ``fmap_12 (k2, k1)``, ``evecs1 (n1, >=k1)``, ``evecs2 (n2, >=k2)``, source ``faces1 (m1, 3)``,
    ``p2p_21 (n2,)`` the vertex map used to pick candidate faces (``rings`` rings around it),
    ``mass2 (n2,)`` the target's lumped mass (M-orthogonal projection; least squares without).

    Only the first ``k`` (default ``min(k1, k2, 50)``) eigenfunctions are used: the highest ones
    are the least reliable part of a functional map. After each projection the functional map is
    re-estimated from the precise points (``C = Phi2^+ Phi1(points)``) and the projection
    repeated, ``iterations`` times in all; on the Spot example pair this lowers the mean error
    of the points by about a third compared with a single projection.

    Returns the surface map and, per target vertex, the final embedding distance of the chosen
    point relative to that of the vertex match (<= 1 when the vertex itself is among the candidates).
    """
    k2, k1 = fmap_12.shape
    k = min(k1, k2, 50) if k is None else min(k, k1, k2)
    C = np.asarray(fmap_12, dtype=np.float64)[:k, :k]
    phi1 = np.asarray(evecs1[:, :k], dtype=np.float64)
    phi2 = np.asarray(evecs2[:, :k], dtype=np.float64)
    seeds = np.asarray(p2p_21, dtype=np.int64)
    smap, ratio = None, None
    for it in range(max(1, iterations)):
        emb1 = phi1 @ C.T  # (n1, k): source vertices in the target's spectral space
        cand = candidate_faces(faces1, seeds, len(emb1), rings=rings)  # (n2, c)
        block = max(32, int(1.5e6 // max(1, cand.shape[1] * k)))  # ~12 MB per temporary
        smap, d2 = project_on_faces(phi2, emb1, faces1, cand, block=block)
        d_vertex = ((emb1[seeds] - phi2) ** 2).sum(1)
        ratio = np.minimum(np.sqrt(d2 / np.maximum(d_vertex, 1e-300)), 1.0)
        if it + 1 < iterations:
            pulled = smap.points(phi1, faces1)  # (n2, k): source basis at the precise points
            if mass2 is not None:
                C = phi2.T @ (np.asarray(mass2)[:, None] * pulled)
            else:
                C = np.linalg.lstsq(phi2, pulled, rcond=None)[0]
            seeds = smap.nearest_vertex(faces1)
    return smap, ratio


def spectral_precise_map(match, source, target, *, k: int | None = None, iterations: int = 3, rings: int = 2,
                         device: str = "cpu", cache: bool | None = None,
                         bases: SpectralBases | None = None) -> SurfaceMap:
    """Shape-level :func:`precise_map_arrays`: each target vertex of ``match`` (source -> target)
    projected onto the source triangles through ``match.fmap_12`` (``bases`` default: the
    match's own eigenbases, :func:`spectral_bases`).

    A source that was decimated for the match (a proxy smaller than itself, above 30 000
    vertices by default) is known to the functional map only through the proxy, while the
    match's vertex map was lifted to its full resolution: the projection has no finer
    information to add, and made the points worse on every such pair measured (6 of 6,
    docs/bench/register_cpu/scan_size), so without ``bases`` the vertex map's points are returned
    (vertices used by no face replaced by their closest surface point)."""
    if bases is None and source_was_decimated(match, source):
        log.info("precise map: %s was decimated for the match; the vertex map's points are used", source.name)
        return SurfaceMap.from_vertex_map(match.p2p_21, source.faces, source.vertices)
    bases = bases or spectral_bases(match, source, target, device=device, cache=cache)
    seeds = surface_seeds(match.p2p_21, source.vertices, source.faces)  # vertices used by no face: none nearby
    smap, ratio = precise_map_arrays(np.asarray(match.fmap_12), bases.evecs1, bases.evecs2, source.faces,
                                     seeds, mass2=bases.mass2, k=k, iterations=iterations, rings=rings)
    log.info("precise map: embedding residual reduced to %.2f of the vertex map's (median)", float(np.median(ratio)))
    return smap
