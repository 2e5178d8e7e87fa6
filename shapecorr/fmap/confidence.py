"""How much to trust a map, without ground truth: signals, a calibrated confidence, advice.

A map between two shapes can be badly wrong (a left-right flip of the whole shape or of a
limb, a collapsed region) while every step of the solver "succeeded". This module measures
properties that correct maps of near-isometric shapes have and wrong ones lose, from the two
prepared shapes (normalized to unit area), their eigenbases and the maps themselves:

``orientation`` / ``orientation_smooth``
    do mapped triangles keep their orientation (:func:`~shapecorr.fmap.refine.orientation_score`
    on the vertex map, :func:`~shapecorr.fmap.refine.orientation_score_fmap` on the functional
    map)? A left-right flip reverses it. Needs the source's outward normals and the target's
    faces wound outward: a mesh's own, or for a point cloud the local triangles about its
    estimated normals that the caller passes (``orientation=``); None without them.
``cycle_error``
    mean distance (unit-area shapes) between a vertex and its image after going to the other
    shape and back (``p2p_12[p2p_21[j]]`` on the target, ``p2p_21[p2p_12[i]]`` on the source);
    the two maps disagree where the map is ambiguous or torn.
``descriptor_residual``
    how far the WKS descriptors of matched points are apart, relative to random pairs of
    points (0: identical, about 1: no better than chance). Needs the descriptors.
``orthogonality_error``
    ``||C^T C - I||_F / ||I||_F`` on the leading block of the functional map: maps of
    near-isometric shapes are near-orthogonal (area-preserving).
``area_distortion``
    RMS of the smoothed area density that the target's vertex areas, pushed to the source by
    ``p2p_21``, leave on the source (1 everywhere for an area-preserving bijection).
``coverage``
    fraction of the source area whose vertices receive at least one target vertex.
``discontinuity``
    fraction of the target area next to an edge whose two ends land far apart on the source
    (more than 0.1 and 4 edge lengths: the seam of a partial flip, a torn region). Point
    clouds use their k-nearest-neighbour graph.
``detached_area``
    fraction of the area cut off from the main piece of each shape by those seams (mean of
    both directions): the size of a region sent to the wrong place (a swapped limb), where
    ``discontinuity`` sees only its seam.
``metric_distortion``
    how much the map changes shortest-path distances between seeded sample points (the worst
    tenth of the samples, both directions): a misplaced region changes its distances to the
    rest of the shape; a whole left-right flip does not (it is an isometry).

A scan's missing regions are judged on the surface the matcher models (:attr:`Shape.hole_fill
<shapecorr.core.Shape.hole_fill>`): the seams and pieces follow the shape's edges and the
strips bridging a band missing round a limb; distances also cross the small holes (a spoke from
each rim vertex to the hole's centre). A piece that stays apart (a cut-off limb that could not be
bridged, a speck) is not a region the map tore off, and distances between two pieces, which
nobody knows, are left out of the metric distortion.

:func:`match_confidence` combines the resolution-independent ones (:data:`MODEL_SIGNALS`)
into a value in ``[0, 1]``: the probability, under a logistic model calibrated on FAUST_r and
TOSCA_r, that the map's mean geodesic error is at most 0.05 sqrt(area), times an orientation
gate (no trust below the smooth orientation score of every correct calibration map; see
:class:`LogisticModel`, ``scripts/calibrate_confidence.py`` and ``confidence_model.json``).
It also gives the threshold below which the map should not be trusted, a per-vertex
confidence on the target and one sentence of advice. Signals that cannot be measured are
None, deliberately: a point cloud given without its normals and local triangles has no
orientation signals (a whole mirror image then cannot be told from the right map),
descriptors may not be given; the model used is
then the richest one calibrated without them (``point_cloud``, ``mesh_no_descriptors``,
...). The point-cloud models were fitted on the same mesh maps with the orientation signals
left out, not on point-cloud matches. The pipeline passes a point-cloud pair's orientation,
so such a pair is scored by the mesh models: the same coefficients (the orientation score's
is 0), times the orientation gate.

Every function takes and returns NumPy arrays. Costs are linear in the number of vertices.
On shapes above :data:`SUBSAMPLE_ABOVE` vertices the signals are measured on that many seeded
random vertices of each shape (on the target: the faces whose first vertex is sampled, the
edges at a sampled vertex), which keeps a 160k-vertex pair about as cheap as a 20k one; the
per-vertex confidence is then computed on the sampled target vertices and given to every other vertex
from its nearest sampled one. The functional-map signals (orthogonality, area distortion)
cost ``O(n k)`` and are not sampled; ``detached_area`` needs the whole graphs (linear);
``metric_distortion`` runs ``4 x`` :data:`DISTORTION_SAMPLES` shortest-path searches, on the
k-nearest-neighbour graph of the sampled vertices for a sampled shape.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..core import Shape
from ..core.pointcloud import knn_edges
from ..spectral import orientation_sign
from .refine import orientation_score

MODEL_PATH = Path(__file__).with_name("confidence_model.json")

#: every signal :func:`match_signals` measures, in a fixed order
SIGNAL_NAMES = ("orientation", "orientation_smooth", "cycle_error", "descriptor_residual", "orthogonality_error",
                "area_distortion", "coverage", "discontinuity", "detached_area", "metric_distortion")
#: the signals the calibrated models use: not the vertex map's orientation score nor the
#: coverage, which depend on the resolution (a correct map between 50k-vertex meshes has a
#: lower vertex-map orientation score than at 5k, and a 5k target covers a tenth of a 50k
#: source); their smooth counterparts (orientation_smooth, area_distortion) do not
MODEL_SIGNALS = ("orientation_smooth", "cycle_error", "descriptor_residual", "orthogonality_error",
                 "area_distortion", "discontinuity", "detached_area", "metric_distortion")
#: above this many vertices the signals are measured on this many sampled vertices
SUBSAMPLE_ABOVE = 20_000
#: leading block of the functional map whose orthogonality is measured
ORTHO_K = 30
#: eigenfunctions of the source that smooth the pushed-forward area density
AREA_K = 30
#: an edge of the target whose ends land farther apart than this on the (unit-area) source is a tear
TEAR_LENGTH = 0.1
#: ... or farther apart than this many times the edge's own length (coarse meshes)
TEAR_FACTOR = 4.0
#: neighbours per point of a point cloud's graph (the stand-in for mesh edges)
CLOUD_K = 6
#: cycle distance (unit-area shape) at which the per-vertex confidence has fallen to 1/e
CYCLE_SCALE = 0.05
#: descriptor residual (relative to chance) at which the per-vertex confidence has fallen to 1/e
DESCRIPTOR_SCALE = 0.2
#: rings of neighbours over which the per-vertex terms are averaged
SMOOTH_STEPS = 4
#: sample vertices of each shape whose mutual graph distances the metric distortion compares
DISTORTION_SAMPLES = 48
#: the metric distortion is this quantile of its per-sample values (the worst tenth: a wrong
#: region covers a small part of the samples)
DISTORTION_QUANTILE = 0.9


# ----------------------------------------------------------------------------- single signals
def cycle_distances(p2p_21: np.ndarray, p2p_12: np.ndarray, vertices2: np.ndarray,
                    rows: np.ndarray | None = None) -> np.ndarray:
    """Distance between each target vertex j (of ``rows``, default all) and ``p2p_12[p2p_21[j]]``
    (its image after a round trip to the source and back), in the units of ``vertices2``."""
    rows = np.arange(len(vertices2)) if rows is None else rows
    return np.linalg.norm(vertices2[rows] - vertices2[p2p_12[p2p_21[rows]]], axis=1)


def weighted_mean(values: np.ndarray, weights: np.ndarray) -> float:
    """``sum(w v) / sum(w)``; the plain mean when the weights sum to zero."""
    total = float(weights.sum())
    return float((weights * values).sum() / total) if total > 0 else float(values.mean())


def descriptor_residual(p2p_21: np.ndarray, descr1: np.ndarray, descr2: np.ndarray, *,
                        rows: np.ndarray | None = None, seed: int = 0) -> tuple[float, np.ndarray]:
    """How far the descriptors of matched points are apart, relative to random pairs.

    Returns ``(ratio, per_vertex)``: ``per_vertex`` is ``|d2[j] - d1[p2p_21[j]]|^2`` for the
    target vertices ``rows`` (default: all) divided by the mean of ``|d2[j] - d1[i]|^2`` over
    random pairs (seeded), and ``ratio`` its mean. 0 means identical descriptors; about 1,
    matches no better than chance.
    """
    if descr1.shape[1] != descr2.shape[1]:
        raise ValueError(f"descr1 has {descr1.shape[1]} columns but descr2 {descr2.shape[1]}; "
                         "give the same descriptors for both shapes.")
    rows = np.arange(len(descr2)) if rows is None else rows
    rng = np.random.default_rng(seed)
    chance = float(((descr2[rows] - descr1[rng.integers(0, len(descr1), len(rows))]) ** 2).sum(1).mean())
    residual = ((descr2[rows] - descr1[p2p_21[rows]]) ** 2).sum(1)
    if chance <= 0:  # constant descriptors carry no information
        return 0.0, np.zeros(len(rows))
    per_vertex = residual / chance
    return float(per_vertex.mean()), per_vertex


def orthogonality_error(fmap_12: np.ndarray, k: int = ORTHO_K) -> float:
    """``||C^T C - I||_F / sqrt(k)`` on the leading ``k x k`` block of ``fmap_12``: 0 for an
    orthogonal (area-preserving) functional map."""
    k = min(k, *fmap_12.shape)
    C = fmap_12[:k, :k]
    return float(np.linalg.norm(C.T @ C - np.eye(k)) / math.sqrt(k))


def pushed_area(p2p_21: np.ndarray, mass2: np.ndarray, n1: int) -> np.ndarray:
    """``(n1,)`` the target's vertex areas summed onto the source vertices they are mapped to."""
    return np.bincount(p2p_21, weights=mass2, minlength=n1)


def area_distortion(p2p_21: np.ndarray, evecs1: np.ndarray, mass1: np.ndarray, mass2: np.ndarray,
                    k: int = AREA_K) -> float:
    """RMS deviation from 1 of the area density that ``p2p_21`` pushes onto the source,
    smoothed by the first ``k`` eigenfunctions of the source (``evecs1`` orthonormal in
    ``mass1``), relative to the source area: 0 for an area-preserving map."""
    k = min(k, evecs1.shape[1])
    push = pushed_area(p2p_21, mass2 * (mass1.sum() / mass2.sum()), len(mass1))
    coeff = evecs1[:, :k].T @ (push - mass1)  # coefficients of the density minus 1
    return float(np.linalg.norm(coeff) / math.sqrt(mass1.sum()))


def area_coverage(p2p_21: np.ndarray, mass1: np.ndarray) -> float:
    """Fraction of the source area (vertex areas ``mass1``) whose vertices are hit by ``p2p_21``."""
    hit = np.zeros(len(mass1), dtype=bool)
    hit[p2p_21] = True
    return float(mass1[hit].sum() / mass1.sum())


def graph_edges(shape: Shape) -> np.ndarray:
    """The shape's edges ``(e, 2)``: a mesh's own, plus the strips that bridge a band missing
    all round a limb (:attr:`~shapecorr.core.Shape.hole_fill`: the matcher treats the limb as
    attached, so its map must be judged so too); a point cloud's k-nearest-neighbour graph."""
    if not shape.is_mesh:
        return knn_edges(shape.vertices, min(CLOUD_K, shape.n_vertices - 1))
    fill = shape.hole_fill
    if not fill.n_bridges:
        return shape.edges
    strip = fill.bridge_faces
    bridge = np.concatenate([strip[:, [0, 1]], strip[:, [1, 2]], strip[:, [2, 0]]])
    return np.unique(np.sort(np.vstack([shape.edges, bridge]), axis=1), axis=0)


def distance_graph(shape: Shape) -> tuple[np.ndarray, np.ndarray]:
    """``(vertices, edges)`` along which :func:`metric_distortion` measures a shape's distances:
    :func:`graph_edges`, and for a mesh with small holes a spoke from each hole's rim to a point
    at its centre (appended after the shape's own vertices), so that a path may cross a hole
    as the matcher's Laplacian does (the fans of :attr:`~shapecorr.core.Shape.hole_fill`)
    instead of going round it: a right map onto a scan with a missing region keeps distances."""
    edges = graph_edges(shape)
    if not shape.is_mesh or not shape.hole_fill.n_holes:
        return shape.vertices, edges
    fill, n = shape.hole_fill, shape.n_vertices
    spokes = [np.stack([loop, np.full(len(loop), n + i)], axis=1) for i, loop in enumerate(fill.loops)]
    return np.vstack([shape.vertices, fill.centers]), np.vstack([edges, *spokes])


def torn_vertices(p2p_21: np.ndarray, vertices1: np.ndarray, edges2: np.ndarray, n2: int,
                  tear_length: float = TEAR_LENGTH, vertices2: np.ndarray | None = None,
                  tear_factor: float = TEAR_FACTOR) -> np.ndarray:
    """``(n2,)`` bool: target vertices with an edge whose two ends land more than
    ``tear_length`` apart on the source (in the units of ``vertices1``) and, with
    ``vertices2``, more than ``tear_factor`` times the edge's own length (so that the long
    edges of a coarse mesh do not count as tears)."""
    a, b = p2p_21[edges2[:, 0]], p2p_21[edges2[:, 1]]
    limit = tear_length
    if vertices2 is not None:
        own = np.linalg.norm(vertices2[edges2[:, 0]] - vertices2[edges2[:, 1]], axis=1)
        limit = np.maximum(tear_length, tear_factor * own)
    long = np.linalg.norm(vertices1[a] - vertices1[b], axis=1) > limit
    torn = np.zeros(n2, dtype=bool)
    torn[edges2[long, 0]] = True
    torn[edges2[long, 1]] = True
    return torn


def main_piece(p2p: np.ndarray, vertices_image: np.ndarray, shape: Shape, edges: np.ndarray | None = None,
               mass: np.ndarray | None = None) -> np.ndarray:
    """``(n,)`` bool: the vertices of ``shape`` in the largest piece (by area ``mass``, default
    one per vertex) that is left when the vertices torn by the map are removed; on a shape of
    several components (in ``edges``), the largest piece of each (a limb that a scan's missing
    band cut off is not a region the map tore off).

    ``p2p (n,)`` sends each vertex of ``shape`` to a vertex of the other shape (vertices
    ``vertices_image``); torn vertices as :func:`torn_vertices` (in the graph ``edges``,
    default :func:`graph_edges`). A partial flip (a limb sent to the other limb) is cut off
    by its seam: its vertices are outside the main piece.
    """
    from scipy.sparse.csgraph import connected_components

    n = shape.n_vertices
    edges = graph_edges(shape) if edges is None else edges
    mass = np.ones(n) if mass is None else mass
    torn = torn_vertices(p2p, vertices_image, edges, n, vertices2=shape.vertices)
    if torn.all():
        return np.zeros(n, dtype=bool)

    def pieces(e):
        return connected_components(sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n)),
                                    directed=False)
    n_comps, component = pieces(edges)
    keep = edges[~torn[edges[:, 0]] & ~torn[edges[:, 1]]]
    n_parts, label = pieces(keep)
    area = np.bincount(label[~torn], weights=mass[~torn], minlength=n_parts)
    if n_comps == 1:
        return ~torn & (label == np.argmax(area))
    # each piece lies in one component of the shape; keep the largest piece of each component
    part_component = np.zeros(n_parts, dtype=np.int64)
    part_component[label] = component
    order = np.lexsort((-area, part_component))  # by component, the largest piece first
    first = np.ones(n_parts, dtype=bool)
    first[1:] = part_component[order[1:]] != part_component[order[:-1]]
    largest = np.zeros(n_parts, dtype=bool)
    largest[order[first]] = True
    return ~torn & largest[label]


def detached_area(p2p: np.ndarray, vertices_image: np.ndarray, shape: Shape, mass: np.ndarray,
                  edges: np.ndarray | None = None) -> float:
    """Fraction of ``shape``'s area (vertex areas ``mass``) outside its :func:`main_piece`:
    what the map tears off. A partial flip is detached whole, where its seam alone
    (``discontinuity``) is only a thin band: this measures the size of the wrong region.
    0 for a continuous map."""
    total = float(mass.sum())
    if total <= 0:
        return 0.0
    return float(mass[~main_piece(p2p, vertices_image, shape, edges, mass)].sum() / total)


def graph_distances(vertices: np.ndarray, edges: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """``(len(sources), n)`` shortest-path lengths along ``edges`` (weighted by their length)
    from each source vertex; ``inf`` between disconnected pieces."""
    from scipy.sparse.csgraph import dijkstra

    n = len(vertices)
    w = np.linalg.norm(vertices[edges[:, 0]] - vertices[edges[:, 1]], axis=1)
    graph = sp.coo_matrix((w, (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    return dijkstra(graph, directed=False, indices=np.asarray(sources, dtype=np.int64))


def map_free_distances(shape: Shape, which: int, n_other: int, *, max_samples: int = SUBSAMPLE_ABOVE,
                       n_samples: int = DISTORTION_SAMPLES, seed: int = 0) -> np.ndarray | None:
    """The half of :func:`metric_distortion` that does not depend on the map, for one
    normalized shape of a pair (``which``: 0 the source, 1 the target; ``n_other``: the other
    shape's vertex count): the graph distances among its own samples, exactly as
    :func:`match_signals` computes them, so that they can be computed before the map exists (in
    parallel with the other shape's). None for a shape measured on a sample (above
    ``max_samples`` vertices)."""
    n = shape.n_vertices
    if n > max_samples:
        return None
    sizes = (n, min(n_other, max_samples)) if which == 0 else (min(n_other, max_samples), n)
    return _sample_distances(*distance_graph(shape), distortion_samples(*sizes, n_samples, seed)[which])


def _sample_distances(vertices, edges, samples: np.ndarray) -> np.ndarray:
    """Graph distances between the ``samples`` (repeats allowed); ``inf`` between two pieces
    of the graph, a distance nobody knows (a limb cut off by a scan's missing band that
    could not be bridged, a speck), which :func:`metric_distortion` leaves out."""
    uniq, inv = np.unique(samples, return_inverse=True)
    return graph_distances(vertices, edges, uniq)[:, uniq][np.ix_(inv, inv)]


def distortion_samples(n1: int, n2: int, n_samples: int = DISTORTION_SAMPLES,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The seeded random vertices :func:`metric_distortion` measures from, on each shape of a
    pair of ``n1`` and ``n2`` vertices (one random stream, source first)."""
    rng = np.random.default_rng(seed)
    s1 = rng.choice(n1, min(n_samples, n1), replace=False)
    return s1, rng.choice(n2, min(n_samples, n2), replace=False)


def metric_distortion(p2p_12: np.ndarray, p2p_21: np.ndarray, vertices1: np.ndarray, edges1: np.ndarray,
                      vertices2: np.ndarray, edges2: np.ndarray, n_samples: int = DISTORTION_SAMPLES,
                      seed: int = 0, known: tuple = (None, None),
                      n_vertices: tuple | None = None) -> tuple[float, np.ndarray]:
    """How much the map changes distances between points, without ground truth.

    ``n_samples`` seeded random vertices of each shape and their images on the other one; the
    graph (shortest-path, :func:`graph_distances`) distances among the samples are compared
    with those among their images. Per sample point: the mean of ``|d1 - d2|`` over the other
    samples, relative to the mean distance among the samples. Returns ``(value, per_sample)``:
    ``value`` is the :data:`DISTORTION_QUANTILE` quantile of the ``2 n_samples`` per-sample
    values (both directions). Near-isometric shapes matched correctly keep distances (about
    0.06-0.09); a region sent to the wrong place (a swapped limb, a collapsed part) changes
    its distances to everything else, which a whole left-right flip (an isometry) does not:
    the orientation signals catch that one.

    ``known``: the distances among each shape's own samples where already computed (they do
    not depend on the map; :func:`map_free_distances`), else None. ``n_vertices``: each shape's
    own vertex count where its graph has points appended after them (:func:`distance_graph`).
    """
    n1, n2 = (len(vertices1), len(vertices2)) if n_vertices is None else n_vertices
    samples = distortion_samples(n1, n2, n_samples, seed)
    out = []
    for p2p, va, ea, vb, eb, s, Da in ((p2p_12, vertices1, edges1, vertices2, edges2, samples[0], known[0]),
                                       (p2p_21, vertices2, edges2, vertices1, edges1, samples[1], known[1])):
        Da = _sample_distances(va, ea, s) if Da is None else Da
        Db = _sample_distances(vb, eb, p2p[s])
        known_pair = np.isfinite(Da) & np.isfinite(Db)
        scale = float(Da[np.isfinite(Da)].mean()) if np.isfinite(Da).any() else 0.0
        count = known_pair.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):  # inf - inf between pieces, left out
            gap = np.abs(np.where(known_pair, Da - Db, 0.0)).sum(1)
            out.append(np.where(count > 0, gap / np.maximum(count, 1) / scale, np.nan) if scale > 0
                       else np.zeros(len(s)))
    per_sample = np.concatenate(out)
    known_sample = np.isfinite(per_sample)
    value = float(np.quantile(per_sample[known_sample], DISTORTION_QUANTILE)) if known_sample.any() else 0.0
    return value, per_sample


def face_orientation_fmap(fmap_12: np.ndarray, evecs1: np.ndarray, mass1: np.ndarray, vertices1: np.ndarray,
                          normals1: np.ndarray, evecs2: np.ndarray, vertices2: np.ndarray,
                          faces2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-face orientation of a functional map: ``(sign (m,), area (m,))`` for the faces of
    shape 2 (wound outward), +1 where the face keeps its orientation in the smooth image of
    shape 1 carried by ``fmap_12``, -1 where it is reversed. Their area-weighted mean is
    :func:`~shapecorr.fmap.refine.orientation_score_fmap`."""
    k2, k1 = fmap_12.shape
    proj = evecs1[:, :k1].T @ (mass1[:, None] * np.hstack([vertices1, normals1]))  # (k1, 6)
    used, local = np.unique(faces2, return_inverse=True)  # only the vertices of these faces
    local = local.reshape(faces2.shape)
    img = evecs2[used, :k2] @ (fmap_12 @ proj)  # (len(used), 6)
    x, nrm = img[:, :3], img[:, 3:]
    n_img = np.cross(x[local[:, 1]] - x[local[:, 0]], x[local[:, 2]] - x[local[:, 0]])
    sign = np.sign(np.einsum("ij,ij->i", n_img, nrm[local].sum(1)))
    v = vertices2[faces2]
    area = np.linalg.norm(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), axis=1) / 2
    return sign, area


def faces_to_vertices(values: np.ndarray, weights: np.ndarray, faces: np.ndarray, n: int) -> np.ndarray:
    """``(n,)`` weighted mean of per-face ``values`` over the faces around each vertex (0 where none)."""
    num = np.zeros(n)
    den = np.zeros(n)
    for c in range(3):
        num += np.bincount(faces[:, c], weights=weights * values, minlength=n)
        den += np.bincount(faces[:, c], weights=weights, minlength=n)
    return np.divide(num, den, out=np.zeros(n), where=den > 0)


def smooth_on_graph(values: np.ndarray, edges: np.ndarray, steps: int = 2) -> np.ndarray:
    """``values (n,)`` averaged ``steps`` times with their graph neighbours (each vertex and
    its neighbours weigh equally)."""
    n = len(values)
    A = sp.coo_matrix((np.ones(2 * len(edges)), (np.r_[edges[:, 0], edges[:, 1]], np.r_[edges[:, 1], edges[:, 0]])),
                      shape=(n, n)).tocsr() + sp.identity(n, format="csr")
    deg = np.asarray(A.sum(1)).ravel()
    out = np.asarray(values, dtype=np.float64)
    for _ in range(steps):
        out = (A @ out) / deg
    return out


# ----------------------------------------------------------------------------- all signals of a map
@dataclass(frozen=True)
class Signals:
    """Every signal of one map (None where it cannot be measured) and the per-vertex arrays
    they are made of, on the target vertices ``rows`` (all of them up to
    :data:`SUBSAMPLE_ABOVE` vertices); ``edges`` is a graph on those rows (local indices)."""

    values: dict
    rows: np.ndarray
    per_vertex: dict = field(default_factory=dict)
    edges: np.ndarray | None = None


def outward(shape: Shape, sign: float | None) -> tuple[np.ndarray, np.ndarray]:
    """A mesh's outward ``(vertex_normals, faces)``; ``sign`` as from
    :func:`shapecorr.spectral.orientation_sign` (computed when None)."""
    s = orientation_sign(shape.vertices, shape.faces) if sign is None else sign
    faces = shape.faces if s > 0 else shape.faces[:, ::-1]
    return shape.vertex_normals * s, faces


def sample_vertices(n: int, max_samples: int = SUBSAMPLE_ABOVE, seed: int = 0) -> np.ndarray:
    """All ``n`` vertices, or ``max_samples`` of them drawn at random (seeded, sorted) above that."""
    if n <= max_samples:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_samples, replace=False))


def match_signals(shape1: Shape, shape2: Shape, evecs1: np.ndarray, mass1: np.ndarray, evecs2: np.ndarray,
                  mass2: np.ndarray, fmap_12: np.ndarray, p2p_21: np.ndarray, p2p_12: np.ndarray,
                  descr1: np.ndarray | None = None, descr2: np.ndarray | None = None, *,
                  sign1: float | None = None, sign2: float | None = None,
                  max_samples: int = SUBSAMPLE_ABOVE, known_distances: tuple = (None, None),
                  orientation: tuple | None = None) -> Signals:
    """Every ground-truth-free signal of a map between two normalized (unit-area) shapes.

    ``evecs*``/``mass*``: eigenbases (orthonormal in the lumped mass) and vertex areas;
    ``fmap_12 (k2, k1)``; ``p2p_21 (n2,)`` source vertex of each target vertex, ``p2p_12 (n1,)``
    the reverse; ``descr*`` the same descriptors on both shapes (optional); ``sign*`` the
    shapes' orientation signs when known (else computed). Above ``max_samples`` vertices the
    signals are measured on that many seeded random vertices of each shape (the target's
    faces: those whose first vertex is sampled). ``known_distances``: each shape's
    :func:`map_free_distances` where computed beforehand (None: computed here).
    ``orientation``: ``(normals1 (n1, 3), faces2 (m, 3))``, the source's outward vertex normals
    and the target's faces wound outward, for the orientation signals of a pair with a point
    cloud (its local triangles, :attr:`~shapecorr.fmap.prepare.Prepared.orientation_faces`);
    None: a mesh pair's own, no orientation signals otherwise. See the module docstring.
    """
    p2p_21 = _check_map(p2p_21, shape2.n_vertices, shape1.n_vertices, "p2p_21")
    p2p_12 = _check_map(p2p_12, shape1.n_vertices, shape2.n_vertices, "p2p_12")
    n1, n2 = shape1.n_vertices, shape2.n_vertices
    rows = sample_vertices(n2, max_samples)
    rows1 = sample_vertices(n1, max_samples)
    in_rows = np.zeros(n2, dtype=bool)
    in_rows[rows] = True
    w2 = mass2[rows]
    v: dict = dict.fromkeys(SIGNAL_NAMES)
    pv: dict = {}

    cyc2 = cycle_distances(p2p_21, p2p_12, shape2.vertices, rows)
    cyc1 = cycle_distances(p2p_12, p2p_21, shape1.vertices, rows1)
    v["cycle_error"] = 0.5 * (weighted_mean(cyc2, w2) + weighted_mean(cyc1, mass1[rows1]))
    pv["cycle"] = cyc2
    if descr1 is not None and descr2 is not None:
        v["descriptor_residual"], pv["descriptor"] = descriptor_residual(p2p_21, descr1, descr2, rows=rows)
    v["orthogonality_error"] = orthogonality_error(fmap_12)
    v["area_distortion"] = area_distortion(p2p_21, evecs1, mass1, mass2)
    v["coverage"] = area_coverage(p2p_21, mass1)
    full1, full2 = graph_edges(shape1), graph_edges(shape2)
    edges2 = full2
    if len(rows) < n2:  # every edge at a sampled vertex: their torn status is exact
        edges2 = edges2[in_rows[edges2[:, 0]] | in_rows[edges2[:, 1]]]
    torn = torn_vertices(p2p_21, shape1.vertices, edges2, n2, vertices2=shape2.vertices)[rows]
    v["discontinuity"] = weighted_mean(torn.astype(np.float64), w2)
    pv["torn"] = torn
    # never sampled: the pieces need the whole graph
    main2 = main_piece(p2p_21, shape1.vertices, shape2, full2, mass2)
    v["detached_area"] = 0.5 * (weighted_mean((~main2).astype(np.float64), mass2)
                                + detached_area(p2p_12, shape2.vertices, shape1, mass1, full1))
    pv["main_piece"] = main2[rows]
    local = edges2 if len(rows) == n2 else knn_edges(shape2.vertices[rows], min(CLOUD_K, len(rows) - 1))
    v["metric_distortion"] = _sampled_distortion(shape1, rows1, shape2, rows, local, p2p_12, p2p_21, known_distances)
    if orientation is None and shape1.is_mesh and shape2.is_mesh:
        orientation = outward(shape1, sign1)[0], outward(shape2, sign2)[1]
    if orientation is not None:
        normals1, faces2 = orientation
        faces2 = faces2[in_rows[faces2[:, 0]]]
        # orientation_score divides by the number of faces it is given: the mean over the sample
        v["orientation"] = orientation_score(p2p_21, shape1.vertices, normals1, shape2.vertices, faces2)
        sign, area = face_orientation_fmap(fmap_12, evecs1, mass1, shape1.vertices, normals1, evecs2,
                                           shape2.vertices, faces2)
        # the area-weighted mean of the face signs is orientation_score_fmap (computed once here)
        v["orientation_smooth"] = weighted_mean(sign, area)
        pv["orientation"] = faces_to_vertices(sign, area, faces2, n2)[rows]
    return Signals(v, rows, pv, local)


def _sampled_distortion(shape1: Shape, rows1: np.ndarray, shape2: Shape, rows2: np.ndarray, local2: np.ndarray,
                        p2p_12, p2p_21, known: tuple = (None, None)) -> float:
    """:func:`metric_distortion` along each shape's :func:`distance_graph`; a shape measured on
    sampled ``rows`` (fewer than its vertices) on the k-nearest-neighbour graph of those rows
    instead (``local2``: the target's, on local indices), each image taken at its nearest
    sampled vertex: shortest paths on a 130k-vertex graph would cost seconds. ``known``: as in
    :func:`metric_distortion` (only for shapes that are not sampled)."""
    graphs, nearest, sizes = [], [], []
    for shape, rows, D, local in ((shape1, rows1, known[0], None), (shape2, rows2, known[1], local2)):
        verts = shape.vertices
        if D is not None and len(rows) != len(verts):
            raise ValueError("known distances are for shapes measured on all their vertices.")
        if len(rows) == len(verts):
            graphs += distance_graph(shape)
            nearest.append(np.arange(len(verts)))
            sizes.append(len(verts))
            continue
        from scipy.spatial import cKDTree  # here: its import costs ~0.2 s, and most shapes are not sampled

        sub = verts[rows]
        graphs += [sub, knn_edges(sub, min(CLOUD_K, len(rows) - 1)) if local is None else local]
        nearest.append(cKDTree(sub).query(verts)[1])
        sizes.append(len(rows))
    p12 = nearest[1][p2p_12[rows1]]  # sampled source vertex -> sampled target vertex
    p21 = nearest[0][p2p_21[rows2]]
    return metric_distortion(p12, p21, *graphs, known=known, n_vertices=tuple(sizes))[0]


def _check_map(p2p: np.ndarray, n_from: int, n_to: int, name: str) -> np.ndarray:
    p2p = np.asarray(p2p)
    if p2p.shape != (n_from,):
        raise ValueError(f"{name}: expected one entry per vertex ({n_from},), got shape {p2p.shape}.")
    if not np.issubdtype(p2p.dtype, np.integer):
        raise ValueError(f"{name}: vertex indices must be integers, got {p2p.dtype}.")
    if n_from and (p2p.min() < 0 or p2p.max() >= n_to):
        raise ValueError(f"{name}: refers to vertex {int(p2p.max())} of a shape with {n_to} vertices.")
    return p2p.astype(np.int64, copy=False)


def per_vertex_confidence(signals: Signals, vertices2: np.ndarray | None = None) -> np.ndarray:
    """In ``[0, 1]``: how much to trust the match of each target vertex.

    The product of five local terms, each smoothed over :data:`SMOOTH_STEPS` rings of the
    target's graph: the fraction of surrounding area whose orientation is kept (meshes),
    ``exp(-cycle / CYCLE_SCALE)`` for the round-trip distance, 1 minus the fraction of torn
    neighbours, the fraction of neighbours in the map's :func:`main_piece` (a region cut off
    by seams is probably misplaced) and ``exp(-residual / DESCRIPTOR_SCALE)`` for the
    descriptor residual (when measured). On FAUST_r/TOSCA_r maps it ranks the vertices more than 0.1 sqrt(area) from
    the truth below the others with a mean within-map ROC AUC of 0.84 (see
    ``docs/bench/confidence``). Returns values on ``signals.rows``; with ``vertices2`` (the
    target's vertices), on every target vertex, each unsampled one taking the value of its
    nearest sampled vertex.
    """
    pv = signals.per_vertex

    def smooth(x):
        return smooth_on_graph(np.asarray(x, dtype=np.float64), signals.edges, SMOOTH_STEPS)

    conf = np.exp(-smooth(pv["cycle"]) / CYCLE_SCALE) * (1.0 - smooth(pv["torn"]))
    if "main_piece" in pv:  # a region torn off the rest is probably a misplaced one
        conf *= smooth(pv["main_piece"])
    if "orientation" in pv:
        conf *= np.clip(0.5 * (1.0 + smooth(pv["orientation"])), 0.0, 1.0)
    if "descriptor" in pv:
        conf *= np.exp(-smooth(pv["descriptor"]) / DESCRIPTOR_SCALE)
    conf = np.clip(conf, 0.0, 1.0)
    if vertices2 is None or len(signals.rows) == len(vertices2):
        return conf
    from scipy.spatial import cKDTree

    return conf[cKDTree(vertices2[signals.rows]).query(vertices2)[1]]


# ----------------------------------------------------------------------------- the calibrated model
def feature_vector(signals: dict, names) -> np.ndarray | None:
    """The model's inputs for ``names`` (None if any of them is missing): heavy-tailed positive
    signals enter as ``log(x + 1e-3)``, the others as they are."""
    out = []
    for name in names:
        x = signals.get(name)
        if x is None or not np.isfinite(x):
            return None
        out.append(math.log(x + 1e-3) if name in LOG_SIGNALS else float(x))
    return np.asarray(out)


#: signals whose logarithm the model uses (positive, spread over orders of magnitude)
LOG_SIGNALS = frozenset({"cycle_error", "descriptor_residual", "orthogonality_error", "area_distortion",
                         "discontinuity", "detached_area", "metric_distortion"})
#: signals for which a higher value means a better map; for every other one, lower is better
HIGHER_IS_BETTER = frozenset({"orientation", "orientation_smooth", "coverage"})


def trust_direction(name: str) -> int:
    """+1 if a higher value of signal ``name`` means a better map, -1 if a worse one: the
    calibrated models are monotone, their coefficient has this sign or is 0."""
    return 1 if name in HIGHER_IS_BETTER else -1


@dataclass(frozen=True)
class LogisticModel:
    """``P(good) = sigmoid(coef . (x - mean) / scale + intercept)`` on :func:`feature_vector`;
    a map is trusted when that is at least ``threshold``.

    ``lo``/``hi``: the range of each feature in the calibration data. A feature better than
    anything seen there is taken at the best value seen (the model never grants more trust
    than the data showed); a worse one is used as it is, lowering the confidence further.

    ``gate = (feature, low, high)``: the probability is multiplied by
    ``clip((x - low) / (high - low), 0, 1)`` of that (untransformed) feature. The smooth
    orientation score of every correct calibration map is at least ``high``; a map with a
    lower one has part of the shape reversed, whatever the other signals say (a whole
    mirror image keeps a perfect cycle consistency, smoothness and descriptors), and an
    additive model alone would let those outvote it.
    """

    name: str
    features: tuple
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    gate: tuple | None = None

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        raw = X
        if self.lo is not None and self.hi is not None:
            X = np.where(self.coef > 0, np.minimum(X, self.hi), np.maximum(X, self.lo))
        z = ((X - self.mean) / self.scale) @ self.coef + self.intercept
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))
        if self.gate is not None:
            name, low, high = self.gate
            x = raw[:, self.features.index(name)]
            p = p * np.clip((x - low) / max(high - low, 1e-12), 0.0, 1.0)
        return p

    def to_dict(self) -> dict:
        d = {"name": self.name, "features": list(self.features), "mean": self.mean.tolist(),
             "scale": self.scale.tolist(), "coef": self.coef.tolist(), "intercept": self.intercept,
             "threshold": self.threshold}
        if self.lo is not None and self.hi is not None:
            d.update(lo=self.lo.tolist(), hi=self.hi.tolist())
        if self.gate is not None:
            d["gate"] = list(self.gate)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> LogisticModel:
        rng = {k: np.asarray(d[k], float) for k in ("lo", "hi") if k in d}
        gate = None if d.get("gate") is None else (str(d["gate"][0]), float(d["gate"][1]), float(d["gate"][2]))
        return cls(d["name"], tuple(d["features"]), np.asarray(d["mean"], float), np.asarray(d["scale"], float),
                   np.asarray(d["coef"], float), float(d["intercept"]), float(d["threshold"]), gate=gate, **rng)


def fit_logistic(X: np.ndarray, y: np.ndarray, *, l2: float = 1.0, iters: int = 50) -> tuple[np.ndarray, float,
                                                                                               np.ndarray, np.ndarray]:
    """L2-regularized logistic regression by Newton's method on standardized inputs.

    ``X (n, p)``, ``y (n,)`` in {0, 1}. Returns ``(coef, intercept, mean, scale)`` such that
    ``sigmoid(((X - mean) / scale) @ coef + intercept)`` estimates ``P(y = 1)``. ``l2`` is the
    penalty on ``coef`` (not on the intercept), in units of one sample's log-likelihood.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"X must be (n, p) and y (n,), got {X.shape} and {y.shape}.")
    if not set(np.unique(y)) <= {0.0, 1.0}:
        raise ValueError("y must hold only 0 and 1.")
    mean = X.mean(0)
    scale = X.std(0)
    scale[scale == 0] = 1.0
    Z = np.hstack([(X - mean) / scale, np.ones((len(X), 1))])
    w = np.zeros(Z.shape[1])
    reg = np.full(Z.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(Z @ w, -50, 50)))
        grad = Z.T @ (p - y) + reg * w
        H = (Z * (p * (1 - p))[:, None]).T @ Z + np.diag(reg) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(H, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return w[:-1], float(w[-1]), mean, scale


@lru_cache(maxsize=4)
def load_models(path: str | None = None) -> tuple[LogisticModel, ...]:
    """The calibrated models (richest feature set first) from ``confidence_model.json``."""
    p = Path(path) if path else MODEL_PATH
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"{p}: the confidence model cannot be read ({exc}); reinstall shapecorr or rerun "
                           "scripts/calibrate_confidence.py.") from exc
    return tuple(LogisticModel.from_dict(d) for d in data["models"])


def choose_model(signals: dict, models) -> LogisticModel:
    """The first model (richest first) whose every feature is measured."""
    for m in models:
        if feature_vector(signals, m.features) is not None:
            return m
    raise ValueError("no confidence model fits the measured signals "
                     f"({', '.join(k for k, x in signals.items() if x is not None)}).")


# ----------------------------------------------------------------------------- the one call
@dataclass(frozen=True)
class Confidence:
    """How much to trust a match: ``value`` in [0, 1] (calibrated probability that the mean
    geodesic error is <= 5 x100), ``low`` when below ``threshold``; ``signals`` as measured
    (None: not measurable for this pair); ``per_vertex`` on the target (or None); ``advice``
    one sentence for a low value; ``model`` the calibrated model used."""

    value: float
    signals: dict
    per_vertex: np.ndarray | None
    threshold: float
    low: bool
    advice: str
    model: str
    orientation_ok: float = 0.7  # the smooth orientation score below which the advice suspects a mirror

    def advice_for(self, ran=()) -> str:
        """The advice (:func:`advice`), without suggesting a preset named in ``ran``; "" when
        the confidence is not low."""
        return advice(self.signals, self.orientation_ok, ran) if self.low else ""

    def to_dict(self) -> dict:
        """JSON-friendly summary (no per-vertex array)."""
        return {"value": round(self.value, 4), "threshold": self.threshold, "low": self.low, "advice": self.advice,
                "model": self.model,
                "signals": {k: (None if x is None else round(float(x), 5)) for k, x in self.signals.items()}}


def match_confidence(shape1: Shape, shape2: Shape, evecs1: np.ndarray, mass1: np.ndarray, evecs2: np.ndarray,
                     mass2: np.ndarray, fmap_12: np.ndarray, p2p_21: np.ndarray, p2p_12: np.ndarray,
                     descr1: np.ndarray | None = None, descr2: np.ndarray | None = None, *,
                     sign1: float | None = None, sign2: float | None = None, per_vertex: bool = True,
                     max_samples: int = SUBSAMPLE_ABOVE, models=None, known_distances: tuple = (None, None),
                     orientation: tuple | None = None) -> Confidence:
    """The calibrated confidence of a match between two normalized (unit-area) shapes.

    Arguments as :func:`match_signals` (``max_samples``: vertices per shape above which the
    signals are measured on a sample; ``known_distances``: :func:`map_free_distances` of each
    shape, when computed beforehand; ``orientation``: a point-cloud pair's normals and faces); ``per_vertex=False`` skips the per-vertex array;
    ``models`` replaces the bundled calibrated models (a sequence of :class:`LogisticModel`,
    richest first).
    """
    sig = match_signals(shape1, shape2, evecs1, mass1, evecs2, mass2, fmap_12, p2p_21, p2p_12, descr1, descr2,
                        sign1=sign1, sign2=sign2, max_samples=max_samples, known_distances=known_distances,
                        orientation=orientation)
    models = load_models() if models is None else models
    model = choose_model(sig.values, models)
    value = float(model.predict(feature_vector(sig.values, model.features))[0])
    low = value < model.threshold
    orientation_ok = model.gate[2] if model.gate is not None else 0.7
    pv = per_vertex_confidence(sig, shape2.vertices) if per_vertex else None
    return Confidence(value=value, signals=dict(sig.values), per_vertex=pv, threshold=model.threshold, low=low,
                      advice=advice(sig.values, orientation_ok) if low else "", model=model.name,
                      orientation_ok=orientation_ok)


#: above these the advice suspects shapes that are not near-isometric (higher than every correct
#: calibration map: descriptor residual 0.14, area distortion 0.12), or tears (95 % of them: 0.025)
ADVICE_DESCRIPTOR, ADVICE_AREA, ADVICE_TEARS = 0.15, 0.12, 0.03
#: above this detached area the advice suspects a region matched to the wrong part (95 % of the
#: correct calibration maps detach less than 0.06, half of the wrong ones more than 0.1)
ADVICE_DETACHED = 0.06


def keeps_trust(before_low: bool, after_low: bool) -> bool:
    """Whether a map made from another may replace it: unless the confidence trusted the one
    before (``before_low`` False) and does not trust the new one (the rule of the pipeline's
    polish and registration, and of a collection's registered final maps)."""
    return not (after_low and not before_low)


#: what the advice suggests, per suspected cause: the presets in order of preference (those not
#: run already; how many to name), then what to look at
_ADVICE = {
    "mirrored": ("parts of the map look mirrored (a left-right flip)", ("axiomatic", "accurate", "default"), 2,
                 "look at the picture for colours that swap sides"),
    "not isometric": ("the shapes may not be near-isometric (other proportions, missing parts, holes)",
                      ("axiomatic", "default", "accurate"), 1,
                      "check that both files show the same kind of object in a similar pose (between different "
                      "animals, a few landmark pairs settle swapped parts: --landmarks)"),
    "wrong part": ("a region seems matched to the wrong part (for example a swapped limb: neighbouring points land "
                   "far apart around it)", ("accurate", "axiomatic", "default"), 2,
                   "look at the picture for a part coloured like another one (landmark pairs on it settle it: "
                   "--landmarks)"),
    "tears": ("the map tears in places (neighbouring points land far apart)", ("accurate", "default"), 1,
              "look at the picture for regions matched to the wrong part"),
    "disagree": ("the two maps disagree in places", ("accurate", "default"), 1,
                 "look at the picture before using the result"),
}


def advice_cause(signals: dict, orientation_ok: float = 0.7) -> str:
    """The suspected cause of a low confidence, a key of the advice table (``orientation_ok``: the
    smooth orientation score below which part of the map is taken to be mirrored)."""
    orient = signals.get("orientation_smooth")
    if orient is not None and orient < orientation_ok:
        return "mirrored"
    descr, area = signals.get("descriptor_residual") or 0.0, signals.get("area_distortion") or 0.0
    if descr > ADVICE_DESCRIPTOR or area > ADVICE_AREA:
        return "not isometric"
    if (signals.get("detached_area") or 0) > ADVICE_DETACHED:
        return "wrong part"
    if (signals.get("discontinuity") or 0) > ADVICE_TEARS:
        return "tears"
    return "disagree"


def advice(signals: dict, orientation_ok: float = 0.7, ran=()) -> str:
    """One sentence on what to try for a map with these signals: the suspected cause
    (:func:`advice_cause`), the presets to try, and what to look at. A preset named in ``ran``
    (the one this match was made with) is not suggested again."""
    cause, presets, n, look = _ADVICE[advice_cause(signals, orientation_ok)]
    left = [p for p in presets if p not in set(ran)][:n]
    todo = f"try {' or '.join(f'--preset {p}' for p in left)}, and " if left else ""
    return f"{cause}; {todo}{look}"
