"""The self-supervised functional-map losses on inputs with known answers: the fmap layer's
batched solve against a per-row loop, a perfect map (a shape and a vertex-permuted copy with
exactly corresponding features) has zero bijectivity, orthogonality and commutativity loss,
the true map of a permuted copy has the lowest coupling loss, and settings are validated.
Training on the loss is tested in test_selfsup_train.py, adaptation in test_adapt.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import bumpy

from shapecorr.core.errors import SettingsError
from shapecorr.fmap.prepare import prepare_shape
from shapecorr.learn.fmap_layer import fmap_from_features, resolvent_mask, solve_fmap
from shapecorr.learn.selfsup import (
    LossWeights,
    SpectralData,
    coupling_loss,
    pointwise_fmap,
    soft_map,
    unsupervised_pair_loss,
)

K = 20


@pytest.fixture(scope="module")
def blob():
    """A prepared asymmetric blob (642 vertices), its spectral data, and those of a
    vertex-permuted copy made by permuting the arrays (so the eigenbases correspond exactly)."""
    P = prepare_shape(bumpy(3), 30, cache=False)
    perm = np.random.default_rng(5).permutation(P.shape.n_vertices)
    sx = SpectralData.from_numpy(P.evals, P.evecs, P.mass, K, dtype=torch.float64)
    sy = SpectralData.from_numpy(P.evals, P.evecs[perm], P.mass[perm], K, dtype=torch.float64)
    return P, perm, sx, sy


def random_features(n: int, d: int = 128, seed: int = 0) -> torch.Tensor:
    """Unit features that tell every vertex apart: random directions in 128 dimensions."""
    f = torch.from_numpy(np.random.default_rng(seed).standard_normal((n, d)))
    return torch.nn.functional.normalize(f, dim=1)


def test_spectral_data_checks_its_arrays():
    with pytest.raises(ValueError, match="k=5 eigenpairs asked for, but 3"):
        SpectralData.from_numpy(np.zeros(3), np.zeros((10, 3)), np.ones(10), 5)
    with pytest.raises(ValueError, match=r"evecs \(n, k\)"):
        SpectralData(torch.zeros(3), torch.zeros(10, 4), torch.ones(10))
    s = SpectralData.from_numpy(np.arange(6.0), np.ones((10, 6)), np.ones(10), 4)
    assert (s.k, s.n_vertices, s.evecs.dtype) == (4, 10, torch.float32)


def test_batched_solve_equals_a_loop_over_rows_and_is_differentiable():
    rng = np.random.default_rng(0)
    A = torch.from_numpy(rng.standard_normal((6, 9)))
    B = torch.from_numpy(rng.standard_normal((5, 9)))
    D = torch.from_numpy(rng.uniform(0, 1, (5, 6)))
    lam = 0.3
    C = solve_fmap(A, B, D, lam).numpy()
    a, b, d = A.numpy(), B.numpy(), D.numpy()
    lam_eff = lam * np.trace(a @ a.T) / 6
    for i in range(5):  # the normal equations of row i, written out
        ci = np.linalg.solve(a @ a.T + lam_eff * np.diag(d[i]), a @ b[i])
        np.testing.assert_allclose(C[i], ci, rtol=1e-6, atol=1e-8)
    A.requires_grad_(True)
    B.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a_, b_: solve_fmap(a_, b_, D, lam), (A, B))


def test_resolvent_mask_vanishes_for_equal_eigenvalues_and_grows_apart():
    ev = torch.tensor([0.0, 1.0, 4.0, 9.0], dtype=torch.float64)
    D = resolvent_mask(ev, ev)
    np.testing.assert_allclose(torch.diagonal(D).numpy(), 0, atol=1e-15)
    assert D[0, 1] < D[0, 2] < D[0, 3] and float(D.max()) <= 2


def test_perfect_map_has_zero_bijectivity_orthogonality_and_commutativity_loss(blob):
    P, perm, sx, sy = blob
    fx = random_features(P.shape.n_vertices)
    C = fmap_from_features(fx, fx[perm], sx, sy)
    np.testing.assert_allclose(C.numpy(), np.eye(K), atol=1e-8)  # the identity in corresponding bases
    w = LossWeights(couple=0.0, lap=1.0)
    total, parts = unsupervised_pair_loss(fx, fx[perm], sx, sy, w)
    assert set(parts) == {"bij", "orth", "lap"}
    assert max(parts.values()) < 1e-12 and float(total) < 1e-12
    # a shuffled copy (no correspondence) is far from it
    shuffled = fx[np.random.default_rng(1).permutation(len(perm))]
    _, bad = unsupervised_pair_loss(fx, shuffled, sx, sy, w)
    assert bad["bij"] > 1.0 and bad["orth"] > 1.0


def test_coupling_loss_is_lowest_for_the_true_map_of_a_permuted_copy(blob):
    P, perm, sx, sy = blob
    n = P.shape.n_vertices
    fx = random_features(n)
    eye = torch.eye(K, dtype=torch.float64)
    # features that tell every vertex apart: the soft map is the permutation itself, whose
    # functional map is exactly the identity (the true C_xy) in these corresponding bases
    Pi = soft_map(fx[perm], fx, tau=0.02)
    np.testing.assert_allclose(pointwise_fmap(Pi, sx, sy).numpy(), np.eye(K), atol=1e-9)
    true = float(coupling_loss(eye, fx, fx[perm], sx, sy, tau=0.02))
    assert true < 1e-12
    # the features of a wrong map (a neighbour's features at every vertex) couple worse
    wrong = perm[np.roll(np.arange(n), 7)]
    assert float(coupling_loss(eye, fx, fx[wrong], sx, sy, tau=0.02)) > 1.0
    # a subset of rows (fitted by least squares) gives the same answer for an exact map
    gen = torch.Generator().manual_seed(0)
    assert float(coupling_loss(eye, fx, fx[perm], sx, sy, tau=0.02, couple_points=300, generator=gen)) < 1e-12


def test_whole_loss_prefers_the_true_map_with_smooth_features(blob):
    """With smooth features (the first eigenfunctions' absolute values and products: no sign
    ambiguity, not every vertex distinct), the true correspondence still scores lower than a
    mirror-like wrong one in every term."""
    P, perm, sx, sy = blob
    phi = P.evecs[:, 1:9]
    f = np.concatenate([np.abs(phi), phi[:, :4] * phi[:, 4:8], P.shape.vertices ** 2], axis=1)
    fx = torch.from_numpy(f)
    order = np.argsort(P.shape.vertices[:, 0])  # wrong: swap vertices by rank of x (a reflection-like map)
    swap = np.empty_like(order)
    swap[order] = order[::-1]
    good, _ = unsupervised_pair_loss(fx, fx[perm], sx, sy, LossWeights(couple_points=None))
    bad, _ = unsupervised_pair_loss(fx, fx[swap][perm], sx, sy, LossWeights(couple_points=None))
    assert float(good) < 0.5 * float(bad)


@pytest.mark.parametrize("field, value", [("bij", -1.0), ("orth", float("nan")), ("tau", 0.0), ("lam", -2),
                                          ("couple_points", 3), ("resolvent", "yes")])
def test_loss_weights_are_validated(field, value):
    with pytest.raises(SettingsError, match=f"LossWeights.{field}"):
        LossWeights(**{field: value})
    with pytest.raises(SettingsError, match="every term has weight 0"):
        LossWeights(bij=0, orth=0, lap=0, couple=0)
