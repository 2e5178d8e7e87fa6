"""Blocked nearest neighbours, p2p <-> fmap conversions, ZoomOut and orientation scoring."""

from __future__ import annotations

import numpy as np
import pytest

from shapecorr.fmap import (
    fmap_to_p2p,
    knn_blocked,
    orientation_score,
    orientation_score_fmap,
    p2p_to_fmap,
    transfer_function,
    zoomout,
)
from shapecorr.fmap.refine import bijective_zoomout, farthest_point_sampling, farthest_point_sampling_spectral
from shapecorr.spectral import eigenbasis

from helpers import bumpy, ellipsoid, exact_or_adjacent, inverse_permutation, mirrored_copy, permuted_copy


# ----------------------------------------------------------------------------- knn
def _naive_nn(queries, database):
    """A plain loop over queries (float64)."""
    out = np.empty(len(queries), dtype=np.int64)
    gaps = np.empty(len(queries))
    for i, q in enumerate(queries):
        d = ((database - q) ** 2).sum(1)
        order = np.argsort(d)
        out[i] = order[0]
        gaps[i] = d[order[1]] - d[order[0]]
    return out, gaps


@pytest.mark.parametrize("workers", [1, 3], ids=["serial", "threads"])
@pytest.mark.parametrize("block_bytes", [1, 4 * 97 * 3, 64 * 2 ** 20], ids=["one-row", "three-rows", "default"])
def test_knn_blocked_equals_a_naive_loop(block_bytes, workers):
    rng = np.random.default_rng(10)
    database = rng.standard_normal((97, 6))
    queries = rng.standard_normal((53, 6))
    got = knn_blocked(queries, database, block_bytes=block_bytes, workers=workers)
    ref, gaps = _naive_nn(queries, database)
    assert got.dtype == np.int64 and got.shape == (53,)
    assert gaps.min() > 1e-4  # no near-ties in this seeded data (float32 inside knn_blocked)
    np.testing.assert_array_equal(got, ref)


def test_knn_blocked_finds_exact_copies_and_handles_edge_cases():
    rng = np.random.default_rng(11)
    database = rng.standard_normal((40, 3)) * 100 + 1000  # large offset: float32 cancellation
    perm = rng.permutation(40)
    np.testing.assert_array_equal(knn_blocked(database[perm], database, block_bytes=1), perm)
    assert knn_blocked(np.zeros((0, 3)), database).shape == (0,)
    with pytest.raises(ValueError, match="share d"):
        knn_blocked(np.zeros((2, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="empty"):
        knn_blocked(np.zeros((2, 3)), np.zeros((0, 3)))


# ----------------------------------------------------------------------------- conversions


def test_identity_round_trip(blob):
    s, _, _, b, _ = blob
    ident = np.arange(s.n_vertices)
    C = p2p_to_fmap(ident, b.evecs, b.evecs, b.mass)
    np.testing.assert_allclose(C, np.eye(b.k), atol=1e-8)  # Phi^T M Phi = I
    np.testing.assert_allclose(p2p_to_fmap(ident, b.evecs, b.evecs), np.eye(b.k), atol=1e-8)  # lstsq
    np.testing.assert_array_equal(fmap_to_p2p(np.eye(b.k), b.evecs, b.evecs), ident)


def test_permutation_round_trip(blob):
    s, t, perm, b1, b2 = blob
    C = p2p_to_fmap(perm, b1.evecs, b2.evecs, b2.mass)
    np.testing.assert_allclose(C, np.eye(b1.k), atol=1e-6)  # same basis up to the permutation
    np.testing.assert_array_equal(fmap_to_p2p(C, b1.evecs, b2.evecs), perm)
    # the other direction (p2p_12 = inverse permutation) through the transposed map
    np.testing.assert_array_equal(fmap_to_p2p(C.T, b2.evecs, b1.evecs), inverse_permutation(perm))
    # rectangular sizes and a subset of query vertices
    C_rect = p2p_to_fmap(perm, b1.evecs, b2.evecs, b2.mass, k1=30, k2=20)
    assert C_rect.shape == (20, 30)
    q = np.arange(0, t.n_vertices, 7)
    C_q = p2p_to_fmap(perm[q], b1.evecs, b2.evecs, k1=20, k2=20, queries=q)
    np.testing.assert_allclose(C_q, np.eye(20), atol=1e-6)
    np.testing.assert_array_equal(fmap_to_p2p(C_q, b1.evecs, b2.evecs, queries=q), perm[q])


def test_transfer_function_pulls_back(blob):
    s, t, perm, _, _ = blob
    f = s.vertices[:, 0]
    np.testing.assert_array_equal(transfer_function(f, perm), t.vertices[:, 0])


# ----------------------------------------------------------------------------- ZoomOut
def _noisy_start(perm, b1, b2, k0=6, noise=0.15, seed=13):
    C = p2p_to_fmap(perm, b1.evecs, b2.evecs, b2.mass, k1=k0, k2=k0)
    return C + noise * np.random.default_rng(seed).standard_normal(C.shape)


@pytest.mark.parametrize("n_samples", [None, 300], ids=["all-vertices", "sampled"])
def test_zoomout_recovers_the_permutation(blob, n_samples):
    s, t, perm, b1, b2 = blob
    C0 = _noisy_start(perm, b1, b2)
    assert (fmap_to_p2p(C0, b1.evecs, b2.evecs) == perm).mean() < 0.5  # the start is poor
    C, p2p = zoomout(C0, b1.evecs, b2.evecs, b2.mass, k_final=30, step=3, n_samples=n_samples)
    assert C.shape == (30, 30) and p2p.shape == (t.n_vertices,)
    exact, near = exact_or_adjacent(s, p2p, perm)
    assert exact >= 0.95 and near == 1.0
    # near the (diagonal, +-1) true map; least squares on non-corresponding samples blurs it a bit
    np.testing.assert_allclose(np.abs(np.diag(C)), 1.0, atol=0.02 if n_samples is None else 0.1)


def test_zoomout_refinement_on_vertex_subsets(blob):
    """The refinement steps on subsets (used for large shapes) still recover the permutation."""
    s, t, perm, b1, b2 = blob
    C0 = _noisy_start(perm, b1, b2)
    rng = np.random.default_rng(3)
    subset = np.sort(rng.choice(t.n_vertices, t.n_vertices // 3, replace=False))
    C, p2p = zoomout(C0, b1.evecs, b2.evecs, b2.mass, k_final=30, step=3, n_samples=300, refine_iters=2,
                     refine_subset=subset)
    assert C.shape == (30, 30) and p2p.shape == (t.n_vertices,)
    exact, near = exact_or_adjacent(s, p2p, perm)
    assert exact >= 0.99 and near == 1.0  # ~0.98 without the refinement steps


def test_zoomout_samples_matched_among_all_source_vertices(blob):
    """``sample_source=False`` (large shapes): the target samples are matched among every
    source vertex, so the map is not limited to the source samples' spacing; on a permuted
    copy it is exact without refinement steps, and at least as good as the sampled variant."""
    s, t, perm, b1, b2 = blob
    C0 = _noisy_start(perm, b1, b2)
    res = {}
    for ss in (True, False):
        C, p2p = zoomout(C0, b1.evecs, b2.evecs, b2.mass, k_final=30, step=3, n_samples=150, sample_source=ss)
        res[ss] = exact_or_adjacent(s, p2p, perm)
        assert C.shape == (30, 30)
    assert res[False][0] >= 0.99 and res[False][1] == 1.0
    assert res[False][0] >= res[True][0]


def test_zoomout_argument_errors(blob):
    _, _, perm, b1, b2 = blob
    C0 = _noisy_start(perm, b1, b2)
    with pytest.raises(ValueError, match="needs that many eigenvectors"):
        zoomout(C0, b1.evecs, b2.evecs, b2.mass, k_final=50)
    with pytest.raises(ValueError, match="step"):
        zoomout(C0, b1.evecs, b2.evecs, b2.mass, k_final=20, step=0)


def test_bijective_zoomout_recovers_the_permutation_both_ways(blob):
    """From noisy small maps of both directions, the bijective ZoomOut grows both to the exact
    permutation and its inverse, with maps of the requested size near the true (+-1 diagonal) ones."""
    s, t, perm, b1, b2 = blob
    C12 = _noisy_start(perm, b1, b2)
    inv = inverse_permutation(perm)
    C21 = p2p_to_fmap(inv, b2.evecs, b1.evecs, b1.mass, k1=6, k2=6)
    C21 = C21 + 0.15 * np.random.default_rng(5).standard_normal(C21.shape)
    C12, C21, p2p_21, p2p_12 = bijective_zoomout(C12, C21, b1.evecs, b2.evecs, b1.mass, b2.mass, k_final=30, step=3)
    assert C12.shape == C21.shape == (30, 30)
    assert p2p_21.shape == (t.n_vertices,) and p2p_12.shape == (s.n_vertices,)
    exact, near = exact_or_adjacent(s, p2p_21, perm)
    assert exact >= 0.95 and near == 1.0
    exact, near = exact_or_adjacent(t, p2p_12, inv)
    assert exact >= 0.95 and near == 1.0
    np.testing.assert_allclose(np.abs(np.diag(C12)), 1.0, atol=0.02)
    np.testing.assert_allclose(C21 @ C12, np.eye(30), atol=0.05)  # the two maps invert each other


def test_bijective_zoomout_keeps_an_exact_map_and_checks_its_arguments(blob):
    s, t, perm, b1, b2 = blob
    inv = inverse_permutation(perm)
    C12 = p2p_to_fmap(perm, b1.evecs, b2.evecs, b2.mass, k1=20, k2=20)
    C21 = p2p_to_fmap(inv, b2.evecs, b1.evecs, b1.mass, k1=20, k2=20)
    _, _, p2p_21, p2p_12 = bijective_zoomout(C12, C21, b1.evecs, b2.evecs, b1.mass, b2.mass, k_final=20)
    np.testing.assert_array_equal(p2p_21, perm)  # already at its size: one vertex-map step, exact
    np.testing.assert_array_equal(p2p_12, inv)
    with pytest.raises(ValueError, match="square maps of one size"):
        bijective_zoomout(C12, C21[:10, :10], b1.evecs, b2.evecs, b1.mass, b2.mass, k_final=30)
    with pytest.raises(ValueError, match="needs that many eigenvectors"):
        bijective_zoomout(C12, C21, b1.evecs, b2.evecs, b1.mass, b2.mass, k_final=50)
    with pytest.raises(ValueError, match="step"):
        bijective_zoomout(C12, C21, b1.evecs, b2.evecs, b1.mass, b2.mass, k_final=30, step=0)


def test_farthest_point_sampling_is_spread_and_seeded():
    rng = np.random.default_rng(14)
    X = rng.random((500, 2))
    idx = farthest_point_sampling(X, 20, seed=1)
    assert len(np.unique(idx)) == 20
    np.testing.assert_array_equal(idx, farthest_point_sampling(X, 20, seed=1))
    # covering radius of FPS is within 2x of the best possible; compare with random picks
    def cover(sel):
        return np.sqrt(((X[:, None] - X[sel][None]) ** 2).sum(-1).min(1).max())

    assert cover(idx) < cover(rng.choice(500, 20, replace=False))
    assert len(farthest_point_sampling(X, 900)) == 500
    ev = rng.standard_normal((100, 10))
    assert len(np.unique(farthest_point_sampling_spectral(ev, 30))) == 30


# ----------------------------------------------------------------------------- orientation
def test_orientation_score_identity_and_mirror():
    s = bumpy(2)
    n = s.n_vertices
    ident = np.arange(n)
    assert orientation_score(ident, s.vertices, s.vertex_normals, s.vertices, s.faces) == pytest.approx(1.0)
    m = mirrored_copy(s)  # x -> -x, faces flipped so normals stay outward; same indices
    score = orientation_score(ident, s.vertices, s.vertex_normals, m.vertices, m.faces)
    assert score == pytest.approx(-1.0)
    # a permuted copy is orientation preserving
    t, perm = permuted_copy(s, seed=15, rigid=True)
    assert orientation_score(perm, s.vertices, s.vertex_normals, t.vertices, t.faces) == pytest.approx(1.0)


def test_orientation_score_detects_a_left_right_flip_of_a_symmetric_shape():
    e, mirror = ellipsoid(10, 12, bend=0.1)
    n = e.n_vertices
    assert orientation_score(mirror, e.vertices, e.vertex_normals, e.vertices, e.faces) < -0.9
    assert orientation_score(np.arange(n), e.vertices, e.vertex_normals, e.vertices, e.faces) > 0.99


def test_orientation_score_fmap_identity_mirror_and_flip():
    """The smooth (functional-map) orientation score: +1 for the identity, -1 for a mirrored
    copy matched by index, and negative for the left-right flip of a symmetric shape."""
    s = bumpy(2)
    b = eigenbasis(s, 30, cache=False)
    ident = np.eye(30)
    sc = orientation_score_fmap(ident, b.evecs, b.mass, s.vertices, s.vertex_normals, b.evecs, s.vertices, s.faces)
    assert sc == pytest.approx(1.0)
    m = mirrored_copy(s)  # same indices, so the same basis up to round-off
    bm = eigenbasis(m, 30, cache=False)
    C = p2p_to_fmap(np.arange(s.n_vertices), b.evecs, bm.evecs, bm.mass)
    assert orientation_score_fmap(C, b.evecs, b.mass, s.vertices, s.vertex_normals, bm.evecs, m.vertices,
                                  m.faces) < -0.95
    e, mirror = ellipsoid(10, 12, bend=0.1)
    be = eigenbasis(e, 30, cache=False)
    C_flip = p2p_to_fmap(mirror, be.evecs, be.evecs, be.mass)
    C_id = p2p_to_fmap(np.arange(e.n_vertices), be.evecs, be.evecs, be.mass)
    args = (be.evecs, be.mass, e.vertices, e.vertex_normals, be.evecs, e.vertices, e.faces)
    assert orientation_score_fmap(C_flip, *args) < -0.9
    assert orientation_score_fmap(C_id, *args) > 0.99


def test_orientation_score_of_collapsed_maps():
    s = bumpy(1)
    assert orientation_score(np.zeros(s.n_vertices, dtype=int), s.vertices, s.vertex_normals,
                             s.vertices, s.faces) == 0.0
    rng = np.random.default_rng(16)
    random_map = rng.integers(0, s.n_vertices, s.n_vertices)
    assert abs(orientation_score(random_map, s.vertices, s.vertex_normals, s.vertices, s.faces)) < 0.5
