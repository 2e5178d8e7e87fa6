"""HKS / WKS descriptors and the functional-map operators built from them."""

from __future__ import annotations

import numpy as np
import pytest

from shapecorr.spectral import (
    eigenbasis,
    hks,
    multiplication_operators,
    normalize_descriptors,
    orientation_operators,
    orientation_sign,
    wks,
)
from shapecorr.spectral.operators import face_gradients

from helpers import bumpy, icosphere, mirrored_copy, permuted_copy


@pytest.fixture(scope="module")
def pair():
    s = bumpy(2)  # 162 vertices, no symmetry
    t, perm = permuted_copy(s, seed=6, rigid=True)
    return s, t, perm, eigenbasis(s, 30, cache=False), eigenbasis(t, 30, cache=False)


def test_layout_is_vertices_by_features(pair):
    s, _, _, b, _ = pair
    assert wks(b.evals, b.evecs, 50).shape == (s.n_vertices, 50)
    assert wks(b.evals, b.evecs, n_energies=7).shape == (s.n_vertices, 7)
    assert hks(b.evals, b.evecs, n_times=16).shape == (s.n_vertices, 16)
    assert hks(b.evals, b.evecs, times=[0.01, 0.1, 1.0]).shape == (s.n_vertices, 3)
    assert np.all(wks(b.evals, b.evecs, 20) > 0) and np.all(hks(b.evals, b.evecs) > 0)


@pytest.mark.parametrize("descr", ["wks", "hks"])
def test_descriptors_follow_a_vertex_permutation(pair, descr):
    """Intrinsic: the permuted (and rigidly moved) copy has the permuted descriptors."""
    _, _, perm, b1, b2 = pair
    fn = wks if descr == "wks" else hks
    d1, d2 = fn(b1.evals, b1.evecs), fn(b2.evals, b2.evecs)
    np.testing.assert_allclose(d2, d1[perm], rtol=1e-6, atol=1e-9 * np.abs(d1).max())


def test_descriptors_ignore_eigenvector_signs(pair):
    _, _, _, b, _ = pair
    flipped = b.evecs * np.where(np.arange(b.k) % 2, -1.0, 1.0)
    np.testing.assert_allclose(wks(b.evals, flipped, 20), wks(b.evals, b.evecs, 20))
    np.testing.assert_allclose(hks(b.evals, flipped), hks(b.evals, b.evecs))


def test_hks_against_its_definition(pair):
    _, _, _, b, _ = pair
    t = np.array([0.05, 0.2])
    ref = np.stack([(np.exp(-b.evals * ti) * b.evecs ** 2).sum(1) for ti in t], 1)
    np.testing.assert_allclose(hks(b.evals, b.evecs, times=t, scaled=False), ref, rtol=1e-12)
    heat_trace = np.exp(-np.outer(t, b.evals)).sum(1)
    np.testing.assert_allclose(hks(b.evals, b.evecs, times=t), ref / heat_trace, rtol=1e-12)


def test_wks_matches_pyfm_on_the_same_basis(pair):
    """Same definition as pyfmaps' auto_WKS (energies, sigma = 7 x spacing, scaling):
    equal to round-off (declared tolerance rtol 1e-10)."""
    pytest.importorskip("pyFM")
    from pyFM.signatures.WKS_functions import auto_WKS

    _, _, _, b, _ = pair
    np.testing.assert_allclose(wks(b.evals, b.evecs, 40), auto_WKS(b.evals, b.evecs, 40), rtol=1e-10)


def test_descriptor_input_errors(pair):
    _, _, _, b, _ = pair
    with pytest.raises(ValueError, match="evecs must be"):
        wks(b.evals, b.evecs[:, :5])
    with pytest.raises(ValueError, match="two positive eigenvalues"):
        wks(b.evals[:2], b.evecs[:, :2])
    with pytest.raises(ValueError, match="positive eigenvalue"):
        hks(b.evals[:1], b.evecs[:, :1])


def test_normalize_descriptors_gives_unit_m_norm(pair):
    _, _, _, b, _ = pair
    d = normalize_descriptors(wks(b.evals, b.evecs, 10), b.mass)
    np.testing.assert_allclose((b.mass[:, None] * d ** 2).sum(0), 1.0, rtol=1e-12)


# ----------------------------------------------------------------------------- operators
def test_multiplication_operators_against_the_definition(pair):
    _, _, _, b, _ = pair
    d = wks(b.evals, b.evecs, 4)
    ops = multiplication_operators(d, b.evecs[:, :10], b.mass)
    assert ops.shape == (4, 10, 10)
    for p in range(4):
        ref = b.evecs[:, :10].T @ ((b.mass * d[:, p])[:, None] * b.evecs[:, :10])
        np.testing.assert_allclose(ops[p], ref, atol=1e-12)
    const = multiplication_operators(np.ones((len(b.mass), 1)), b.evecs[:, :10], b.mass)
    np.testing.assert_allclose(const[0], np.eye(10), atol=1e-8)  # multiplying by 1


def test_face_gradients_of_a_linear_function_are_exact():
    s = icosphere(1)
    a = np.array([0.3, -1.2, 0.7])
    g = face_gradients(s.vertices, s.faces, (s.vertices @ a)[:, None])[:, :, 0]  # (m, 3)
    n = s.face_normals
    tangential = a - (n @ a)[:, None] * n  # the gradient of a linear function within each face
    np.testing.assert_allclose(g, tangential, atol=1e-12)


def test_orientation_sign():
    s = bumpy(1)
    assert orientation_sign(s.vertices, s.faces) == 1.0
    assert orientation_sign(s.vertices, s.faces[:, ::-1]) == -1.0
    m = mirrored_copy(s)  # reflected, faces flipped back: still outward
    assert orientation_sign(m.vertices, m.faces) == 1.0


def test_orientation_operators_follow_permutation_and_flip_under_reflection(pair):
    """O_f is intrinsic up to orientation: equal on a permuted copy, negated on a mirror
    image (same basis, same descriptors, reversed orientation)."""
    s, t, perm, b1, b2 = pair
    d1 = wks(b1.evals, b1.evecs, 6)
    O1 = orientation_operators(s.vertices, s.faces, d1, b1.evecs[:, :12])
    O2 = orientation_operators(t.vertices, t.faces, d1[perm], b2.evecs[:, :12])
    assert O1.shape == (6, 12, 12)
    np.testing.assert_allclose(O2, O1, atol=1e-6 * np.abs(O1).max())
    m = mirrored_copy(s)
    Om = orientation_operators(m.vertices, m.faces, d1, b1.evecs[:, :12])
    np.testing.assert_allclose(Om, -O1, atol=1e-10 * np.abs(O1).max())
    # an inward-oriented mesh with orientation_sign=-1 gives the outward operators back
    Oin = orientation_operators(s.vertices, s.faces[:, ::-1], d1, b1.evecs[:, :12], orientation_sign=-1.0)
    np.testing.assert_allclose(Oin, O1, atol=1e-10 * np.abs(O1).max())
