"""Synchronization and consistent ZoomOut on collections with exact answers."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import bumpy, inverse_permutation

from shapecorr.collection import consistency as cons
from shapecorr.pipeline import load_preset, prepare


def random_orthogonal(k: int, rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((k, k)))
    return q * np.sign(np.diag(r))


def test_synchronize_recovers_consistent_latent_bases():
    rng = np.random.default_rng(0)
    k, n = 6, 5
    Q = [np.eye(k)] + [random_orthogonal(k, rng) for _ in range(n - 1)]  # shape 0 is the anchor
    edges = [(1, 0), (2, 0), (3, 0), (4, 0), (1, 2), (2, 3), (3, 4)]
    fmaps, weights = {}, {}
    for i, j in edges:
        fmaps[(i, j)] = Q[j] @ Q[i].T  # X_ij A_i = A_j
        fmaps[(j, i)] = Q[i] @ Q[j].T
        weights[(i, j)] = weights[(j, i)] = 1.0
    res = cons.synchronize(n, 0, fmaps, weights, init=[None] + [np.eye(k)] * (n - 1))
    for i in range(n):
        np.testing.assert_allclose(res.A[i], Q[i], atol=1e-6)
    assert res.residual < 1e-10


def test_a_wrong_low_confidence_map_is_outvoted_by_neighbours():
    rng = np.random.default_rng(1)
    k, n = 5, 4
    Q = [np.eye(k)] + [random_orthogonal(k, rng) for _ in range(n - 1)]
    fmaps, weights = {}, {}
    for i, j in [(1, 0), (2, 0), (3, 0), (1, 3), (2, 3)]:
        fmaps[(i, j)], fmaps[(j, i)] = Q[j] @ Q[i].T, Q[i] @ Q[j].T
        weights[(i, j)] = weights[(j, i)] = cons.edge_weight(0.95, 0.7)
    wrong = random_orthogonal(k, rng)  # shape 3's direct map is wrong and not trusted
    fmaps[(3, 0)], fmaps[(0, 3)] = wrong, wrong.T
    weights[(3, 0)] = weights[(0, 3)] = cons.edge_weight(0.2, 0.7)
    res = cons.synchronize(n, 0, fmaps, weights)
    assert np.linalg.norm(res.A[3] - Q[3]) < 0.05 * np.linalg.norm(Q[3])
    assert np.linalg.norm(wrong.T - Q[3]) > 1.0  # the direct map alone was far off


def test_edge_weight():
    assert cons.edge_weight(0.9, 0.7) == pytest.approx(0.81)
    assert cons.edge_weight(0.5, 0.7) == pytest.approx(0.25 * cons.LOW_CONFIDENCE_FACTOR)
    assert cons.edge_weight(0.0, 0.7) > 0


def test_zoom_sizes():
    assert cons.zoom_sizes(20, 50, 10) == [20, 30, 40, 50]
    assert cons.zoom_sizes(20, 45, 10) == [20, 30, 40, 45]
    assert cons.zoom_sizes(60, 50, 10) == [50]


def rotated_first_block(evecs: np.ndarray, rng, size: int = 10) -> np.ndarray:
    """The basis with its first ``size`` functions mixed by a random rotation: still
    mass-orthonormal, and the maps between such bases are not symmetric matrices."""
    out = evecs.copy()
    out[:, :size] = evecs[:, :size] @ random_orthogonal(size, rng)
    return out


@pytest.fixture(scope="module", params=[None, 100], ids=["all-vertices", "samples"])
def permuted_collection(request):
    """Five permuted copies of one shape: bases with permuted rows (the first functions mixed
    differently on each copy) and exact maps; edge maps fitted on all vertices or on samples."""
    shape = bumpy(2)
    P = prepare(shape, load_preset("axiomatic", k_final=30, k_init=20), cache=False)
    rng = np.random.default_rng(3)
    perms = [np.arange(shape.n_vertices)] + [rng.permutation(shape.n_vertices) for _ in range(4)]
    bases = [cons.make_basis(P.evecs[p] if i == 0 else rotated_first_block(P.evecs[p], rng), P.mass[p],
                             P.shape.vertices[p], request.param) for i, p in enumerate(perms)]
    return bases, perms


def exact_p2p(perms, i, j):
    """Vertex of copy i for each vertex of copy j (copy vertex v is original perms[.][v])."""
    return inverse_permutation(perms[i])[perms[j]]


def test_consistent_zoomout_repairs_a_wrong_direct_map(permuted_collection):
    bases, perms = permuted_collection
    n, T = len(bases), 0
    edges = [(i, T) for i in range(1, n)] + [(1, 2), (2, 3), (3, 4), (1, 4)]
    k0 = 10
    fmaps, weights = {}, {}
    for i, j in edges:
        p_ji, p_ij = exact_p2p(perms, i, j), exact_p2p(perms, j, i)
        conf = 0.95
        if (i, j) == (3, T):  # shape 3's direct map: a random vertex map, low confidence
            p_ji = np.random.default_rng(0).integers(0, bases[i].n, bases[j].n)
            p_ij = np.random.default_rng(1).integers(0, bases[j].n, bases[i].n)
            conf = 0.1
        fmaps[(i, j)], fmaps[(j, i)] = cons.initial_edge_fmaps(bases[i], bases[j], p_ji, p_ij, k0)
        weights[(i, j)] = weights[(j, i)] = cons.edge_weight(conf, 0.7)

    def refit(A, k_next, full):
        out = {}
        for i, j in edges:
            out[(i, j)], out[(j, i)] = cons.refit_edge(bases[i], bases[j], A[i], A[j], k_next, full)
        return out

    A, history = cons.consistent_zoomout(n, T, fmaps, weights, cons.zoom_sizes(k0, 30, 10), refit, refine_iters=1,
                                         full_iters=1)
    assert [(h["k"], h["all_vertices"]) for h in history] == [(10, False), (20, False), (30, False), (30, False),
                                                               (30, True)]
    for i in range(1, n):
        to_t, from_t = cons.final_maps(bases[i], bases[T], A[i])
        assert (to_t == exact_p2p(perms, T, i)).mean() > 0.97, i
        assert (from_t == exact_p2p(perms, i, T)).mean() > 0.97, i
        # the cycle shape -> template -> shape closes
        assert cons.roundtrip_error(bases[i].vertices, to_t, from_t) < 0.01


def test_cycle_figures_are_zero_for_exact_maps(permuted_collection):
    bases, perms = permuted_collection
    to_t = [exact_p2p(perms, 0, i) for i in range(len(perms))]
    from_t = [exact_p2p(perms, i, 0) for i in range(len(perms))]
    assert cons.roundtrip_error(bases[1].vertices, to_t[1], from_t[1]) == 0.0
    assert cons.triangle_error(bases[0].vertices, to_t[1], to_t[2], exact_p2p(perms, 2, 1)) == 0.0
    # a wrong pairwise map leaves the cycle open
    wrong = np.roll(exact_p2p(perms, 2, 1), 7)
    assert cons.triangle_error(bases[0].vertices, to_t[1], to_t[2], wrong) > 0.05


def test_refit_edge_gives_the_exact_maps(permuted_collection):
    """With exact latent matrices, one refit step returns the exact functional maps of the
    edge (on all vertices, or fitted on the samples), in both directions."""
    bases, perms = permuted_collection
    i, j, T, k = 1, 2, 0, 20
    exact = {}
    for a, b in ((i, j), (j, i), (T, i), (T, j)):
        exact[(a, b)] = cons.initial_edge_fmaps(bases[a], bases[b], exact_p2p(perms, a, b), exact_p2p(perms, b, a),
                                                k)[0]
    A_i, A_j = exact[(T, i)], exact[(T, j)]  # A_i = X_Ti
    X_ij, X_ji = cons.refit_edge(bases[i], bases[j], A_i, A_j, k)
    np.testing.assert_allclose(X_ij, exact[(i, j)], atol=1e-5)
    np.testing.assert_allclose(X_ji, exact[(j, i)], atol=1e-5)
    assert np.abs(X_ij - X_ij.T).max() > 0.1  # not symmetric: a transposed fit would fail


def test_streamed_refinement_equals_the_refinement_in_memory(permuted_collection, tmp_path):
    """The joint refinement as the collection runs it (edge maps and latent matrices in files,
    each refit reading its two latent matrices from the file) gives bit for bit the latent
    matrices, sweeps and residuals of the refinement in memory, and the exact maps."""
    from shapecorr.collection.blocks import FileBlocks, MemoryBlocks
    from shapecorr.collection.work import refit_edge_task

    bases, perms = permuted_collection
    n, T = len(bases), 0
    und = [(i, T) for i in range(1, n)] + [(1, 2), (2, 3), (3, 4), (1, 4)]
    k0, sizes = 10, cons.zoom_sizes(10, 30, 10)
    fmaps, weights = {}, {}
    for e, (i, j) in enumerate(und):
        p_ji, p_ij = exact_p2p(perms, i, j), exact_p2p(perms, j, i)
        if (i, j) == (3, T):  # a wrong direct map with low confidence
            p_ji = np.random.default_rng(0).integers(0, bases[i].n, bases[j].n)
            p_ij = np.random.default_rng(1).integers(0, bases[j].n, bases[i].n)
        X = cons.initial_edge_fmaps(bases[i], bases[j], p_ji, p_ij, k0)
        fmaps[(i, j)], fmaps[(j, i)] = (x.astype(np.float32) for x in X)
        weights[(i, j)] = weights[(j, i)] = cons.edge_weight(0.1 if (i, j) == (3, T) else 0.95, 0.7)

    def refit_memory(A, k_next, full):
        out = {}
        for i, j in und:
            X = cons.refit_edge(bases[i], bases[j], A[i].astype(np.float32), A[j].astype(np.float32), k_next, full)
            out[(i, j)], out[(j, i)] = (x.astype(np.float32) for x in X)
        return out

    A_mem, hist_mem = cons.consistent_zoomout(n, T, dict(fmaps), weights, sizes, refit_memory, refine_iters=1,
                                              full_iters=1)

    # the streamed run: bases and latent matrices are read from files by the refit tasks
    paths = []
    for s, B in enumerate(bases):
        p = tmp_path / f"basis{s}.npz"
        np.savez(p, evecs=B.evecs, mass=B.mass, samples=B.samples.astype(np.int32), vertices=B.vertices)
        paths.append(str(p))
    made = []

    def make(name, count, shape, dtype):
        made.append(name)
        return FileBlocks(tmp_path / "sync" / f"{name}.bin", count, shape, dtype)

    graph = cons.EdgeGraph.from_undirected(n, T, [i for i, _ in und], [j for _, j in und],
                                           [weights[e] for e in und])
    X0 = make("edges_0", graph.n_edges, (k0, k0), np.float32)
    for e, (i, j) in enumerate(und):
        X0.write(2 * e, fmaps[(i, j)])
        X0.write(2 * e + 1, fmaps[(j, i)])

    def refit_files(A, k_next, full):
        X = make(f"edges_{k_next}_{full}", graph.n_edges, (k_next, k_next), np.float32)
        for e, (i, j) in enumerate(und):
            X_ij, X_ji = refit_edge_task(paths[i], paths[j], i, j, str(A.path), A.shape[0], k_next, full)
            X.write(2 * e, X_ij)
            X.write(2 * e + 1, X_ji)
        return X

    A_file, hist_file = cons.consistent_zoomout_blocks(graph, X0, sizes, refit_files, make, refine_iters=1,
                                                       full_iters=1)
    assert hist_file == hist_mem
    assert isinstance(A_file, FileBlocks) and not isinstance(A_file, MemoryBlocks)
    for i in range(n):
        np.testing.assert_array_equal(A_file.read(i), A_mem[i])
        if i != T:
            to_t, from_t = cons.final_maps(bases[i], bases[T], np.array(A_file.read(i)))
            assert (to_t == exact_p2p(perms, T, i)).mean() > 0.97, i
    A_file.close()
    # every store was closed and deleted as the rounds went: nothing is left in the files
    assert len(made) > 5 and not list((tmp_path / "sync").iterdir())


def test_edge_graph_orders_edges_as_a_dict_of_maps_does():
    g = cons.EdgeGraph.from_undirected(5, 0, [1, 2, 3, 1], [0, 0, 0, 2], [1.0, 2.0, 3.0, 4.0])
    assert g.n_edges == 8
    assert g.outgoing(1).tolist() == [0, 6] and g.incoming(1).tolist() == [1, 7]
    assert g.dst[g.outgoing(2)].tolist() == [0, 1] and g.weight[g.outgoing(2)].tolist() == [2.0, 4.0]
    assert g.neighbours(0) == [1, 2, 3] and g.neighbours(1) == [0, 2]
    assert g.active().tolist() == [True, True, True, True, False]
    assert g.order().tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="outside"):
        cons.EdgeGraph.from_undirected(3, 0, [1], [5], [1.0])
