"""Consistent maps across a collection: synchronization in a latent basis and consistent ZoomOut.

The collection is a graph: every shape is joined to the template (its direct map) and to its
nearest shapes (independent pairwise maps). Each directed edge ``i -> j`` carries a functional
map ``X_ij`` (``k x k``, functions on ``i`` to functions on ``j``) and a weight from the map's
confidence. Consistency is sought in a latent basis anchored at the template (as the consistent
latent bases of Huang et al. 2014/2020 and pyFM's FMN, with the template's eigenbasis as the
latent space): one matrix ``A_i`` per shape, ``A_T = I``, such that ``X_ij A_i ~ A_j`` on every
edge, by weighted least squares

    min  sum_edges  w_ij ||X_ij A_i - A_j||^2      (A_T = I fixed)

solved by block Gauss-Seidel sweeps (each shape's block is a ``k x k`` solve that needs only its
neighbours' ``A``, so the solve partitions across workers, see docs/scale.md). Maps built from
the latent embeddings ``Phi_i A_i`` (nearest neighbours, as a functional map becomes a vertex
map) agree through the template by construction, and a direct map with low confidence is
outvoted by the maps through its neighbours.

Consistent ZoomOut (Huang, Ren, Ovsjanikov et al. 2020) grows the size ``k`` step by step:
synchronize at size ``k``, refit every edge's map at ``k + step`` from nearest neighbours in
the latent embeddings, again. Functions here are pure NumPy; who runs the edge refits (this
process or Ray tasks) is the caller's choice (``refit`` callback).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..fmap import knn_blocked, p2p_to_fmap
from ..fmap.refine import farthest_point_sampling_spectral

#: weight factor of an edge whose map's confidence is below the calibrated threshold: it still
#: joins its shape to the graph, but the maps through neighbours decide
LOW_CONFIDENCE_FACTOR = 0.01


@dataclass(frozen=True)
class Basis:
    """What the joint refinement needs of one shape (read-only; shared through the object store)."""

    evecs: np.ndarray  # (n, K) float32, mass-orthonormal eigenbasis of the unit-area shape
    mass: np.ndarray  # (n,)
    samples: np.ndarray  # (s,) well-spread vertices on which edge maps are fitted
    vertices: np.ndarray  # (n, 3) float32, the unit-area shape (for the cycle figures)

    @property
    def n(self) -> int:
        return len(self.evecs)

    @property
    def k(self) -> int:
        return self.evecs.shape[1]


def make_basis(evecs: np.ndarray, mass: np.ndarray, vertices: np.ndarray, n_samples: int | None,
               seed: int = 0) -> Basis:
    """A :class:`Basis` with ``n_samples`` farthest-point samples (all vertices if None or more)."""
    n = len(evecs)
    if n_samples is None or n_samples >= n:
        samples = np.arange(n)
    else:
        samples = np.sort(farthest_point_sampling_spectral(evecs, n_samples, seed=seed))
    return Basis(np.ascontiguousarray(evecs, dtype=np.float32), np.asarray(mass, dtype=np.float64), samples,
                 np.ascontiguousarray(vertices, dtype=np.float32))


def edge_weight(confidence: float, threshold: float, low_factor: float = LOW_CONFIDENCE_FACTOR) -> float:
    """Weight of an edge in the synchronization: the confidence squared (at least 1e-4),
    times ``low_factor`` below the threshold."""
    w = max(float(confidence), 0.01) ** 2
    return w * low_factor if confidence < threshold else w


# ----------------------------------------------------------------------------- edge maps
def _fit(p2p_ji: np.ndarray, Bi: Basis, Bj: Basis, k: int, rows: np.ndarray | None) -> np.ndarray:
    """``X_ij (k, k)`` from a vertex map of j's ``rows`` (all vertices: M-orthogonal projection;
    a subset: least squares on those rows)."""
    if rows is None or len(rows) == Bj.n:
        return p2p_to_fmap(p2p_ji, Bi.evecs[:, :k].astype(np.float64), Bj.evecs[:, :k].astype(np.float64),
                           Bj.mass)
    return p2p_to_fmap(p2p_ji, Bi.evecs[:, :k].astype(np.float64), Bj.evecs[:, :k].astype(np.float64),
                       queries=rows)


def initial_edge_fmaps(Bi: Basis, Bj: Basis, p2p_ji: np.ndarray, p2p_ij: np.ndarray, k: int):
    """``(X_ij, X_ji)`` at size ``k`` from an edge's vertex maps (``p2p_ji``: vertex of i for
    each vertex of j; ``p2p_ij`` the other way)."""
    return _fit(np.asarray(p2p_ji), Bi, Bj, k, None), _fit(np.asarray(p2p_ij), Bj, Bi, k, None)


def embedding(B: Basis, A: np.ndarray) -> np.ndarray:
    """The shape's vertices in the latent space: ``Phi[:, :k] A`` (``(n, k)``)."""
    return B.evecs[:, :A.shape[0]] @ A.astype(np.float32)


def refit_edge(Bi: Basis, Bj: Basis, Ai: np.ndarray, Aj: np.ndarray, k_next: int, full: bool = False):
    """One consistent-ZoomOut step on an edge: vertex maps by nearest neighbours in the latent
    embeddings (each shape's samples among all vertices of the other; with ``full``, every
    vertex), then ``(X_ij, X_ji)`` fitted at size ``k_next``."""
    Ei, Ej = embedding(Bi, Ai), embedding(Bj, Aj)
    rows_i, rows_j = (None, None) if full else (Bi.samples, Bj.samples)
    p2p_ji = knn_blocked(Ej if rows_j is None else Ej[rows_j], Ei)
    p2p_ij = knn_blocked(Ei if rows_i is None else Ei[rows_i], Ej)
    return _fit(p2p_ji, Bi, Bj, k_next, rows_j), _fit(p2p_ij, Bj, Bi, k_next, rows_i)


def final_maps(B: Basis, B_template: Basis, A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(to_template, from_template)`` from a shape's latent matrix: nearest neighbours between
    its embedding and the template's (``A_T = I``), on all vertices."""
    E = embedding(B, A)
    ET = B_template.evecs[:, :A.shape[1]]
    return knn_blocked(E, ET), knn_blocked(ET, E)


# ----------------------------------------------------------------------------- synchronization
@dataclass
class SyncResult:
    A: list  # per shape (k, k) or None (no edge)
    sweeps: int
    residual: float  # weighted mean ||X_ij A_i - A_j||^2 / ||A_j||^2 over directed edges
    change: float  # the last sweep's largest change of a block (relative)


def synchronize(n: int, anchor: int, fmaps: dict, weights: dict, *, sweeps: int = 200, tol: float = 1e-7,
                init: list | None = None) -> SyncResult:
    """Latent matrices ``A_i`` with ``A_anchor = I`` minimizing ``sum w_ij ||X_ij A_i - A_j||^2``.

    ``fmaps[(i, j)]`` is ``X_ij`` (``k x k``, one size for all; float32 is enough to store it,
    the sums are taken in float64), ``weights[(i, j)]`` its weight.
    Block Gauss-Seidel: each shape's normal equations

        (sum_out w X_ij^T X_ij + sum_in w I) A_i = sum_out w X_ij^T A_j + sum_in w X_ji A_j

    solved in turn, shapes nearest the anchor first, until the largest relative change of a
    block is below ``tol`` (at most ``sweeps`` sweeps). A shape on no edge gets None.
    """
    if not fmaps:
        raise ValueError("no maps to synchronize.")
    k = next(iter(fmaps.values())).shape[0]
    out_edges: list[list] = [[] for _ in range(n)]
    in_edges: list[list] = [[] for _ in range(n)]
    for (i, j), X in fmaps.items():
        w = float(weights[(i, j)])
        out_edges[i].append((j, X, w))
        in_edges[j].append((i, X, w))
    eye = np.eye(k)
    A: list = [None] * n
    A[anchor] = eye.copy()
    for i in range(n):
        if i == anchor or not (out_edges[i] or in_edges[i]):
            continue
        if init is not None and init[i] is not None:
            A[i] = np.asarray(init[i], dtype=np.float64)  # never written to: each sweep makes new blocks
        elif (anchor, i) in fmaps:
            A[i] = np.array(fmaps[(anchor, i)], dtype=np.float64)
        elif (i, anchor) in fmaps:
            A[i] = np.array(fmaps[(i, anchor)].T, dtype=np.float64)
        else:
            A[i] = eye.copy()
    order = _order_from(anchor, out_edges, in_edges)
    lhs_inv = {}
    for i in order:
        M = sum((w * _f64(X).T @ _f64(X) for _, X, w in out_edges[i]), np.zeros((k, k)))
        M = M + sum(w for _, _, w in in_edges[i]) * eye
        lhs_inv[i] = np.linalg.inv(M + 1e-12 * np.trace(M) / k * eye)
    change = np.inf
    done = 0
    for done in range(1, sweeps + 1):
        change = 0.0
        for i in order:
            rhs = np.zeros((k, k))
            for j, X, w in out_edges[i]:
                if A[j] is not None:
                    rhs += w * (X.T @ A[j])
            for j, X, w in in_edges[i]:
                if A[j] is not None:
                    rhs += w * (X @ A[j])
            new = lhs_inv[i] @ rhs
            change = max(change, float(np.linalg.norm(new - A[i]) / max(np.linalg.norm(new), 1e-12)))
            A[i] = new
        if change < tol:
            break
    return SyncResult(A, done, sync_residual(fmaps, weights, A), change)


def _f64(X: np.ndarray) -> np.ndarray:
    return np.asarray(X, dtype=np.float64)


def _order_from(anchor: int, out_edges, in_edges) -> list[int]:
    """Shapes other than the anchor in breadth-first order from it (then any unreached ones)."""
    n = len(out_edges)
    seen = {anchor}
    order, frontier = [], [anchor]
    while frontier:
        nxt = []
        for i in frontier:
            for j in sorted({e[0] for e in out_edges[i]} | {e[0] for e in in_edges[i]}):
                if j not in seen:
                    seen.add(j)
                    order.append(j)
                    nxt.append(j)
        frontier = nxt
    order += [i for i in range(n) if i not in seen and (out_edges[i] or in_edges[i])]
    return order


def sync_residual(fmaps: dict, weights: dict, A: list) -> float:
    """Weighted mean of ``||X_ij A_i - A_j||^2 / ||A_j||^2`` over the directed edges."""
    num = den = 0.0
    for (i, j), X in fmaps.items():
        if A[i] is None or A[j] is None:
            continue
        w = float(weights[(i, j)])
        num += w * float(np.sum((X @ A[i] - A[j]) ** 2)) / max(float(np.sum(A[j] ** 2)), 1e-12)
        den += w
    return num / den if den else 0.0


# ----------------------------------------------------------------------------- consistent ZoomOut
def zoom_sizes(k_init: int, k_final: int, step: int) -> list[int]:
    """The sizes visited: ``k_init, k_init + step, ..., k_final``."""
    if k_init > k_final:
        return [k_final]
    sizes = list(range(k_init, k_final, max(1, step)))
    return sizes + [k_final]


def consistent_zoomout(n: int, anchor: int, fmaps0: dict, weights: dict, sizes: list[int],
                       refit: Callable[[list, int, bool], dict], *, refine_iters: int = 1, full_iters: int = 0,
                       on_step: Callable[[dict], None] | None = None) -> tuple[list, list[dict]]:
    """Consistent ZoomOut over ``sizes`` (the first is the size of ``fmaps0``).

    ``refit(A, k_next, full)`` returns the edge maps at ``k_next`` refitted from the latent
    matrices ``A`` (a dict like ``fmaps0``; ``full``: on every vertex, not only the samples).
    After the last size, ``refine_iters`` more refit-and-synchronize rounds at that size on the
    samples, then ``full_iters`` on all vertices (they recover what sampling costs, as the
    pipeline's full-resolution ZoomOut steps do). Returns the final ``A`` and one record per round.

    ``fmaps0`` is consumed: it is emptied before the first refit, so that one set of edge maps
    is held at a time (the largest part of the driver's memory in a large collection).
    """
    fmaps = fmaps0
    history = []
    A = None
    plan = [(k, False) for k in sizes[1:]] + [(sizes[-1], False)] * refine_iters + [(sizes[-1], True)] * full_iters
    k, full = sizes[0], False
    while True:
        init = None if A is None else _grow(A, k)
        A = None  # the previous round's matrices: only their grown copies are needed now
        res = synchronize(n, anchor, fmaps, weights, init=init)
        A, init = res.A, None
        record = {"k": int(k), "all_vertices": full, "sweeps": res.sweeps, "residual": round(res.residual, 8)}
        history.append(record)
        if on_step:
            on_step(record)
        if not plan:
            return A, history
        k, full = plan.pop(0)
        fmaps.clear()  # the maps of this round are not needed by the next: do not hold two sets
        fmaps = refit(A, k, full)


def _grow(A: list, k: int) -> list:
    """Latent matrices padded with the identity to size ``k`` (a warm start at the next size)."""
    out = []
    for a in A:
        if a is None:
            out.append(None)
            continue
        g = np.eye(k)
        m = min(k, a.shape[0])
        g[:m, :m] = a[:m, :m]
        out.append(g)
    return out


# ----------------------------------------------------------------------------- figures
def roundtrip_error(vertices: np.ndarray, to_template: np.ndarray, from_template: np.ndarray) -> float:
    """Mean distance (unit-area shape) between each vertex and where it comes back after
    ``shape -> template -> shape``: 0 for a bijection."""
    back = np.asarray(from_template)[np.asarray(to_template)]
    return float(np.linalg.norm(vertices - vertices[back], axis=1).mean())


def triangle_error(template_vertices: np.ndarray, to_template_i: np.ndarray, to_template_j: np.ndarray,
                   p2p_ij: np.ndarray) -> float:
    """Mean distance on the (unit-area) template between ``i -> template`` and ``i -> j ->
    template`` (``p2p_ij``: the independent pairwise map, vertex of j for each vertex of i): how
    far the cycle ``i -> j -> template -> i`` is from closing."""
    a = template_vertices[np.asarray(to_template_i)]
    b = template_vertices[np.asarray(to_template_j)[np.asarray(p2p_ij)]]
    return float(np.linalg.norm(a - b, axis=1).mean())
