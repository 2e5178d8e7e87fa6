"""Non-rigid registration: deform the source onto the target, starting from a vertex map.

A vertex map between two independently meshed shapes is only as precise as the meshes are
fine, and a wrong vertex here and there is common. Registration makes it precise: the source
surface itself is deformed until it lies on the target, and the map is then read off as the
closest point of the deformed source to each target vertex (a face and barycentric weights;
:func:`shapecorr.deform.precise.precise_map` with ``method="register"`` does that).

The method is an ARAP-regularized non-rigid ICP (in the spirit of Amberg et al. 2007, "Optimal
step nonrigid ICP", with the as-rigid-as-possible energy of :mod:`.arap` as the regularizer):

1. a similarity transform that aligns the source to the target through the vertex map: the
   scale from the two areas (meshes; only of the vertices whose round trip through both maps
   is short, so that a target missing a part does not shrink the source), rotation and
   translation by weighted Procrustes, trimmed of the worst pairs;
2. a first deformation that pulls each source vertex towards the target vertices matched to it
   (both directions of the map; a source vertex's own pair only where its round trip is short:
   a source part the target lacks is left to ARAP, not pulled onto the rim), under a stiff ARAP
   energy: wrong matches are outvoted by their neighbours instead of tearing the surface;
3. ICP stages with a shrinking stiffness: closest-point pairs in both directions (deformed
   source vertex -> nearest target vertex, target vertex -> nearest deformed source vertex),
   pairs whose normals disagree or that are far apart are dropped, and the deformation
   minimizes ``stiffness * E_arap + sum_pairs w (alpha |x - q|^2 + beta (n . (x - q))^2)``: the
   point-to-plane term lets the surfaces slide along each other (exact on smooth parts
   whatever the two meshings), the small point-to-point term keeps them from drifting. Each
   pairing is followed by a few local-global iterations (rotations, then one sparse solve of
   the ``3n x 3n`` system, factored once per pairing).

   The ARAP energy is robust (``RegisterSettings.robust_arap``): before each pairing every
   cell's energy is reweighted by ``eps / sqrt(r^2 + eps^2)``, ``r`` the cell's relative misfit
   to its best rotation (iteratively reweighted least squares of a pseudo-Huber, L1-like,
   energy). A least-squares ARAP spreads the stretch of a joint over the whole part, and on
   the surface of the target that spreading is a slide along it (the map drifts tangentially
   where nothing in the data can tell: a leg, a tube); an L1-like energy keeps the distortion
   where the pose puts it, in few cells, and rigid parts rigid (in the spirit of sparse
   non-rigid registration, Li et al. 2018, "Robust non-rigid registration with reweighted
   position and transformation sparsity").

All lengths are measured in units of the target's ``sqrt(area)``, so the settings do not depend
on the shapes' size or resolution.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ..core import Shape
from ..core.errors import SettingsError, ShapeError
from .arap import (
    CellEnergy,
    arap_operators,
    cell_energy,
    covariances,
    identity_rotations,
    make_factor,
    rotation_rhs,
    rotations_newton,
    rotations_svd,
)
from .rigid import similarity_transform

log = logging.getLogger(__name__)


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise SettingsError(message)


@dataclass(frozen=True)
class RegisterSettings:
    """How the source is deformed onto the target (lengths in units of the target's sqrt(area)).

    stiffness : ARAP weight of each ICP stage, shrinking (stiff first: the shapes are brought
        together as a whole; soft last: details are fitted).
    init_stiffness, init_iterations : ARAP weight and local-global iterations of the first
        deformation, towards the vertex map's matches.
    pairings : closest-point pairings per stage.
    inner_iterations : local-global iterations per pairing.
    point_to_point, point_to_plane : weights of the two data terms.
    normal_cos : pairs whose normals make a larger angle than ``arccos(normal_cos)`` are dropped.
    max_distance : pairs further apart than this (and than ``distance_factor`` times the median
        pair distance) are dropped.
    trim : fraction of the vertex map's pairs ignored (the worst) by the similarity alignment.
    robust_arap : ``eps`` of the robust ARAP energy (a cell misfit ``r``, relative to the cell's
        size, weighs ``eps / sqrt(r^2 + eps^2)``: L2 below ``eps``, L1 above); 0 for plain
        least-squares ARAP. Chosen on Spot (posed, bent): 3.13 -> 2.00 texels on the posed pair.
    anchor : weight, relative to the closest-point pairs, of the first deformation's pairs (the
        vertex map's matches) kept in every ICP stage: a pull that stops parts sliding along
        themselves where closest points cannot tell (a tube). Off by default: on the benchmark
        it cost 1-2 texels where the vertex map is noisy, and sliding there came from a wrong
        scale, now taken from the areas.
    round_trip : between two meshes, the first deformation uses a source -> target pair of
        ``p2p_12`` only where the round trip through both maps (source vertex -> target ->
        source) ends within this distance (and two mean edge lengths) of where it started
        (0: every pair). Where the target misses a part (a cut-off hand, a scan's missing top
        of the head) the source's part has no counterpart: the maps send it to the rim and back
        elsewhere, and its pairs would pull it onto the rim.
        Chosen on FAUST_r targets cut by ``bench_flaws.py`` (``extremity15``, seeds 0 and 1)
        and the re-proportioned tune pairs of the matcher's registration step
        (``docs/bench/flaws_cpu/extremity/registration/variants``): 0.03, about two edges of a
        5k-vertex mesh.
    consistent_scale : with ``round_trip``, the source's scale is taken from the areas of the
        vertices whose round trip is short on each shape, rather than from the whole areas (a
        target that misses a part has less area than the source, and the whole areas would
        shrink the source).
    unmatched_rim : with ``round_trip``, a source vertex whose round trip is long and whose image
        lies within this distance of the target's open boundary is taken for a part the target
        lacks, and is left out of the closest-point pairs too (ARAP alone carries it); 0: off.
    knn : neighbours of the ARAP graph when the source is a point cloud.
    """

    stiffness: tuple = (0.01, 0.003, 0.001, 3e-4, 1e-4)
    init_stiffness: float = 0.003
    init_iterations: int = 20
    pairings: int = 4
    inner_iterations: int = 2
    point_to_point: float = 0.01
    point_to_plane: float = 1.0
    normal_cos: float = 0.5
    max_distance: float = 0.1
    distance_factor: float = 4.0
    trim: float = 0.2
    robust_arap: float = 0.01
    anchor: float = 0.0
    round_trip: float = 0.03
    consistent_scale: bool = True
    unmatched_rim: float = 0.05
    knn: int = 8
    solver: str = "auto"

    def __post_init__(self):
        object.__setattr__(self, "stiffness", tuple(self.stiffness))
        _check(len(self.stiffness) >= 1 and all(isinstance(s, (int, float)) and s > 0 for s in self.stiffness),
               f"stiffness must be a list of positive numbers, got {self.stiffness!r}.")
        for name in ("init_stiffness", "max_distance", "distance_factor"):
            v = getattr(self, name)
            _check(isinstance(v, (int, float)) and v > 0, f"{name} must be a positive number, got {v!r}.")
        for name in ("point_to_point", "point_to_plane", "anchor", "robust_arap", "round_trip", "unmatched_rim"):
            v = getattr(self, name)
            _check(isinstance(v, (int, float)) and v >= 0, f"{name} must be a number >= 0, got {v!r}.")
        _check(self.point_to_point + self.point_to_plane > 0, "point_to_point and point_to_plane cannot both be 0.")
        for name in ("pairings", "inner_iterations", "init_iterations", "knn"):
            v = getattr(self, name)
            _check(isinstance(v, int) and not isinstance(v, bool) and v >= 1, f"{name} must be an integer >= 1, got {v!r}.")
        _check(isinstance(self.normal_cos, (int, float)) and -1 <= self.normal_cos < 1,
               f"normal_cos must be in [-1, 1), got {self.normal_cos!r}.")
        _check(isinstance(self.consistent_scale, bool), f"consistent_scale must be true or false, got {self.consistent_scale!r}.")
        _check(isinstance(self.trim, (int, float)) and 0 <= self.trim < 1, f"trim must be in [0, 1), got {self.trim!r}.")


class Registration(NamedTuple):
    """The deformed source and how well it fits."""

    vertices: np.ndarray  # (n1, 3) the source deformed onto the target, in the target's coordinates
    rest: np.ndarray  # (n1, 3) the source after the similarity alignment only
    fit: list  # per pairing: (stiffness, median pair distance / sqrt(area), pairs kept)
    seconds: float
    similarity: tuple = (1.0, np.eye(3), np.zeros(3))  # (s, R, t): rest = s * source @ R.T + t


# ----------------------------------------------------------------------------- pieces
def vertex_normals(vertices: np.ndarray, faces: np.ndarray | None, given: np.ndarray | None = None) -> np.ndarray:
    """Area-weighted unit vertex normals of a mesh; for a point cloud its ``given`` normals (a
    file's), else PCA normals, oriented outward."""
    if faces is None:
        from ..core.pointcloud import outward_normals

        return outward_normals(vertices, normals=given)
    return Shape(vertices, faces, validate=False).vertex_normals


def vertex_mass(vertices: np.ndarray, faces: np.ndarray | None) -> np.ndarray:
    """Lumped (one third of the adjacent triangle areas) vertex areas; uniform for a point cloud."""
    n = len(vertices)
    if faces is None:
        return np.full(n, 1.0 / n)
    v = vertices[faces]
    area = 0.5 * np.linalg.norm(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), axis=1)
    return np.bincount(faces.ravel(), weights=np.repeat(area / 3.0, 3), minlength=n)


class _Pairs(NamedTuple):
    """Data pairs: source vertex ``i`` should reach ``q`` (normal ``n``), weight ``w``."""

    i: np.ndarray
    q: np.ndarray
    n: np.ndarray
    w: np.ndarray


def _point_pairs_system(corners: np.ndarray, bary: np.ndarray, q: np.ndarray, w: np.ndarray, n1: int):
    """``(3n, 3n)`` matrix and ``(n, 3)`` right-hand side of ``sum_p w_p |sum_k bary_pk x_{corners_pk} - q_p|^2``
    (points on the source surface pulled towards target positions)."""
    p = len(corners)
    B = sp.csr_matrix((bary.ravel(), (np.repeat(np.arange(p), 3), corners.ravel())), shape=(p, n1))
    BtW = B.T @ sp.diags(w)
    return sp.kron(BtW @ B, sp.identity(3), format="csr"), BtW @ q


def _concat(*pairs: _Pairs) -> _Pairs:
    return _Pairs(*(np.concatenate(parts) for parts in zip(*pairs)))


def _data_system(pairs: _Pairs, n1: int, alpha: float, beta: float):
    """Block-diagonal ``(3n, 3n)`` matrix and ``(n, 3)`` right-hand side of
    ``sum w (alpha |x_i - q|^2 + beta (n . (x_i - q))^2)``."""
    W = pairs.w[:, None, None] * (alpha * np.eye(3) + beta * pairs.n[:, :, None] * pairs.n[:, None, :])  # (p, 3, 3)
    blocks = np.zeros((n1, 3, 3))
    np.add.at(blocks, pairs.i, W)
    rhs = np.zeros((n1, 3))
    np.add.at(rhs, pairs.i, (W @ pairs.q[:, :, None])[:, :, 0])
    rows = (3 * np.arange(n1)[:, None, None] + np.arange(3)[None, :, None]).repeat(3, axis=2)
    cols = rows.transpose(0, 2, 1)
    D = sp.csr_matrix((blocks.ravel(), (rows.ravel(), cols.ravel())), shape=(3 * n1, 3 * n1))
    return D, rhs


def boundary_vertices(shape: Shape) -> np.ndarray:
    """``(n,)`` bool: the vertices on an open boundary of a mesh (none for a point cloud)."""
    mask = np.zeros(shape.n_vertices, dtype=bool)
    if shape.is_mesh:
        mask[np.asarray(shape.boundary_edges).ravel()] = True
    return mask


def _closest_pairs(x, nx, V2, N2, m1, m2, tree2, scale, settings: RegisterSettings,
                   edge1: np.ndarray, edge2: np.ndarray, unmatched1: np.ndarray | None = None
                   ) -> tuple[_Pairs, float]:
    """Closest-vertex pairs both ways, filtered by normals and distance; a pair that ends on an
    open boundary (``edge1``/``edge2``: boundary vertices of source/target) is dropped unless it
    starts on one too: from the inside, the closest point on a rim is the rim itself, not the
    matching point, and such pairs drag a part along (a target that lacks a part); from rim to
    rim they are the only pairs that hold an open sheet's parts along the surface (a flat
    model, a car body's wheel wells, a head's open eyes). Source vertices in ``unmatched1`` (a
    part the target lacks) are paired with nothing."""
    from scipy.spatial import cKDTree

    d12, j = tree2.query(x)  # deformed source vertex -> nearest target vertex
    d21, i = cKDTree(x).query(V2)  # target vertex -> nearest deformed source vertex
    med = float(np.median(np.concatenate([d12, d21])))
    limit = min(settings.max_distance * scale, max(settings.distance_factor * med, 1e-12 * scale))
    keep1 = (d12 <= limit) & ((nx * N2[j]).sum(1) >= settings.normal_cos) & (~edge2[j] | edge1)
    keep2 = (d21 <= limit) & ((nx[i] * N2).sum(1) >= settings.normal_cos) & (~edge1[i] | edge2)
    if unmatched1 is not None:
        keep1 &= ~unmatched1
        keep2 &= ~unmatched1[i]
    src = np.arange(len(x))
    pairs = _concat(_Pairs(src[keep1], V2[j[keep1]], N2[j[keep1]], m1[keep1]),
                    _Pairs(i[keep2], V2[keep2], N2[keep2], m2[keep2]))
    return pairs, med / scale


def round_trips(p2p_21: np.ndarray, p2p_12: np.ndarray, V1: np.ndarray, V2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How far each vertex lands from itself after a round trip through the two vertex maps:
    ``(|V1[p2p_21[p2p_12]] - V1|, |V2[p2p_12[p2p_21]] - V2|)``, ``(n1,)`` and ``(n2,)``."""
    return (np.linalg.norm(V1[p2p_21[p2p_12]] - V1, axis=1),
            np.linalg.norm(V2[p2p_12[p2p_21]] - V2, axis=1))


def _mean_edge(V: np.ndarray, F: np.ndarray) -> float:
    """The mesh's mean edge length."""
    return float(np.linalg.norm(V[F[:, [1, 2, 0]]] - V[F], axis=2).mean())


def _map_scale(p2p_21: np.ndarray, V1: np.ndarray, V2: np.ndarray) -> float:
    """How much larger the target is than the source, as the map pairs them: the ratio of the RMS
    distances to the centroid of the target's vertices and of their images (the parts the map
    pairs, whatever either shape lacks; a bend makes it a few percent small)."""
    P = V1[p2p_21]
    spread1 = np.sqrt(((P - P.mean(0)) ** 2).sum(1).mean())
    spread2 = np.sqrt(((V2 - V2.mean(0)) ** 2).sum(1).mean())
    return float(spread2 / max(spread1, 1e-300))


def _short_round_trips(p2p_21, p2p_12, source: tuple, target: tuple, limit: float) -> tuple[np.ndarray, np.ndarray]:
    """``(n1,)``, ``(n2,)`` bool: the vertices whose round trip through both maps ends within
    ``limit`` times their mesh's ``sqrt(area)`` of where it started, or within two of its mesh's
    mean edge lengths, or within one and a half of the other mesh's (brought to this one's scale
    by the map). A round trip passes through the other mesh's vertices: where that mesh is much
    coarser (a fine target matched to a coarse source), the trip is off by up to a coarse edge
    wherever the meshings differ, though nothing is missing; between like meshes (the other's
    edges less than 4/3 of this one's) the first two bounds decide, as before.
    ``source``, ``target``: ``(V, F, area)``."""
    (V1, F1, a1), (V2, F2, a2) = source, target
    d1, d2 = round_trips(p2p_21, p2p_12, V1, V2)
    s = _map_scale(np.asarray(p2p_21), V1, V2)
    e1, e2 = _mean_edge(V1, F1), _mean_edge(V2, F2)
    tol1 = max(limit * float(np.sqrt(a1)), 2.0 * e1, 1.5 * e2 / s)
    tol2 = max(limit * float(np.sqrt(a2)), 2.0 * e2, 1.5 * e1 * s)
    return d1 <= tol1, d2 <= tol2


def _near(V: np.ndarray, mask: np.ndarray, radius: float) -> np.ndarray:
    """``(n,)`` bool: the vertices within ``radius`` of a vertex in ``mask``."""
    from scipy.spatial import cKDTree

    return cKDTree(V[mask]).query(V, distance_upper_bound=radius)[0] <= radius


def _area_scale(a1: np.ndarray, a2: np.ndarray, agreed=None) -> float:
    """The scale that gives the source the target's area, ``sqrt(sum a2 / sum a1)`` over the vertex
    areas; with ``agreed = (keep1, keep2)`` over those vertices only, unless they hold less than a
    quarter of either area (maps too poor to say which parts the shapes share)."""
    if agreed is not None:
        k1, k2 = agreed
        if a1[k1].sum() >= 0.25 * a1.sum() and a2[k2].sum() >= 0.25 * a2.sum():
            a1, a2 = a1[k1], a2[k2]
    return float(np.sqrt(a2.sum() / a1.sum()))


def _source_pairs(p2p_12, V2, N2, m1, keep1=None) -> _Pairs:
    """Pairs ``source vertex -> its image under p2p_12`` (only the source vertices in ``keep1``
    when given)."""
    p2p_12 = np.asarray(p2p_12)
    i = np.arange(len(p2p_12)) if keep1 is None else np.flatnonzero(keep1)
    return _Pairs(i, V2[p2p_12[i]], N2[p2p_12[i]], m1[i])


def _map_pairs(p2p_21, p2p_12, V2, N2, m1, m2, keep1=None) -> _Pairs:
    """Pairs from the vertex map (both directions when ``p2p_12`` is given; of those, only the
    source vertices in ``keep1`` when given)."""
    parts = [_Pairs(np.asarray(p2p_21), V2, N2, m2)]
    if p2p_12 is not None:
        parts.append(_source_pairs(p2p_12, V2, N2, m1, keep1))
    return _concat(*parts)


def cell_misfits(rest: np.ndarray, x: np.ndarray, cells: CellEnergy, R: np.ndarray) -> np.ndarray:
    """``(n,)``: each ARAP cell's misfit to its rotation, relative to the cell's size:
    ``r_k = sqrt(sum_h |w_h| |e_h(x) - R_k e_h(p)|^2 / sum_h |w_h| |e_h(p)|^2)`` over the edges
    ``h`` of cell ``k`` (``R (3, 3, n)`` component-major as in :mod:`.arap`; 0 for a rigid motion
    of the cell with its best rotation)."""
    owner = cells.owner.tocoo()
    k, h = owner.row, owner.col
    e0 = rest[cells.i] - rest[cells.j]  # (E, 3)
    ex = x[cells.i] - x[cells.j]
    turned = np.einsum("abk,kb->ka", R[:, :, k], e0[h])  # R_k e_h(p)
    w = np.abs(cells.w[h])
    n = len(rest)
    misfit = np.bincount(k, w * ((ex[h] - turned) ** 2).sum(1), minlength=n)
    size = np.bincount(k, w * (e0[h] ** 2).sum(1), minlength=n)
    return np.sqrt(misfit / np.maximum(size, 1e-300))


def robust_cell_weights(misfit: np.ndarray, eps: float) -> np.ndarray:
    """IRLS weights of a pseudo-Huber energy: ``eps / sqrt(r^2 + eps^2)`` (1 for a rigid cell,
    ``~eps / r`` for a strained one)."""
    return eps / np.sqrt(misfit ** 2 + eps ** 2)


def reweighted(cells: CellEnergy, weights: np.ndarray) -> CellEnergy:
    """The same cells, cell ``k``'s energy multiplied by ``weights[k]``."""
    return cells._replace(owner=(sp.diags(weights) @ cells.owner).tocsr())


class _ArapFit:
    """Minimizes ``stiffness * E_arap(x) + data(x)`` by local-global iterations; the
    ``(3n, 3n)`` system is factored once per set of pairs."""

    def __init__(self, rest: np.ndarray, faces, settings: RegisterSettings):
        self.n = len(rest)
        self.rest = rest
        self.faces = faces
        self.cells = cell_energy(rest, faces, settings.knn)
        self._set_operators(arap_operators(rest, self.cells))
        self.settings = settings
        self.R = identity_rotations(self.n)
        self._warm = False

    def _set_operators(self, ops) -> None:
        self.ops = ops
        self.Q3 = sp.kron(ops.Q, sp.identity(3), format="csr")

    def reweight(self, x: np.ndarray, eps: float) -> np.ndarray:
        """Robust ARAP: each cell weighed by :func:`robust_cell_weights` of its misfit at ``x``
        (to its best rotation there); returns the misfits."""
        R = rotations_svd(covariances(self.ops, x))  # a cell's weight scales A_k, not its rotation
        misfit = cell_misfits(self.rest, x, self.cells, R)
        self._set_operators(arap_operators(self.rest, reweighted(self.cells, robust_cell_weights(misfit, eps))))
        return misfit

    def run(self, x: np.ndarray, pairs, stiffness: float, iterations: int, alpha: float,
            beta: float) -> np.ndarray:
        """``pairs``: :class:`_Pairs`, or an already assembled ``(matrix, rhs)`` data system."""
        D, data_rhs = _data_system(pairs, self.n, alpha, beta) if isinstance(pairs, _Pairs) else pairs
        S = stiffness * self.Q3 + D
        # a tiny pull towards the current positions keeps the system definite where nothing else
        # holds a vertex (one used by no face and paired with nothing, a direction no pair sees)
        eps = 1e-9 * float(np.abs(S.diagonal()).mean())
        factor = make_factor(S + eps * sp.identity(3 * self.n, format="csr"), self.settings.solver)
        for _ in range(iterations):
            A = covariances(self.ops, x)
            self.R = rotations_newton(A, self.R, steps=3) if self._warm else rotations_svd(A)
            self._warm = True
            rhs = stiffness * rotation_rhs(self.ops, self.R) + data_rhs + eps * x
            x = factor.solve(rhs.reshape(-1, 1)).reshape(self.n, 3)
        return x


class _Target(NamedTuple):
    """The target as the ICP stages see it: the shape (for its rim), normalized vertices, normals, mass."""

    shape: Shape
    V: np.ndarray  # vertices in units of sqrt(area) about the centroid
    N: np.ndarray
    m: np.ndarray  # vertex areas, summing to 1

    @property
    def edge(self) -> np.ndarray:
        return boundary_vertices(self.shape)


def _unmatched(keep1, p2p_12, target: Shape, V2n: np.ndarray, settings: RegisterSettings) -> np.ndarray | None:
    """Source vertices left out of the closest-point pairs: a long round trip (not in ``keep1``)
    whose image lies within ``unmatched_rim`` of the target's open boundary (a part the target
    lacks); None when nothing is left out."""
    edge2 = boundary_vertices(target)
    if keep1 is None or p2p_12 is None or not settings.unmatched_rim or not edge2.any():
        return None
    return ~keep1 & _near(V2n, edge2, settings.unmatched_rim)[np.asarray(p2p_12)]


def _icp_stages(fit: "_ArapFit", x: np.ndarray, stiffnesses, target: _Target, m1: np.ndarray, edge1: np.ndarray,
                unmatched1, settings: RegisterSettings, anchor=None, progress=None) -> tuple[np.ndarray, list]:
    """Non-rigid ICP from ``x`` (normalized units): per stiffness, ``settings.pairings`` rounds of
    closest-point pairs and local-global iterations. Returns ``(x, history)``."""
    from scipy.spatial import cKDTree

    tree2, edge2 = cKDTree(target.V), target.edge
    alpha, beta = settings.point_to_point, settings.point_to_plane
    history = []
    total = len(stiffnesses) * settings.pairings
    for k, stiffness in enumerate(stiffnesses):
        for p in range(settings.pairings):
            nx = vertex_normals(x, fit.faces)
            pairs, med = _closest_pairs(x, nx, target.V, target.N, m1, target.m, tree2, 1.0, settings, edge1, edge2,
                                        unmatched1)
            history.append((float(stiffness), med, len(pairs.i)))
            if settings.robust_arap:
                fit.reweight(x, settings.robust_arap)
            if anchor is not None:
                D, r = _data_system(pairs, len(x), alpha, beta)
                pairs = (D + anchor[0], r + anchor[1])
            x = fit.run(x, pairs, stiffness, settings.inner_iterations, alpha, beta)
            if progress is not None:
                progress(f"registration: stiffness {stiffness:g}, median distance {med:.2e}",
                         (k * settings.pairings + p + 1) / total)
    return x, history


def refine_registration(source: Shape, target: Shape, x: np.ndarray, similarity: tuple, p2p_21=None, p2p_12=None, *,
                        settings: RegisterSettings | None = None, progress=None) -> np.ndarray:
    """The last ICP stage of :func:`register` (its smallest stiffness, ``settings.pairings``
    rounds) run again from the deformed source ``x`` (``(n1, 3)``, target coordinates), with the
    source's rest shape ``s * V1 @ R.T + t`` from ``similarity = (s, R, t)``: the full-resolution
    finish of a registration computed on coarser stand-ins. The vertex maps, when given, leave
    out of the pairs the part of the source the target lacks, as in :func:`register`. Two meshes.
    Returns the refined ``(n1, 3)``."""
    settings = settings or RegisterSettings()
    if not (source.is_mesh and target.is_mesh):
        raise ShapeError("refine_registration needs two meshes.")
    V1, F1 = np.asarray(source.vertices, np.float64), source.faces
    V2, F2 = np.asarray(target.vertices, np.float64), target.faces
    s, R, t = similarity
    rest = s * V1 @ np.asarray(R).T + np.asarray(t)
    a2 = vertex_mass(V2, F2)
    scale, c = float(np.sqrt(a2.sum())), V2.mean(0)
    V2n = (V2 - c) / scale
    m1 = vertex_mass(rest, F1)
    keep1 = None
    if p2p_21 is not None and p2p_12 is not None and settings.round_trip:
        keep1, _ = _short_round_trips(np.asarray(p2p_21), np.asarray(p2p_12), (V1, F1, vertex_mass(V1, F1).sum()),
                                      (V2, F2, a2.sum()), settings.round_trip)
    fit = _ArapFit((rest - c) / scale, F1, settings)
    tgt = _Target(target, V2n, vertex_normals(V2, F2), a2 / a2.sum())
    x, _ = _icp_stages(fit, (np.asarray(x, np.float64) - c) / scale, settings.stiffness[-1:], tgt, m1 / m1.sum(),
                       boundary_vertices(source), _unmatched(keep1, p2p_12, target, V2n, settings), settings,
                       progress=progress)
    return x * scale + c


# ----------------------------------------------------------------------------- registration
def register(source: Shape, target: Shape, p2p_21, p2p_12=None, *, init_points=None,
             settings: RegisterSettings | None = None, progress=None) -> Registration:
    """Deform ``source`` onto ``target`` starting from the vertex map ``p2p_21`` (target vertex
    -> source vertex; ``p2p_12`` is used too when given). Returns the :class:`Registration`;
    its ``vertices`` are the deformed source in the target's coordinates (source vertex order).

    ``init_points``: optionally ``(face (n2,), bary (n2, 3))``, a point on the source surface for
    each target vertex (a precise map, e.g. the spectral one): the first deformation then pulls
    these points, rather than the vertices of ``p2p_21``, towards the target vertices.

    ``progress``: optional callable ``(stage: str, fraction)``.
    """
    t0 = time.perf_counter()
    settings = settings or RegisterSettings()
    V1, F1 = np.asarray(source.vertices, np.float64), source.faces
    V2, F2 = np.asarray(target.vertices, np.float64), target.faces
    p2p_21 = np.asarray(p2p_21, dtype=np.int64)
    if p2p_21.shape != (len(V2),) or p2p_21.min() < 0 or p2p_21.max() >= len(V1):
        raise ShapeError(f"p2p_21 must give a source vertex (0..{len(V1) - 1}) for each of the {len(V2)} target "
                         f"vertices, got shape {p2p_21.shape}.")
    if p2p_12 is not None:
        p2p_12 = np.asarray(p2p_12, dtype=np.int64)
        if p2p_12.shape != (len(V1),) or p2p_12.min() < 0 or p2p_12.max() >= len(V2):
            raise ShapeError(f"p2p_12 must give a target vertex for each of the {len(V1)} source vertices.")
    a2 = vertex_mass(V2, F2)
    scale = float(np.sqrt(a2.sum()))  # lengths in units of the target's sqrt(area)
    m2 = a2 / a2.sum()
    N2 = vertex_normals(V2, F2, target.point_normals)

    # 1. similarity alignment through the map, trimmed of its worst pairs
    src_pts, w = V1[p2p_21], m2
    if init_points is not None and F1 is not None:
        src_pts = (np.asarray(init_points[1])[:, :, None] * V1[F1[np.asarray(init_points[0])]]).sum(1)
    # the scale from the areas when both are meshes: a least-squares scale underestimates it
    # whenever the target is bent (a bent shape lies closer to its centroid; 5 % on a bent
    # alligator), and ARAP keeps lengths, so the excess would slide along thin parts
    keep1 = keep2 = size = None
    if F1 is not None and F2 is not None:
        a1 = vertex_mass(V1, F1)
        if p2p_12 is not None and settings.round_trip:
            keep1, keep2 = _short_round_trips(p2p_21, p2p_12, (V1, F1, a1.sum()), (V2, F2, a2.sum()),
                                              settings.round_trip)
        size = _area_scale(a1, a2, (keep1, keep2) if keep1 is not None and settings.consistent_scale else None)
    s, R, t = similarity_transform(src_pts, V2, w, size)
    if settings.trim:
        res = np.linalg.norm(s * src_pts @ R.T + t - V2, axis=1)
        keep = res <= np.quantile(res, 1.0 - settings.trim)
        s, R, t = similarity_transform(src_pts[keep], V2[keep], w[keep], size)
    rest = s * V1 @ R.T + t
    m1 = vertex_mass(rest, F1)
    m1 = m1 / m1.sum()

    # work in units of sqrt(area): stiffness and data weights are then scale-free
    c = V2.mean(0)
    rest_n, V2n = (rest - c) / scale, (V2 - c) / scale
    fit = _ArapFit(rest_n, F1, settings)

    # 2. towards the vertex map's matches, stiffly (point to point: the map says where, not just how far)
    x = rest_n.copy()
    if init_points is None:
        init = _map_pairs(p2p_21, p2p_12, V2n, N2, m1, m2, keep1)
    else:
        face, bary = (np.asarray(a) for a in init_points)
        if F1 is None or face.shape != (len(V2),) or np.shape(bary) != (len(V2), 3):
            raise ShapeError(f"init_points must be (face, bary) on the source mesh for each of the {len(V2)} "
                             "target vertices.")
        init = _point_pairs_system(F1[face], np.asarray(bary, np.float64), V2n, m2, len(V1))
        if p2p_12 is not None:
            D2, r2 = _data_system(_source_pairs(p2p_12, V2n, N2, m1, keep1), len(V1), 1.0, 0.0)
            init = (init[0] + D2, init[1] + r2)
    if isinstance(init, _Pairs):
        init = _data_system(init, len(V1), 1.0, 0.0)
    x = fit.run(x, init, settings.init_stiffness, settings.init_iterations, 1.0, 0.0)
    anchor = (settings.anchor * init[0], settings.anchor * init[1]) if settings.anchor else None

    # 3. ICP stages with a shrinking stiffness
    unmatched1 = _unmatched(keep1, p2p_12, target, V2n, settings)
    x, history = _icp_stages(fit, x, settings.stiffness, _Target(target, V2n, N2, m2), m1,
                             boundary_vertices(source), unmatched1, settings, anchor, progress)
    log.info("registration: median pair distance %.3g -> %.3g (x sqrt(area)) in %.1f s", history[0][1],
             history[-1][1], time.perf_counter() - t0)
    return Registration(x * scale + c, rest, history, time.perf_counter() - t0, (s, R, t))
