"""Pairwise maps of a collection on demand: the pair's ZoomOut refinement, with exact answers."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import bumpy, inverse_permutation, permuted_copy, vertex_adjacency

from shapecorr.collection import refine_pair
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
