"""UV-texture transfer with seam handling, and the "streak" measure of a UV layout.

Each target vertex takes the UV of its matched *point* on the source (a barycentric point,
see :mod:`shapecorr.transfer.precise`). UV atlases are cut into charts, so UVs are continuous
only inside a chart: a target triangle whose corners land in different charts would, with
per-vertex UVs, span the atlas between the charts and smear the texture across it (a
"streak" triangle). So UVs are assigned **per face corner**: each target face picks one
reference chart and every corner takes its UV *in that chart*; a corner whose point lies just
across the seam takes the chart's UV map extended (affinely, from the nearest face of the
chart) to that point. The target's UVs are then OBJ-style: ``uv (t, 2)`` + ``face_uv (m, 3)``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ..core import Shape, TextureError
from .surface import SurfaceMap, candidate_faces, closest_point_on_triangles

log = logging.getLogger(__name__)

STREAK_FACTOR = 10.0


# ------------------------------------------------------------------------------ UV layout
def corner_uv_indices(shape: Shape) -> np.ndarray:
    """``(m, 3)`` UV indices per face corner (per-vertex UVs use the vertex index)."""
    if not shape.has_uv:
        raise TextureError(f"{shape.name}: the shape has no texture coordinates (UVs).")
    return np.asarray(shape.face_uv if shape.face_uv is not None else shape.faces)


def uv_charts(faces: np.ndarray, face_uv: np.ndarray) -> np.ndarray:
    """Chart id ``(m,)`` of each face: faces are in one chart when joined through edges whose two
    end points have the same UV index on both sides (UV-continuous edges)."""
    faces = np.asarray(faces)
    face_uv = np.asarray(face_uv)
    m = len(faces)
    k0, k1 = np.array([0, 1, 2]), np.array([1, 2, 0])
    a, b = faces[:, k0].ravel(), faces[:, k1].ravel()
    ta, tb = face_uv[:, k0].ravel(), face_uv[:, k1].ravel()
    fid = np.repeat(np.arange(m), 3)
    swap = a > b
    lo, hi = np.where(swap, b, a), np.where(swap, a, b)
    tlo, thi = np.where(swap, tb, ta), np.where(swap, ta, tb)
    order = np.lexsort((thi, tlo, hi, lo))
    lo, hi, tlo, thi, fid = lo[order], hi[order], tlo[order], thi[order], fid[order]
    same = (lo[1:] == lo[:-1]) & (hi[1:] == hi[:-1]) & (tlo[1:] == tlo[:-1]) & (thi[1:] == thi[:-1])
    i = np.flatnonzero(same)
    g = sp.coo_matrix((np.ones(len(i)), (fid[i], fid[i + 1])), shape=(m, m))
    return connected_components(g, directed=False)[1]


def uv_stretch_ratio(vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray, face_uv: np.ndarray) -> np.ndarray:
    """Per face: its texel density (UV area / 3D area) relative to the typical density of the
    layout (the area-weighted median over all faces).

    About 1 for an evenly scaled layout; a streak triangle spanning the atlas between two charts
    has a ratio of tens to thousands. (The median, not the mean, so that streaks do not hide
    themselves by inflating the total UV area.)
    """
    v = np.asarray(vertices, dtype=np.float64)
    t = np.asarray(uv, dtype=np.float64)[np.asarray(face_uv)]
    a3 = 0.5 * np.linalg.norm(np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]]), axis=1)
    e1, e2 = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    a2 = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    density = a2 / np.maximum(a3, 1e-300)
    order = np.argsort(density)
    cum = np.cumsum(a3[order])
    typical = density[order][np.searchsorted(cum, 0.5 * cum[-1])] if len(cum) else 1.0
    return density / max(typical, 1e-300)


def relative_stretch_ratio(source: Shape, target_faces_uv: tuple, target: Shape, smap: SurfaceMap) -> np.ndarray:
    """Per target face: its texel density relative to the density of the source faces its
    corners land on (the largest of the three), the 3D areas scaled so that the two surfaces
    have the same total area. A faithful transfer gives about 1 everywhere, whatever the
    source layout; a streak triangle gives tens or more."""
    uv, fuv = target_faces_uv
    V1, F1 = np.asarray(source.vertices), np.asarray(source.faces)
    t1 = np.asarray(source.uv)[corner_uv_indices(source)]
    a3s = 0.5 * np.linalg.norm(np.cross(V1[F1[:, 1]] - V1[F1[:, 0]], V1[F1[:, 2]] - V1[F1[:, 0]]), axis=1)
    e1, e2 = t1[:, 1] - t1[:, 0], t1[:, 2] - t1[:, 0]
    dens_src = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]) / np.maximum(a3s, 1e-300)
    V2, F2 = np.asarray(target.vertices), np.asarray(target.faces)
    a3t = 0.5 * np.linalg.norm(np.cross(V2[F2[:, 1]] - V2[F2[:, 0]], V2[F2[:, 2]] - V2[F2[:, 0]]), axis=1)
    a3t = a3t * (a3s.sum() / max(a3t.sum(), 1e-300))
    t2 = np.asarray(uv)[np.asarray(fuv)]
    e1, e2 = t2[:, 1] - t2[:, 0], t2[:, 2] - t2[:, 0]
    dens_tgt = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]) / np.maximum(a3t, 1e-300)
    expected = dens_src[smap.face[F2]].max(axis=1)
    return dens_tgt / np.maximum(expected, 1e-300)


def streak_fraction(shape: Shape, factor: float = STREAK_FACTOR) -> float:
    """Fraction of faces whose UV triangle is more than ``factor`` times larger than its 3D
    area implies (see :func:`uv_stretch_ratio`)."""
    ratio = uv_stretch_ratio(shape.vertices, shape.faces, shape.uv, corner_uv_indices(shape))
    return float((ratio > factor).mean())


# ------------------------------------------------------------------------------ transfer
@dataclass
class TextureTransfer:
    """Result of :func:`transfer_texture`: the textured target and how it was made.

    ``shape`` is the target with ``uv``, ``face_uv``, ``texture`` and ``material_name`` set;
    save it as OBJ (``result.shape.save("out.obj")`` writes the ``.mtl`` and copies the image).
    """

    shape: Shape
    uv: np.ndarray  # (t, 2)
    face_uv: np.ndarray  # (m2, 3)
    surface_map: SurfaceMap
    stats: dict = field(default_factory=dict)


def _extrapolated_uv(points: np.ndarray, V1: np.ndarray, F1: np.ndarray, uv1: np.ndarray, fuv1: np.ndarray,
                     faces: np.ndarray) -> np.ndarray:
    """UV of ``points (q, 3)`` under the affine UV map of ``faces (q,)`` extended to the point's
    projection on the face's plane."""
    a, b, c = V1[F1[faces, 0]], V1[F1[faces, 1]], V1[F1[faces, 2]]
    e1, e2, d = b - a, c - a, points - a
    g11, g12, g22 = (e1 * e1).sum(1), (e1 * e2).sum(1), (e2 * e2).sum(1)
    r1, r2 = (e1 * d).sum(1), (e2 * d).sum(1)
    det = np.maximum(g11 * g22 - g12 * g12, 1e-300)
    s = (g22 * r1 - g12 * r2) / det
    t = (g11 * r2 - g12 * r1) / det
    w = np.stack([1 - s - t, s, t], axis=1)
    return (w[:, :, None] * uv1[fuv1[faces]]).sum(1)


def texture_from_surface_map(source: Shape, target: Shape, smap: SurfaceMap, *, seams: bool = True,
                             max_seam_distance: float = 1.5) -> TextureTransfer:
    """Array-level core of :func:`transfer_texture`: UVs for ``target`` from a surface map.

    ``seams=False`` gives plain per-vertex UVs (for comparison: streaks appear at seams).
    ``max_seam_distance`` (in mean source edge lengths) bounds how far across a seam a chart's
    UV map may be extended; beyond it the face falls back to another chart, and if no chart fits
    all corners its UVs collapse onto one point (a flat colour rather than a streak).
    """
    check_texture_inputs(source, target, need_image=False)
    if len(smap.face) != target.n_vertices:
        raise ValueError(f"the surface map has {len(smap.face)} points for {target.n_vertices} target vertices.")
    V1, F1 = np.asarray(source.vertices), np.asarray(source.faces)
    uv1 = np.asarray(source.uv, dtype=np.float64)
    fuv1 = corner_uv_indices(source)
    F2 = np.asarray(target.faces)
    n2 = target.n_vertices

    home_uv = (smap.bary[:, :, None] * uv1[fuv1[smap.face]]).sum(1)  # (n2, 2)
    stats = {"n_seam_faces": 0, "n_fallback_faces": 0, "n_collapsed_faces": 0}
    if not seams:
        uv, fuv = home_uv, F2.copy()
    else:
        charts = uv_charts(F1, fuv1)
        home = charts[smap.face]  # chart of each target vertex's point
        corner_chart = home[F2]  # (m2, 3)
        seam_faces = np.flatnonzero((corner_chart != corner_chart[:, :1]).any(1))
        stats["n_seam_faces"] = int(len(seam_faces))
        stats["n_source_charts"] = int(charts.max() + 1)
        fuv = F2.copy()
        extra_uv: list[np.ndarray] = []
        if len(seam_faces):
            edge = np.linalg.norm(V1[F1[:, 0]] - V1[F1[:, 1]], axis=1).mean()
            tol = max_seam_distance * edge
            points = smap.points(V1, F1)  # (n2, 3)
            # all (corner vertex, candidate chart) pairs of the seam faces
            cj = F2[seam_faces]  # (s, 3)
            cc = corner_chart[seam_faces]  # (s, 3)
            pj = np.repeat(cj, 3, axis=1).ravel()  # vertex of corner a, for charts of corners b
            pc = np.tile(cc, (1, 3)).ravel()
            pairs = np.unique(np.stack([pj, pc], 1), axis=0)
            pairs = pairs[home[pairs[:, 0]] != pairs[:, 1]]
            key = {(int(j), int(c)): i for i, (j, c) in enumerate(pairs)}
            pair_uv = np.zeros((len(pairs), 2))
            pair_ok = np.zeros(len(pairs), dtype=bool)
            pair_dist = np.full(len(pairs), np.inf)
            if len(pairs):
                seed = F1[smap.face[pairs[:, 0]], smap.bary[pairs[:, 0]].argmax(1)]
                cand = candidate_faces(F1, seed, len(V1), rings=3)
                valid = (cand >= 0) & (charts[np.maximum(cand, 0)] == pairs[:, 1:2])
                cf = F1[np.maximum(cand, 0)]
                p = points[pairs[:, 0]][:, None, :]
                _, d2 = closest_point_on_triangles(p, V1[cf[..., 0]], V1[cf[..., 1]], V1[cf[..., 2]])
                d2 = np.where(valid, d2, np.inf)
                best = d2.argmin(1)
                pair_dist = np.sqrt(d2[np.arange(len(pairs)), best])
                pair_ok = pair_dist <= tol
                bf = cand[np.arange(len(pairs)), best]
                if pair_ok.any():
                    pair_uv[pair_ok] = _extrapolated_uv(points[pairs[pair_ok, 0]], V1, F1, uv1, fuv1, bf[pair_ok])
            extra_index = {}
            for f_idx, js, cs in zip(seam_faces, cj, cc):
                # score each candidate chart: summed distance of the corners to it
                best_c, best_score, best_count = None, np.inf, -1
                for c in np.unique(cs):
                    score, ok = 0.0, True
                    for j, hc in zip(js, cs):
                        if hc == c:
                            continue
                        i = key[(int(j), int(c))]
                        if not pair_ok[i]:
                            ok = False
                            break
                        score += pair_dist[i]
                    count = int((cs == c).sum())
                    if ok and (score < best_score - 1e-12 or (abs(score - best_score) <= 1e-12 and count > best_count)):
                        best_c, best_score, best_count = c, score, count
                if best_c is None:  # no chart fits all corners: a flat colour, not a streak
                    stats["n_collapsed_faces"] += 1
                    fuv[f_idx] = js[0]
                    continue
                if best_count < int(np.unique(cs, return_counts=True)[1].max()):
                    stats["n_fallback_faces"] += 1
                for k, (j, hc) in enumerate(zip(js, cs)):
                    if hc == best_c:
                        continue
                    i = key[(int(j), int(best_c))]
                    if i not in extra_index:
                        extra_index[i] = n2 + len(extra_uv)
                        extra_uv.append(pair_uv[i])
                    fuv[f_idx, k] = extra_index[i]
        uv = np.vstack([home_uv] + ([np.asarray(extra_uv)] if extra_uv else []))
    result = target.copy(uv=uv, face_uv=fuv, texture=source.texture,
                         material_name=source.material_name or "material_0", name=f"{target.name}_textured")
    ratio_src = uv_stretch_ratio(V1, F1, uv1, fuv1)
    ratio_tgt = uv_stretch_ratio(target.vertices, F2, uv, fuv)
    stats.update({
        "streak_factor": STREAK_FACTOR,
        "streak_fraction_source": float((ratio_src > STREAK_FACTOR).mean()),
        "streak_fraction_result": float((ratio_tgt > STREAK_FACTOR).mean()),
        "streak_fraction_relative": float(
            (relative_stretch_ratio(source, (uv, fuv), target, smap) > STREAK_FACTOR).mean()),
        "n_uv": int(len(uv)),
    })
    return TextureTransfer(result, uv, fuv, smap, stats)


def check_texture_inputs(source: Shape, target: Shape, *, need_image: bool = True) -> None:
    """Raise :class:`TextureError` with advice when a texture cannot be transferred."""
    src = source.path or source.name
    if not source.is_mesh or not source.has_uv:
        raise TextureError(f"{src}: the source has no texture coordinates (UVs), so there is no texture to "
                           "transfer; transfer its vertex colours instead (--what colors / transfer_colors).")
    if need_image:
        if source.texture is None:
            raise TextureError(f"{src}: the source has UVs but no texture image (no .mtl with map_Kd next to "
                               "the OBJ); add the material file or use --what colors.")
        if not Path(source.texture).exists():
            raise TextureError(f"texture image {source.texture} (named by the material of {src}) not found; "
                               "put it next to the .mtl file.")
    if not target.is_mesh:
        raise TextureError(f"{target.path or target.name}: the target is a point cloud; a UV texture needs "
                           "faces. Use --what colors to give its points the texture's colours.")


def transfer_texture(match, source, target, *, method: str = "register", surface_map: SurfaceMap | None = None,
                     seams: bool = True, device: str = "cpu", need_image: bool = True) -> TextureTransfer:
    """Carry the source's UV texture onto the target through ``match``.

    ``source``/``target`` are :class:`Shape` objects (or paths), the same ones the match was
    computed for. ``method`` picks the surface map (``"register"``: the source deformed onto the
    target from the match, then closest points, the most precise and the slowest; ``"spectral"``:
    precise points through the functional map; ``"vertex"``: the vertex map); ``surface_map``
    supplies one directly (e.g. a ground truth). Returns a :class:`TextureTransfer` whose ``shape`` can be saved as OBJ.
    """
    from ..core import load
    from .precise import precise_map

    source = source if isinstance(source, Shape) else load(source)
    target = target if isinstance(target, Shape) else load(target)
    check_texture_inputs(source, target, need_image=need_image)
    how = method if surface_map is None else "given surface map"
    if surface_map is None:
        surface_map = precise_map(match, source, target, method=method, device=device)
    elif len(surface_map.face) != target.n_vertices:
        raise ValueError(f"surface_map has {len(surface_map.face)} points for {target.n_vertices} target vertices.")
    result = texture_from_surface_map(source, target, surface_map, seams=seams)
    result.stats["method"] = how
    return result
