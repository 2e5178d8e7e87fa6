"""Feature-guided ZoomOut: guides from features, guided vertex maps, known answers."""

from __future__ import annotations

import numpy as np
import pytest

from shapecorr.core import Shape
from shapecorr.fmap import fmap_to_p2p, p2p_to_fmap, zoomout
from shapecorr.fmap.refine import feature_agreement, feature_guides, guided_p2p
from shapecorr.spectral import eigenbasis

from helpers import bumpy, exact_or_adjacent, permuted_copy




def _features(shape: Shape, perm: np.ndarray | None, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features that know the truth up to noise: the source's coordinates and random lifts of
    them (d = 16), carried to the copy by ``perm`` and perturbed with Gaussian noise."""
    rng = np.random.default_rng(seed)
    f1 = np.tanh(shape.vertices @ rng.standard_normal((3, 16)))
    f2 = f1[perm] if perm is not None else f1
    return f1, f2 + noise * rng.standard_normal(f2.shape)


# ----------------------------------------------------------------------------- guides
def test_feature_guides_scale_dims_and_joint_projection():
    rng = np.random.default_rng(0)
    f1, f2 = rng.standard_normal((50, 8)), rng.standard_normal((70, 8)) + 3.0
    for dims, weight in ((None, 2.5), (3, 4.0)):
        g1, g2 = feature_guides(f1, f2, weight, dims)
        d = 8 if dims is None else dims
        assert g1.shape == (50, d) and g2.shape == (70, d)
        rows = np.concatenate([(g1 ** 2).sum(1), (g2 ** 2).sum(1)])
        np.testing.assert_allclose(np.sqrt(rows.mean()), weight, rtol=1e-12)
    # all dimensions: an orthogonal change of coordinates, so distances between rows are kept up to the scale
    g1, g2 = feature_guides(f1, f2, 1.0, None)
    scale = np.linalg.norm(g1[0] - g2[0]) / np.linalg.norm(f1[0] - f2[0])
    np.testing.assert_allclose(np.linalg.norm(g1[:, None] - g2[None], axis=2),
                               scale * np.linalg.norm(f1[:, None] - f2[None], axis=2), rtol=1e-10)
    # the leading axis carries the joint spread (here the offset between the two shapes' features)
    g1, g2 = feature_guides(f1, f2, 1.0, 1)
    assert abs(g1.mean() - g2.mean()) > 1.0


def test_feature_guides_errors():
    with pytest.raises(ValueError, match="same d"):
        feature_guides(np.zeros((4, 3)), np.zeros((4, 2)), 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        feature_guides(np.zeros((4, 3)), np.zeros((4, 3)), -1.0)
    g1, g2 = feature_guides(np.ones((4, 3)), np.ones((5, 3)), 2.0)  # constant features: no guidance
    assert not g1.any() and not g2.any()


def test_guided_p2p_without_or_with_zero_guides_is_the_plain_map(blob):
    s, t, perm, b1, b2 = blob
    C = p2p_to_fmap(perm, b1.evecs, b2.evecs, b2.mass, k1=20, k2=20)
    C = C + 0.2 * np.random.default_rng(1).standard_normal(C.shape)
    plain = fmap_to_p2p(C, b1.evecs, b2.evecs)
    np.testing.assert_array_equal(guided_p2p(C, b1.evecs, b2.evecs), plain)
    zeros = (np.zeros((s.n_vertices, 4)), np.zeros((t.n_vertices, 4)))
    np.testing.assert_array_equal(guided_p2p(C, b1.evecs, b2.evecs, *zeros), plain)


def test_guided_p2p_follows_heavy_exact_guides(blob):
    """Guides that equal the truth and outweigh the embeddings give the exact permutation, whatever the map."""
    s, t, perm, b1, b2 = blob
    f1, f2 = _features(s, perm, 0.0, seed=2)
    g1, g2 = feature_guides(f1, f2, 1000.0)
    np.testing.assert_array_equal(guided_p2p(np.eye(20), b1.evecs, b2.evecs, g1, g2), perm)


# ----------------------------------------------------------------------------- guided ZoomOut
@pytest.mark.parametrize("n_samples", [None, 300], ids=["all-vertices", "sampled"])
def test_guided_zoomout_keeps_an_exact_map_exact(blob, n_samples):
    """The exact map of a permuted copy, with exact features, stays exact."""
    s, t, perm, b1, b2 = blob
    C0 = p2p_to_fmap(perm, b1.evecs, b2.evecs, b2.mass, k1=10, k2=10)
    guides = feature_guides(*_features(s, perm, 0.0, seed=3), 3.0, 8)
    C, p2p = zoomout(C0, b1.evecs, b2.evecs, b2.mass, k_final=30, step=4, n_samples=n_samples,
                     refine_iters=2, guides=guides)
    np.testing.assert_array_equal(p2p, perm)
    np.testing.assert_allclose(np.abs(np.diag(C)), 1.0, atol=0.02 if n_samples is None else 0.1)


def test_guided_zoomout_improves_a_perturbed_map_of_a_stretched_copy(blob):
    """A non-isometric pair (the copy stretched 2x along one axis): plain ZoomOut from a perturbed
    map loses the map (2 % of vertices exact or adjacent here), ZoomOut guided by noisy features
    that know the truth keeps it (97 %)."""
    s, t, perm, b1, _ = blob
    stretched = Shape(t.vertices * np.array([2.0, 1.0, 1.0]), t.faces, validate=False)
    b2 = eigenbasis(stretched, 40, cache=False)
    C0 = p2p_to_fmap(perm, b1.evecs, b2.evecs, b2.mass, k1=8, k2=8)
    C0 = C0 + 0.6 * np.random.default_rng(4).standard_normal(C0.shape)
    f1, f2 = _features(s, perm, 0.3, seed=5)
    plain = zoomout(C0, b1.evecs, b2.evecs, b2.mass, k_final=30, step=2, refine_iters=2)[1]
    guided = zoomout(C0, b1.evecs, b2.evecs, b2.mass, k_final=30, step=2, refine_iters=2,
                     guides=feature_guides(f1, f2, 3.0))[1]
    exact_plain, near_plain = exact_or_adjacent(s, plain, perm)
    exact_guided, near_guided = exact_or_adjacent(s, guided, perm)
    assert near_plain < 0.2 and near_guided > 0.9
    assert exact_guided > exact_plain + 0.3


def test_guided_zoomout_rejects_guides_of_the_wrong_shape(blob):
    s, t, perm, b1, b2 = blob
    C0 = np.eye(10)
    with pytest.raises(ValueError, match="guides must be"):
        zoomout(C0, b1.evecs, b2.evecs, b2.mass, k_final=20, guides=(np.zeros((s.n_vertices, 3)), np.zeros((5, 3))))


# ----------------------------------------------------------------------------- agreement
def test_feature_agreement_known_answers():
    """Exact features agree with the true map everywhere; features that say the same about every
    vertex's neighbour a ring away agree within a radius above that ring and not below it;
    features of another vertex order agree with the identity map nowhere near."""
    blob = bumpy(3)
    t, perm = permuted_copy(blob, seed=3)
    f1, f2 = _features(blob, perm, 0.0, seed=0)
    truth = perm  # p2p_21: target vertex j is source vertex perm[j]
    assert feature_agreement(truth, f1, f2, blob.vertices) == 1.0
    # the target's features point at a fixed neighbour of the true vertex
    V = blob.vertices
    edges = np.concatenate([blob.faces[:, [0, 1]], blob.faces[:, [1, 2]], blob.faces[:, [2, 0]]])
    neighbour = np.empty(len(V), dtype=np.int64)
    neighbour[edges[:, 0]] = edges[:, 1]
    shifted = f1[neighbour][perm]
    gap = np.linalg.norm(V[neighbour] - V, axis=1)
    assert feature_agreement(truth, f1, shifted, V, radius=gap.max() * 1.01) == 1.0
    assert feature_agreement(truth, f1, shifted, V, radius=gap.min() * 0.99) == 0.0
    # on some target vertices only
    rows = np.arange(0, len(perm), 7)
    assert feature_agreement(truth, f1, f2, V, queries=rows) == 1.0
    far = feature_agreement(np.arange(len(perm)), f1, f2, V, radius=0.05 * np.sqrt(blob.area))
    assert far < 0.2


def test_feature_agreement_rejects_features_of_the_wrong_shape():
    blob = bumpy(2)
    f = np.zeros((blob.n_vertices, 4))
    with pytest.raises(ValueError, match="features must be"):
        feature_agreement(np.arange(blob.n_vertices), f, f[:, :3], blob.vertices)
    with pytest.raises(ValueError, match="features must be"):
        feature_agreement(np.arange(10), f, f, blob.vertices)
