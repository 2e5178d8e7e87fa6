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

Where the maps and matrices live is the caller's choice too: the ``*_blocks`` functions take
stores of records (:mod:`.blocks`: in memory, or in files read and written a record at a time,
so that a process holds the matrices of one shape and its neighbours, not the collection's);
:func:`synchronize` and :func:`consistent_zoomout` are the same solve on dicts in memory.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..fmap import knn_blocked, p2p_to_fmap
from ..fmap.refine import farthest_point_sampling_spectral
from .blocks import MemoryBlocks

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


# ----------------------------------------------------------------------------- the graph
@dataclass(frozen=True)
class EdgeGraph:
    """The directed edges of a collection: edge ``d`` carries ``X_{src[d] dst[d]}`` with weight
    ``weight[d]``; for each shape its outgoing and incoming edges, in edge order (the order in
    which the synchronization sums them). A few integers per edge: the maps themselves are
    records of a blocks store (:mod:`.blocks`), indexed by ``d``."""

    n: int
    anchor: int
    src: np.ndarray  # (D,) int64
    dst: np.ndarray  # (D,) int64
    weight: np.ndarray  # (D,) float64
    out_ptr: np.ndarray  # (n + 1,): outgoing edges of i are out_idx[out_ptr[i]:out_ptr[i + 1]]
    out_idx: np.ndarray
    in_ptr: np.ndarray
    in_idx: np.ndarray

    @classmethod
    def build(cls, n: int, anchor: int, src, dst, weight) -> EdgeGraph:
        src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
        weight = np.asarray(weight, dtype=np.float64)
        if not (src.shape == dst.shape == weight.shape) or src.ndim != 1:
            raise ValueError(f"src, dst and weight must be 1-D of one length, got {src.shape}, {dst.shape}, "
                             f"{weight.shape}.")
        if len(src) and (min(src.min(), dst.min()) < 0 or max(src.max(), dst.max()) >= n):
            raise ValueError(f"edges name shapes outside 0..{n - 1}.")
        if not 0 <= anchor < n:
            raise ValueError(f"anchor {anchor} outside 0..{n - 1}.")
        out_idx, in_idx = np.argsort(src, kind="stable"), np.argsort(dst, kind="stable")
        out_ptr = np.concatenate([[0], np.cumsum(np.bincount(src, minlength=n))])
        in_ptr = np.concatenate([[0], np.cumsum(np.bincount(dst, minlength=n))])
        return cls(int(n), int(anchor), src, dst, weight, out_ptr, out_idx, in_ptr, in_idx)

    @classmethod
    def from_undirected(cls, n: int, anchor: int, i, j, weight) -> EdgeGraph:
        """Edge ``e = (i[e], j[e])`` as the directed edges ``2e: i -> j`` and ``2e + 1: j -> i``,
        both with ``weight[e]``."""
        i, j = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
        return cls.build(n, anchor, np.stack([i, j], 1).ravel(), np.stack([j, i], 1).ravel(),
                         np.repeat(np.asarray(weight, dtype=np.float64), 2))

    @property
    def n_edges(self) -> int:
        return len(self.src)

    def outgoing(self, i: int) -> np.ndarray:
        return self.out_idx[self.out_ptr[i]:self.out_ptr[i + 1]]

    def incoming(self, i: int) -> np.ndarray:
        return self.in_idx[self.in_ptr[i]:self.in_ptr[i + 1]]

    def active(self) -> np.ndarray:
        """Shapes with a latent matrix: those on an edge, and the anchor."""
        on = (np.diff(self.out_ptr) > 0) | (np.diff(self.in_ptr) > 0)
        on[self.anchor] = True
        return on

    def neighbours(self, i: int) -> list[int]:
        """The shapes joined to ``i`` by an edge either way, sorted."""
        return sorted({int(x) for x in self.dst[self.outgoing(i)]} | {int(x) for x in self.src[self.incoming(i)]})

    def order(self) -> np.ndarray:
        """Shapes other than the anchor in breadth-first order from it (then any unreached ones
        on an edge): the order of the Gauss-Seidel sweeps."""
        seen = np.zeros(self.n, dtype=bool)
        seen[self.anchor] = True
        order, frontier = [], [self.anchor]
        while frontier:
            nxt = []
            for i in frontier:
                for j in self.neighbours(i):
                    if not seen[j]:
                        seen[j] = True
                        order.append(j)
                        nxt.append(j)
            frontier = nxt
        active = self.active()
        order += [i for i in range(self.n) if not seen[i] and active[i]]
        return np.asarray(order, dtype=np.int64)


# ----------------------------------------------------------------------------- synchronization
@dataclass
class SyncResult:
    A: list  # per shape (k, k) or None (no edge)
    sweeps: int
    residual: float  # weighted mean ||X_ij A_i - A_j||^2 / ||A_j||^2 over directed edges
    change: float  # the last sweep's largest change of a block (relative)


@dataclass(frozen=True)
class SyncStats:
    sweeps: int
    residual: float
    change: float


def synchronize(n: int, anchor: int, fmaps: dict, weights: dict, *, sweeps: int = 200, tol: float = 1e-7,
                init: list | None = None) -> SyncResult:
    """Latent matrices ``A_i`` with ``A_anchor = I`` minimizing ``sum w_ij ||X_ij A_i - A_j||^2``.

    ``fmaps[(i, j)]`` is ``X_ij`` (``k x k``, one size for all; float32 is enough to store it,
    the sums are taken in float64), ``weights[(i, j)]`` its weight; ``init`` optional start
    values (None entries: from the maps). In memory; :func:`synchronize_blocks` is the same
    solve on maps and matrices kept in files (what a large collection uses).
    """
    if not fmaps:
        raise ValueError("no maps to synchronize.")
    graph, X = _from_dict(n, anchor, fmaps, weights)
    k = X.shape[-1]
    A, lhs = MemoryBlocks(n, (k, k), np.float64), MemoryBlocks(n, (k, k), np.float64)
    stats = synchronize_blocks(graph, X, A, lhs, sweeps=sweeps, tol=tol,
                               init=None if init is None else init.__getitem__)
    return SyncResult(_as_list(A, graph.active()), stats.sweeps, stats.residual, stats.change)


def synchronize_blocks(graph: EdgeGraph, X, A, lhs, *, init: Callable[[int], np.ndarray | None] | None = None,
                       sweeps: int = 200, tol: float = 1e-7) -> SyncStats:
    """The synchronization with the maps ``X`` (record ``d``: edge ``d``'s ``k x k`` map) and
    the latent matrices ``A`` (record ``i``, float64, written here) in blocks stores
    (:mod:`.blocks`); ``lhs`` is scratch (one ``k x k`` float64 record per shape). Only the
    records of one shape and its neighbours are in memory at a time.

    Block Gauss-Seidel: each shape's normal equations

        (sum_out w X_ij^T X_ij + sum_in w I) A_i = sum_out w X_ij^T A_j + sum_in w X_ji A_j

    solved in turn, shapes nearest the anchor first, until the largest relative change of a
    block is below ``tol`` (at most ``sweeps`` sweeps). Start values: ``init(i)`` if given and
    not None, else ``X_anchor,i`` (or ``X_i,anchor^T``), else the identity.
    """
    k = X.shape[-1]
    eye = np.eye(k)
    active = graph.active()
    A.write(graph.anchor, eye)
    for i in range(graph.n):
        if i != graph.anchor and active[i]:
            A.write(i, _start(graph, X, i, None if init is None else init(i), eye))
    order = graph.order()
    for i in order:
        out, inc = graph.outgoing(i), graph.incoming(i)
        M = sum((graph.weight[d] * _f64(X.read(d)).T @ _f64(X.read(d)) for d in out), np.zeros((k, k)))
        M = M + sum(float(graph.weight[d]) for d in inc) * eye
        lhs.write(i, np.linalg.inv(M + 1e-12 * np.trace(M) / k * eye))
    change = np.inf
    done = 0
    for done in range(1, sweeps + 1):
        change = 0.0
        for i in order:
            rhs = np.zeros((k, k))
            for d in graph.outgoing(i):
                j = graph.dst[d]
                if active[j]:
                    rhs += float(graph.weight[d]) * (X.read(d).T @ A.read(j))
            for d in graph.incoming(i):
                j = graph.src[d]
                if active[j]:
                    rhs += float(graph.weight[d]) * (X.read(d) @ A.read(j))
            new = lhs.read(i) @ rhs
            change = max(change, float(np.linalg.norm(new - A.read(i)) / max(np.linalg.norm(new), 1e-12)))
            A.write(i, new)
        if change < tol:
            break
    return SyncStats(done, sync_residual_blocks(graph, X, A), change)


def _start(graph: EdgeGraph, X, i: int, given, eye: np.ndarray) -> np.ndarray:
    """Shape ``i``'s start value (see :func:`synchronize_blocks`)."""
    if given is not None:
        return np.asarray(given, dtype=np.float64)
    for d in graph.incoming(i):
        if graph.src[d] == graph.anchor:
            return np.array(X.read(d), dtype=np.float64)
    for d in graph.outgoing(i):
        if graph.dst[d] == graph.anchor:
            return np.array(X.read(d).T, dtype=np.float64)
    return eye.copy()


def _f64(X: np.ndarray) -> np.ndarray:
    return np.asarray(X, dtype=np.float64)


def _from_dict(n: int, anchor: int, fmaps: dict, weights: dict):
    """The graph of a dict of maps (its edges in the dict's order) and the maps as blocks."""
    keys = list(fmaps)
    graph = EdgeGraph.build(n, anchor, [i for i, _ in keys], [j for _, j in keys],
                            [float(weights[key]) for key in keys])
    first = np.asarray(fmaps[keys[0]])
    X = MemoryBlocks(len(keys), first.shape, np.result_type(*(np.asarray(v).dtype for v in fmaps.values())))
    for d, key in enumerate(keys):
        X.write(d, fmaps[key])
    return graph, X


def _as_list(A, active: np.ndarray) -> list:
    return [np.array(A.read(i)) if active[i] else None for i in range(len(active))]


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


def sync_residual_blocks(graph: EdgeGraph, X, A) -> float:
    """:func:`sync_residual` with the maps and matrices in blocks stores."""
    active = graph.active()
    num = den = 0.0
    for d in range(graph.n_edges):
        i, j = graph.src[d], graph.dst[d]
        if not (active[i] and active[j]):
            continue
        w = float(graph.weight[d])
        Aj = A.read(j)
        num += w * float(np.sum((X.read(d) @ A.read(i) - Aj) ** 2)) / max(float(np.sum(Aj ** 2)), 1e-12)
        den += w
    return num / den if den else 0.0


# ----------------------------------------------------------------------------- consistent ZoomOut
def zoom_sizes(k_init: int, k_final: int, step: int) -> list[int]:
    """The sizes visited: ``k_init, k_init + step, ..., k_final``."""
    if k_init > k_final:
        return [k_final]
    sizes = list(range(k_init, k_final, max(1, step)))
    return sizes + [k_final]


def _plan(sizes: list[int], refine_iters: int, full_iters: int) -> list[tuple[int, bool]]:
    """The rounds after the first: ``(size, on all vertices)``."""
    return [(k, False) for k in sizes[1:]] + [(sizes[-1], False)] * refine_iters + [(sizes[-1], True)] * full_iters


def consistent_zoomout(n: int, anchor: int, fmaps0: dict, weights: dict, sizes: list[int],
                       refit: Callable[[list, int, bool], dict], *, refine_iters: int = 1, full_iters: int = 0,
                       on_step: Callable[[dict], None] | None = None) -> tuple[list, list[dict]]:
    """Consistent ZoomOut over ``sizes`` (the first is the size of ``fmaps0``), in memory.

    ``refit(A, k_next, full)`` returns the edge maps at ``k_next`` refitted from the latent
    matrices ``A`` (a dict with the keys of ``fmaps0``; ``full``: on every vertex, not only the
    samples). After the last size, ``refine_iters`` more refit-and-synchronize rounds at that
    size on the samples, then ``full_iters`` on all vertices (they recover what sampling costs,
    as the pipeline's full-resolution ZoomOut steps do). Returns the final ``A`` and one record
    per round. :func:`consistent_zoomout_blocks` is the same with everything in blocks stores.
    """
    graph, X0 = _from_dict(n, anchor, fmaps0, weights)
    keys = list(fmaps0)
    active = graph.active()

    def refit_blocks(A, k_next, full):
        out = refit(_as_list(A, active), k_next, full)
        X = MemoryBlocks(len(keys), (k_next, k_next), X0.dtype)
        for d, key in enumerate(keys):
            X.write(d, out[key])
        return X

    A, history = consistent_zoomout_blocks(graph, X0, sizes, refit_blocks, _memory_blocks, refine_iters=refine_iters,
                                           full_iters=full_iters, on_step=on_step)
    return _as_list(A, active), history


def _memory_blocks(name: str, count: int, shape: tuple, dtype) -> MemoryBlocks:
    return MemoryBlocks(count, shape, dtype)


def consistent_zoomout_blocks(graph: EdgeGraph, X0, sizes: list[int], refit, make, *, refine_iters: int = 1,
                              full_iters: int = 0, on_step: Callable[[dict], None] | None = None):
    """Consistent ZoomOut with the edge maps and latent matrices in blocks stores.

    ``X0``: the edge maps at ``sizes[0]`` (record ``d``: edge ``d`` of ``graph``), consumed
    (closed before the first refit); ``refit(A, k_next, full)`` returns a new store of the edge
    maps at ``k_next`` from the latent matrices ``A`` (a store, record ``i``: shape ``i``);
    ``make(name, count, shape, dtype)`` makes a store (:class:`.blocks.FileBlocks` for a large
    collection). At most two sets of latent matrices and one of edge maps exist at a time.
    Returns the final latent matrices (a store; the caller closes it) and one record per round.
    """
    X, A = X0, None
    history = []
    plan = _plan(sizes, refine_iters, full_iters)
    k, full = sizes[0], False
    for r in itertools.count():
        A_new = make(f"latent_{r}", graph.n, (k, k), np.float64)
        lhs = make(f"lhs_{r}", graph.n, (k, k), np.float64)
        init = None if A is None else (lambda i, A=A, k=k: _grow(A.read(i), k))
        stats = synchronize_blocks(graph, X, A_new, lhs, init=init)
        lhs.close()
        if A is not None:
            A.close()  # the previous round's matrices: only their grown copies were needed
        A = A_new
        A.flush()
        record = {"k": int(k), "all_vertices": full, "sweeps": stats.sweeps, "residual": round(stats.residual, 8)}
        history.append(record)
        if on_step:
            on_step(record)
        X.close()  # the maps of this round are not needed by the next: never two sets
        if not plan:
            return A, history
        k, full = plan.pop(0)
        X = refit(A, k, full)


def _grow(a: np.ndarray, k: int) -> np.ndarray:
    """A latent matrix padded with the identity to size ``k`` (a warm start at the next size)."""
    g = np.eye(k)
    m = min(k, a.shape[0])
    g[:m, :m] = a[:m, :m]
    return g


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
