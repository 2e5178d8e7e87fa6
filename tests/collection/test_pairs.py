"""Pairwise maps of a collection on demand: the pair's ZoomOut refinement, with exact answers."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import bumpy, inverse_permutation, permuted_copy, vertex_adjacency, write_off

from shapecorr.collection import refine_pair
from shapecorr.collection.pairs import pair_guides
from shapecorr.pipeline import load_preset, prepare

SETTINGS = load_preset("axiomatic", k_final=30, k_init=20)


@pytest.fixture(scope="module")
def pair():
    """A shape, a permuted and moved copy, both prepared; ``truth_ba``: vertex of the shape
    for each vertex of the copy."""
    shape = bumpy(2)
    copy, perm = permuted_copy(shape, 5, rigid=True)
    Pa, Pb = prepare(shape, SETTINGS, cache=False), prepare(copy, SETTINGS, cache=False)
    return shape, Pa, Pb, perm


def blurred(shape, truth_ba: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """``truth_ba`` with ``fraction`` of its entries moved to a random mesh neighbour of the
    right vertex (a map that is nearly right, as one composed through a template is)."""
    rng = np.random.default_rng(seed)
    adj = vertex_adjacency(shape).tolil()
    out = truth_ba.copy()
    for j in rng.choice(len(out), int(fraction * len(out)), replace=False):
        nbrs = [v for v in adj.rows[out[j]] if v != out[j]]
        out[j] = rng.choice(nbrs)
    return out


@pytest.mark.parametrize("iterations", [None, 4])
def test_refine_pair_repairs_a_nearly_right_map(pair, iterations):
    shape, Pa, Pb, truth_ba = pair
    start = blurred(shape, truth_ba, 0.3, seed=1)
    assert (start == truth_ba).mean() < 0.75
    p2p_ab, p2p_ba = refine_pair(start, Pa, Pb, SETTINGS, iterations=iterations)
    np.testing.assert_array_equal(p2p_ba, truth_ba)
    np.testing.assert_array_equal(p2p_ab, inverse_permutation(truth_ba))


def test_refine_pair_keeps_an_exact_map_and_checks_nothing_else(pair):
    shape, Pa, Pb, truth_ba = pair
    p2p_ab, p2p_ba = refine_pair(truth_ba, Pa, Pb, SETTINGS, iterations=1)
    np.testing.assert_array_equal(p2p_ba, truth_ba)
    np.testing.assert_array_equal(p2p_ab, inverse_permutation(truth_ba))
    # the same shape on both sides: the identity
    p2p_ab, p2p_ba = refine_pair(np.arange(shape.n_vertices), Pa, Pa, SETTINGS)
    np.testing.assert_array_equal(p2p_ba, np.arange(shape.n_vertices))


def test_refine_pair_follows_its_guides(pair):
    """Guides that tell every vertex apart (per-vertex features of the shape, carried to the copy
    by the truth) make a far-off start exact; guides that contradict the truth pull the map
    away from it, so they are used in both directions."""
    shape, Pa, Pb, truth_ba = pair
    rng = np.random.default_rng(3)
    ga = rng.normal(size=(shape.n_vertices, 8)) * 20.0
    start = blurred(shape, truth_ba, 0.6, seed=2)
    p2p_ab, p2p_ba = refine_pair(start, Pa, Pb, SETTINGS, guides=(ga, ga[truth_ba]))
    np.testing.assert_array_equal(p2p_ba, truth_ba)
    np.testing.assert_array_equal(p2p_ab, inverse_permutation(truth_ba))
    wrong = rng.permutation(shape.n_vertices)
    p2p_ab, p2p_ba = refine_pair(truth_ba, Pa, Pb, SETTINGS, guides=(ga, ga[wrong]))
    assert (p2p_ba == truth_ba).mean() < 0.5
    assert (p2p_ab == inverse_permutation(truth_ba)).mean() < 0.5


def test_pair_guides_are_the_pipelines_for_learned_settings_only(pair, tmp_path):
    shape, Pa, Pb, truth_ba = pair
    copy = Pb.shape
    paths = (str(write_off(tmp_path / "a.off", shape.vertices, shape.faces)),
             str(write_off(tmp_path / "b.off", copy.vertices, copy.faces)))
    assert pair_guides(paths, (Pa, Pb), SETTINGS, "cpu") is None  # no learned features
    learned = load_preset("default")
    ga, gb = pair_guides(paths, (Pa, Pb), learned, "cpu")
    dims = learned.zoomout.guide_dims
    assert ga.shape == (shape.n_vertices, dims) and gb.shape == (copy.n_vertices, dims)
    rms = np.sqrt(np.mean(np.concatenate([(ga ** 2).sum(1), (gb ** 2).sum(1)])))
    assert rms == pytest.approx(learned.zoomout.guide_weight)
    # the features are intrinsic: the permuted, moved copy's guides are the shape's, permuted
    assert np.abs(gb - ga[truth_ba]).max() < 1e-3 * np.abs(ga).max()
    assert pair_guides(paths, (Pa, Pb), learned, "cpu")[0] is not None  # again, from memory
