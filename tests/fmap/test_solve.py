"""The exact functional-map solver: its solution is the minimizer of the stated energy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize

from shapecorr.fmap import FmapWeights, solve_fmap

K1, K2, P = 3, 4, 5  # tiny, so that a naive energy and a generic optimizer are cheap


def _commutator_energy(C, X, Y):
    return sum(np.sum((C @ X[f] - Y[f] @ C) ** 2) for f in range(len(X)))


def _trace_of_normal(X, Y):
    """trace of the normal matrix of C -> (C X_f - Y_f C)_f: sum of the energy over the
    canonical basis matrices E_ij (computed naively, independently of the solver)."""
    total = 0.0
    for i in range(K2):
        for j in range(K1):
            E = np.zeros((K2, K1))
            E[i, j] = 1.0
            total += _commutator_energy(E, X, Y)
    return total


def naive_energy(C, A, B, ev1, ev2, w, dcomm=None, orient=None):
    """The energy of shapecorr.fmap.solve, written term by term from its docstring (with the
    solver's scale-free normalization of each term)."""
    n = K1 * K2
    e = w.descr / np.sum(A ** 2) * np.sum((C @ A - B) ** 2)
    sq = (ev1[None, :K1] - ev2[:K2, None]) ** 2
    e += w.lap * np.sum(C ** 2 * sq) / np.linalg.norm(sq)
    if dcomm is not None:
        e += w.dcomm * _commutator_energy(C, *dcomm) / (_trace_of_normal(*dcomm) / n)
    if orient is not None:
        X, Y = orient
        Y = -Y if w.reversing else Y
        e += w.orient * _commutator_energy(C, X, Y) / (_trace_of_normal(X, Y) / n)
    return e


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(7)
    A = rng.standard_normal((K1, P))
    B = rng.standard_normal((K2, P))
    ev1 = np.sort(rng.random(K1)) * 10
    ev2 = np.sort(rng.random(K2)) * 10
    sym = lambda M: M + M.transpose(0, 2, 1)  # noqa: E731  (descriptor operators are symmetric)
    D = (sym(rng.standard_normal((P, K1, K1))), sym(rng.standard_normal((P, K2, K2))))
    anti = lambda M: M - M.transpose(0, 2, 1)  # noqa: E731  (orientation operators are antisymmetric)
    O = (anti(rng.standard_normal((P, K1, K1))), anti(rng.standard_normal((P, K2, K2))))
    return A, B, ev1, ev2, D, O


CASES = {
    "descr+lap": (FmapWeights(descr=1.0, lap=0.3, dcomm=0.0, orient=0.0), False, False),
    "all-terms": (FmapWeights(descr=1.0, lap=0.05, dcomm=0.4, orient=0.7), True, True),
    "reversing": (FmapWeights(descr=1.0, lap=0.05, dcomm=0.4, orient=0.7, reversing=True), True, True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_solution_is_a_stationary_point_of_the_energy(problem, case):
    A, B, ev1, ev2, D, O = problem
    w, use_d, use_o = CASES[case]
    dcomm, orient = (D if use_d else None), (O if use_o else None)
    C = solve_fmap(A, B, ev1, ev2, w, dcomm_ops=dcomm, orient_ops=orient)
    assert C.shape == (K2, K1)  # fmap_12 is (k2, k1)

    def energy(x):
        return naive_energy(x.reshape(K2, K1), A, B, ev1, ev2, w, dcomm, orient)

    def fd_grad(x, h=1e-6):
        g = np.empty_like(x)
        for i in range(x.size):
            d = np.zeros_like(x)
            d[i] = h
            g[i] = (energy(x + d) - energy(x - d)) / (2 * h)
        return g

    g0 = np.linalg.norm(fd_grad(np.zeros(K1 * K2)))
    g = np.linalg.norm(fd_grad(C.ravel()))
    assert g < 1e-6 * g0  # the gradient vanishes at the solution
    # and a generic optimizer does not find anything lower
    res = scipy.optimize.minimize(energy, np.zeros(K1 * K2), method="BFGS", options={"gtol": 1e-10})
    assert energy(C.ravel()) <= res.fun + 1e-9
    np.testing.assert_allclose(C.ravel(), res.x, atol=1e-4)


def test_orientation_term_direction_matters(problem):
    """Preserving and reversing orientation terms give different maps (the sign is used)."""
    A, B, ev1, ev2, D, O = problem
    Cp = solve_fmap(A, B, ev1, ev2, CASES["all-terms"][0], dcomm_ops=D, orient_ops=O)
    Cr = solve_fmap(A, B, ev1, ev2, CASES["reversing"][0], dcomm_ops=D, orient_ops=O)
    assert np.abs(Cp - Cr).max() > 1e-3


def test_exact_descriptors_give_the_identity():
    """Shape matched to itself: identical descriptor coefficients and spectra -> C = I."""
    rng = np.random.default_rng(8)
    k = 6
    A = rng.standard_normal((k, 20))
    ev = np.sort(rng.random(k))
    D = rng.standard_normal((20, k, k))
    D = D + D.transpose(0, 2, 1)
    C = solve_fmap(A, A, ev, ev, FmapWeights(dcomm=0.1), dcomm_ops=(D, D))
    np.testing.assert_allclose(C, np.eye(k), atol=1e-6)


def test_weights_scale_free():
    """Each term is normalized, so scaling the descriptors does not change the solution."""
    rng = np.random.default_rng(9)
    A, B = rng.standard_normal((4, 6)), rng.standard_normal((5, 6))
    ev1, ev2 = np.sort(rng.random(4)), np.sort(rng.random(5))
    w = FmapWeights(lap=0.2)
    np.testing.assert_allclose(solve_fmap(A, B, ev1, ev2, w), solve_fmap(10 * A, 10 * B, ev1, ev2, w), atol=1e-8)


def test_solver_input_errors():
    A = np.zeros((3, 4))
    with pytest.raises(ValueError, match="same number of descriptors"):
        solve_fmap(A, np.zeros((3, 5)), np.arange(3.0), np.arange(3.0), FmapWeights())
    with pytest.raises(ValueError, match="fewer eigenvalues"):
        solve_fmap(A, np.zeros((3, 4)), np.arange(2.0), np.arange(3.0), FmapWeights())
