"""Lifting a functional map between proxies to vertex maps between the full shapes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from shapecorr.core import Shape
from shapecorr.core.proxy import Proxy, make_proxy
from shapecorr.fmap.convert import knn_blocked
from shapecorr.fmap.lift import lift_fmap, local_nearest, ring_candidates


@pytest.fixture(scope="module")
def full_and_proxy():
    import trimesh

    m = trimesh.creation.icosphere(subdivisions=4)  # 2562 vertices
    rng = np.random.default_rng(0)
    v = np.asarray(m.vertices) * (1 + 0.02 * rng.standard_normal((len(m.vertices), 1)))
    shape = Shape(v, np.asarray(m.faces))
    return shape, make_proxy(shape, 400)


def _basis(proxy: Proxy, k: int = 9) -> np.ndarray:
    """Per-proxy-vertex functions standing in for an eigenbasis: coordinates and their products
    (distinct at distinct points of the sphere)."""
    x = proxy.shape.vertices
    cols = [x[:, 0], x[:, 1], x[:, 2], x[:, 0] * x[:, 1], x[:, 1] * x[:, 2], x[:, 0] * x[:, 2],
            x[:, 0] ** 2 - x[:, 1] ** 2, x[:, 2] ** 2, x[:, 0] ** 3]
    return np.stack(cols[:k], axis=1)


def _permuted(proxy: Proxy, perm: np.ndarray) -> Proxy:
    """The proxy of a copy of the full shape whose vertex j is vertex perm[j]: same proxy mesh."""
    return Proxy(proxy.shape, proxy.face[perm], proxy.bary[perm], proxy.distance[perm])


def test_lift_recovers_a_permutation_exactly(full_and_proxy):
    shape, proxy1 = full_and_proxy
    perm = np.random.default_rng(3).permutation(shape.n_vertices)
    proxy2 = _permuted(proxy1, perm)
    phi = _basis(proxy1)
    lifted = lift_fmap(np.eye(phi.shape[1]), proxy1, proxy2, phi, phi)
    np.testing.assert_array_equal(lifted.p2p_21, perm)  # vertex j of the copy is vertex perm[j]
    inverse = np.empty_like(perm)
    inverse[perm] = np.arange(len(perm))
    np.testing.assert_array_equal(lifted.p2p_12, inverse)


def test_lift_follows_a_nontrivial_functional_map(full_and_proxy):
    """Shape 2's basis is shape 1's rotated by an orthogonal R (phi2 = phi1 R^T): the functional
    map is fmap_12 = R, and the lift must still find the permutation."""
    shape, proxy1 = full_and_proxy
    perm = np.random.default_rng(4).permutation(shape.n_vertices)
    proxy2 = _permuted(proxy1, perm)
    phi1 = _basis(proxy1)
    R = np.linalg.qr(np.random.default_rng(5).standard_normal((9, 9)))[0]
    phi2 = phi1 @ R.T
    lifted = lift_fmap(R, proxy1, proxy2, phi1, phi2)
    np.testing.assert_array_equal(lifted.p2p_21, perm)


def test_local_nearest_equals_brute_force_when_candidates_cover_everything():
    rng = np.random.default_rng(7)
    db = rng.standard_normal((300, 5))
    q = rng.standard_normal((120, 5))
    seeds = rng.integers(0, 4, 120)
    everything = sp.csr_matrix(np.ones((4, 300)))
    np.testing.assert_array_equal(local_nearest(q, db, seeds, everything), knn_blocked(q, db))


def test_local_nearest_searches_only_the_seed_candidates():
    rng = np.random.default_rng(8)
    db = rng.standard_normal((50, 3))
    q = rng.standard_normal((30, 3))
    allowed = [np.arange(0, 25), np.arange(25, 50)]
    cand = sp.csr_matrix((np.ones(50), (np.repeat([0, 1], 25), np.arange(50))), shape=(2, 50))
    seeds = rng.integers(0, 2, 30)
    got = local_nearest(q, db, seeds, cand)
    for j in range(30):  # a naive loop over each query's allowed rows
        rows = allowed[seeds[j]]
        assert got[j] == rows[np.argmin(((db[rows] - q[j]) ** 2).sum(1))]


def test_ring_candidates_grow_by_proxy_edges(full_and_proxy):
    _, proxy = full_and_proxy
    r0 = ring_candidates(proxy, 0)
    anchor = proxy.anchor()
    for s in (0, 17, 123):
        np.testing.assert_array_equal(r0[s].indices, np.flatnonzero(anchor == s))
    r1 = ring_candidates(proxy, 1)
    e = proxy.shape.edges
    s = 17
    ring = np.union1d([s], np.r_[e[e[:, 0] == s, 1], e[e[:, 1] == s, 0]])
    np.testing.assert_array_equal(r1[s].indices, np.flatnonzero(np.isin(anchor, ring)))


def test_lift_checks_the_basis_sizes(full_and_proxy):
    _, proxy = full_and_proxy
    phi = _basis(proxy)
    with pytest.raises(ValueError, match="evecs_proxy2"):
        lift_fmap(np.eye(9), proxy, proxy, phi, phi[:, :5])
    with pytest.raises(ValueError, match="evecs_proxy1"):
        lift_fmap(np.eye(9), proxy, proxy, phi[:-1], phi)


def test_shapes_that_are_their_own_proxies_give_the_plain_conversion():
    """With identity proxies and rings covering the whole mesh, the lift is fmap_to_p2p itself."""
    import trimesh

    from shapecorr.fmap.convert import fmap_to_p2p

    m = trimesh.creation.icosphere(subdivisions=3)  # 642 vertices
    rng = np.random.default_rng(9)
    shapes = [Shape(np.asarray(m.vertices) * (1 + 0.03 * rng.standard_normal((642, 1))), np.asarray(m.faces))
              for _ in range(2)]
    proxies = [make_proxy(s, s.n_vertices) for s in shapes]
    phi1, phi2 = _basis(proxies[0]), _basis(proxies[1])
    C = np.eye(9) + 0.1 * rng.standard_normal((9, 9))
    lifted = lift_fmap(C, proxies[0], proxies[1], phi1, phi2, rings=40)
    np.testing.assert_array_equal(lifted.p2p_21, fmap_to_p2p(C, phi1, phi2))
    np.testing.assert_array_equal(lifted.p2p_12, fmap_to_p2p(C.T, phi2, phi1))


def test_spectral_bases_of_a_match_through_proxies_are_the_proxies_bases():
    """A pair matched through proxies has its functional map in the proxies' bases:
    ``spectral_bases`` rebuilds the proxies and interpolates their bases to every vertex, so the
    map read through them is the match's own (a permuted copy recovered within a ring), and the
    spectral precise map through them stays on it; by default, since the source was decimated,
    the spectral precise map is the lifted vertex map. Shapes the match was not computed for are
    refused."""
    from helpers import bumpy, exact_or_adjacent, permuted_copy

    from shapecorr.fmap.precise import source_was_decimated, spectral_bases, spectral_precise_map
    from shapecorr.pipeline import match

    s = bumpy(4)  # 2562 vertices
    t, perm = permuted_copy(s, seed=7, rigid=True)
    m = match(s, t, "default", proxy_above=2000, proxy_size=1200, large_above=5000, k_init=15, k_final=30,
              k_descriptor=30)
    assert m.info["proxy"] is not None
    B = spectral_bases(m, s, t)
    k2, k1 = m.fmap_12.shape
    assert B.evecs1.shape == (s.n_vertices, k1) and B.evecs2.shape == (t.n_vertices, k2)
    assert np.isclose(B.mass1.sum(), 1.0) and np.isclose(B.mass2.sum(), 1.0)
    from shapecorr.fmap.convert import fmap_to_p2p

    _, near = exact_or_adjacent(s, fmap_to_p2p(m.fmap_12, B.evecs1, B.evecs2), perm)
    assert near >= 0.97
    smap = spectral_precise_map(m, s, t, bases=B)
    _, near = exact_or_adjacent(s, smap.nearest_vertex(s.faces), perm)
    assert near >= 0.99
    # the source was decimated for the match: by default its points are the lifted vertex map's
    from types import SimpleNamespace

    assert source_was_decimated(m, s)
    assert not source_was_decimated(m, SimpleNamespace(n_vertices=m.info["proxy"]["sizes"][0]))
    smap = spectral_precise_map(m, s, t)
    np.testing.assert_array_equal(smap.nearest_vertex(s.faces), m.p2p_21)
    assert np.allclose(smap.bary.max(axis=1), 1.0)
    from shapecorr.core.errors import ShapeMismatchError

    with pytest.raises(ShapeMismatchError, match="proxies"):
        spectral_bases(m, s, bumpy(3))
