"""From a functional map between two proxies to vertex maps between the full-resolution shapes.

A large shape is matched through its proxy (:mod:`shapecorr.core.proxy`): a decimated mesh of a
few thousand vertices, with every full vertex projected onto it as ``(proxy face, barycentric
weights)``. The functional map ``fmap_12 (k2, k1)`` found between the proxies' eigenbases is
lifted here:

1. each proxy eigenfunction is carried to the full vertices by barycentric interpolation
   (``Phi_full = B Phi_proxy``, ``B`` the sparse interpolation), so every full vertex has a
   spectral embedding;
2. full vertex ``j`` of shape 2 goes to the full vertex ``i`` of shape 1 whose embedding
   ``Phi1_full[i] C^T`` is nearest to ``Phi2_full[j]``, as :func:`~shapecorr.fmap.convert.fmap_to_p2p`
   does, but searched only near where the proxy-level map already points: among the full
   vertices of shape 1 attached to the proxy vertices within ``rings`` rings of
   ``p2p_21_proxy[anchor2[j]]`` (``anchor``: the proxy vertex nearest a full vertex). The map
   is then as precise as the full mesh allows (sub-proxy-vertex), at a cost linear in the
   number of vertices instead of ``n1 x n2``.

A refit of the functional map at full resolution (least squares on a random subset of full
vertices, then a new search: a ZoomOut step on the interpolated bases) was tried and left out: on
FAUST_r 080->081 at 80k vertices it changed the error by -0.01 to +0.02 x100 (8k and 10k proxies),
since the interpolated bases span the same functions as the proxies' own.
"""

from __future__ import annotations

import logging
from itertools import pairwise
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ..core.proxy import Proxy
from .convert import fmap_to_p2p

log = logging.getLogger(__name__)


class LiftedMaps(NamedTuple):
    """Vertex maps between the full-resolution shapes."""

    p2p_21: np.ndarray  # (n2_full,) vertex of full shape 1 matched to each vertex of full shape 2
    p2p_12: np.ndarray  # (n1_full,) vertex of full shape 2 matched to each vertex of full shape 1


def lift_fmap(fmap_12: np.ndarray, proxy1: Proxy, proxy2: Proxy, evecs_proxy1: np.ndarray,
              evecs_proxy2: np.ndarray, *, p2p_21_proxy: np.ndarray | None = None,
              p2p_12_proxy: np.ndarray | None = None, rings: int = 2) -> LiftedMaps:
    """Vertex maps at full resolution from ``fmap_12 (k2, k1)`` between two proxies.

    ``evecs_proxy1 (np1, >=k1)``, ``evecs_proxy2 (np2, >=k2)``: the proxies' eigenbases the map is
    expressed in. ``p2p_21_proxy (np2,)`` / ``p2p_12_proxy (np1,)``: the proxy-level vertex maps
    (default: nearest neighbours through ``fmap_12`` and its transpose, as the pipeline makes
    them). ``rings``: how far around the proxy-level match the full-resolution search goes (2
    covers a proxy-level match off by a vertex; 1 and 3 gave the same error within 0.01 x100 on
    FAUST_r). The reverse map uses ``fmap_12^T`` (near-isometries have near-orthogonal maps), like the
    pipeline's.
    """
    C = np.asarray(fmap_12, dtype=np.float64)
    k2, k1 = C.shape
    _check_inputs(C, proxy1, proxy2, evecs_proxy1, evecs_proxy2, rings)
    phi1 = np.asarray(evecs_proxy1[:, :k1], dtype=np.float64)
    phi2 = np.asarray(evecs_proxy2[:, :k2], dtype=np.float64)
    if p2p_21_proxy is None:
        p2p_21_proxy = fmap_to_p2p(C, phi1, phi2)
    if p2p_12_proxy is None:
        p2p_12_proxy = fmap_to_p2p(C.T, phi2, phi1)
    anchor1, anchor2 = proxy1.anchor(), proxy2.anchor()
    near1 = ring_candidates(proxy1, rings)  # proxy-1 vertex -> full vertices of shape 1 around it
    near2 = ring_candidates(proxy2, rings)
    full1 = proxy1.interpolate(phi1)  # (n1, k1): the proxy bases at the full vertices
    full2 = proxy2.interpolate(phi2)  # (n2, k2)
    seeds_21 = np.asarray(p2p_21_proxy)[anchor2]  # proxy-1 vertex where each full vertex of 2 goes
    seeds_12 = np.asarray(p2p_12_proxy)[anchor1]
    p2p_21 = local_nearest(full2, full1 @ C.T, seeds_21, near1)
    p2p_12 = local_nearest(full1, full2 @ C, seeds_12, near2)
    return LiftedMaps(p2p_21, p2p_12)


def _check_inputs(C: np.ndarray, proxy1: Proxy, proxy2: Proxy, evecs1: np.ndarray, evecs2: np.ndarray,
                  rings: int) -> None:
    k2, k1 = C.shape
    for name, ev, proxy, k in (("evecs_proxy1", evecs1, proxy1, k1), ("evecs_proxy2", evecs2, proxy2, k2)):
        if ev.ndim != 2 or ev.shape[0] != proxy.shape.n_vertices or ev.shape[1] < k:
            raise ValueError(f"lift_fmap: {name} must be (n_proxy={proxy.shape.n_vertices}, >= {k}) for a "
                             f"{k2} x {k1} functional map; got {ev.shape}.")
    if rings < 0:
        raise ValueError(f"lift_fmap: rings must be >= 0, got {rings}.")


def ring_candidates(proxy: Proxy, rings: int) -> sp.csr_matrix:
    """``(n_proxy, n_full)`` boolean CSR: row ``s`` marks the full vertices whose anchor (nearest
    proxy vertex) is within ``rings`` edges of proxy vertex ``s``."""
    n_p, n_f = proxy.shape.n_vertices, proxy.n_full
    e = proxy.shape.edges
    adj = sp.coo_matrix((np.ones(2 * len(e), dtype=np.int32), (np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]])),
                        shape=(n_p, n_p)).tocsr()
    reach = sp.identity(n_p, dtype=np.int32, format="csr")
    for _ in range(rings):
        reach = reach + reach @ adj
        reach.data[:] = 1
    attached = sp.csr_matrix((np.ones(n_f, dtype=np.int32), (proxy.anchor(), np.arange(n_f))), shape=(n_p, n_f))
    out = (reach @ attached).tocsr()
    out.sort_indices()
    return out


def local_nearest(queries: np.ndarray, database: np.ndarray, seeds: np.ndarray,
                  candidates: sp.csr_matrix) -> np.ndarray:
    """For each row ``j`` of ``queries (q, d)``, the index of the nearest row of ``database (n, d)``
    among ``candidates[seeds[j]]`` (a CSR row of database indices). Queries sharing a seed share
    one matrix product (single-threaded BLAS: the products are small, and spinning BLAS threads
    slow them down several times when other processes share the cores). A seed with no candidate
    falls back to the whole database."""
    from threadpoolctl import threadpool_limits

    queries = np.ascontiguousarray(queries, dtype=np.float32)
    database = np.ascontiguousarray(database, dtype=np.float32)
    db_sq = np.einsum("ij,ij->i", database, database)
    seeds = np.asarray(seeds, dtype=np.int64)
    out = np.empty(len(queries), dtype=np.int64)
    order = np.argsort(seeds, kind="stable")
    sorted_seeds = seeds[order]
    bounds = np.flatnonzero(np.r_[True, sorted_seeds[1:] != sorted_seeds[:-1], True])
    indptr, indices = candidates.indptr, candidates.indices
    with threadpool_limits(1, user_api="blas"):
        for a, b in pairwise(bounds):
            _nearest_of_group(queries, database, db_sq, order[a:b], sorted_seeds[a], indptr, indices, out)
    return out


def _nearest_of_group(queries, database, db_sq, rows, s, indptr, indices, out) -> None:
    """``out[rows]``: nearest candidates of seed ``s`` for the queries ``rows``."""
    cand = indices[indptr[s]:indptr[s + 1]]
    if len(cand) == 0:
        cand = np.arange(len(database))
    # |q - x|^2 = |q|^2 - 2 q.x + |x|^2; |q|^2 does not change the argmin
    d = db_sq[cand][None, :] - 2.0 * (queries[rows] @ database[cand].T)
    out[rows] = cand[d.argmin(axis=1)]
