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


def _resolvent_mask(ev1, ev2, gamma=0.5):
    """|R(l1_j) - R(l2_i)|^2, R(x) = 1 / (x^gamma - i), both spectra over their common maximum
    (complex arithmetic, independently of the solver's real form)."""
    top = max(np.abs(ev1).max(), np.abs(ev2).max())
    r1, r2 = 1 / ((np.abs(ev1) / top) ** gamma - 1j), 1 / ((np.abs(ev2) / top) ** gamma - 1j)
    return np.abs(r1[None, :] - r2[:, None]) ** 2


def _p_eff(F):
    """Effective number of descriptors from the eigenvalues of the Gram matrix (no constant mode)."""
    s = np.linalg.svd(F[1:], compute_uv=False) ** 2  # eigenvalues of F[1:]^T F[1:]
    return s.sum() ** 2 / np.sum(s ** 2)


def naive_energy(C, A, B, ev1, ev2, w, dcomm=None, orient=None):
    """The energy of shapecorr.fmap.solve, written term by term from its docstring (with the
    solver's scale-free normalization of each term, either choice)."""
    n, m = K1 * K2, min(K1, K2)
    mask = (ev1[None, :K1] - ev2[:K2, None]) ** 2 if w.lap_mask == "squared" else _resolvent_mask(ev1[:K1], ev2[:K2])
    if w.scales == "canonical":
        p_eff = (_p_eff(A) + _p_eff(B)) / 2
        descr_size = m / K1 * np.sum(A[1:] ** 2) / p_eff
        mask_size, op = m * mask.mean(), m / p_eff
    else:
        descr_size, mask_size, op = np.sum(A ** 2), np.linalg.norm(mask), 1.0
    e = w.descr / descr_size * np.sum((C @ A - B) ** 2)
    e += w.lap * np.sum(C ** 2 * mask) / mask_size
    if dcomm is not None:
        e += w.dcomm * _commutator_energy(C, *dcomm) / (_trace_of_normal(*dcomm) / n * op)
    if orient is not None:
        X, Y = orient
        Y = -Y if w.reversing else Y
        # canonical: the operators' size without the trace products (pyFM's "skew" size)
        size = (K2 * np.sum(X ** 2) + K1 * np.sum(Y ** 2)) if w.scales == "canonical" else _trace_of_normal(X, Y)
        e += w.orient * _commutator_energy(C, X, Y) / (size / n * op)
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
    "canonical": (FmapWeights(descr=1.0, lap=0.05, dcomm=0.4, orient=0.7, scales="canonical"), True, True),
    "resolvent": (FmapWeights(descr=1.0, lap=0.3, dcomm=0.0, orient=0.0, lap_mask="resolvent"), False, False),
    "canonical-resolvent": (FmapWeights(descr=1.0, lap=0.1, dcomm=1.0, orient=1.0, scales="canonical",
                                        lap_mask="resolvent"), True, True),
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


@pytest.mark.parametrize("scales", ["frobenius", "canonical"])
def test_weights_scale_free(scales):
    """Each term is normalized, so scaling the descriptors does not change the solution."""
    rng = np.random.default_rng(9)
    A, B = rng.standard_normal((4, 6)), rng.standard_normal((5, 6))
    ev1, ev2 = np.sort(rng.random(4)), np.sort(rng.random(5))
    w = FmapWeights(lap=0.2, scales=scales)
    np.testing.assert_allclose(solve_fmap(A, B, ev1, ev2, w), solve_fmap(10 * A, 10 * B, ev1, ev2, w), atol=1e-8)


def test_canonical_scales_strengthen_the_descriptor_term_with_many_independent_descriptors():
    """With p independent descriptors the canonical descriptor term is about p times stronger
    against the Laplacian term: the map follows the descriptors more closely than with frobenius."""
    rng = np.random.default_rng(10)
    k, p = 6, 30
    A = rng.standard_normal((k, p))
    B = rng.standard_normal((k, k)) @ A * 0.3 + 0.1 * rng.standard_normal((k, p))
    ev = np.sort(rng.random(k)) * 5
    fits = [np.sum((solve_fmap(A, B, ev, ev + 1.0, FmapWeights(lap=1.0, scales=s)) @ A - B) ** 2)
            for s in ("frobenius", "canonical")]
    assert fits[1] < 0.5 * fits[0]


def test_canonical_resolvent_minimizes_pyfm_energy():
    """Cross-check with pyFM (its own energy and normalizers, ``normalize_weights=True`` and the
    resolvent mask): our exact solution is a stationary point of pyFM's energy and no worse than
    pyFM's L-BFGS minimizer."""
    weights_mod = pytest.importorskip("pyFM.optimize.weights")
    base = pytest.importorskip("pyFM.optimize.base_functions")
    rng = np.random.default_rng(11)
    k1, k2, p = 5, 6, 8
    A, B = rng.standard_normal((k1, p)), rng.standard_normal((k2, p))
    ev1, ev2 = np.sort(rng.random(k1)) * 10, np.sort(rng.random(k2)) * 10
    sym = lambda M: M + M.transpose(0, 2, 1)  # noqa: E731
    anti = lambda M: M - M.transpose(0, 2, 1)  # noqa: E731
    D = (sym(rng.standard_normal((p, k1, k1))), sym(rng.standard_normal((p, k2, k2))))
    O = (anti(rng.standard_normal((p, k1, k1))), anti(rng.standard_normal((p, k2, k2))))
    w = np.array([1.0, 0.1, 1.0, 1.0])
    mask = weights_mod.resolvent_mask(ev1, ev2)
    taus = weights_mod.canonical_taus(A, B, D, O, mask)
    args = tuple(w / taus) + (A, B, D, O, mask)
    C = solve_fmap(A, B, ev1, ev2, FmapWeights(*w, scales="canonical", lap_mask="resolvent"), dcomm_ops=D,
                   orient_ops=O, ridge=0.0)
    _, grad = base.energy_and_grad_std(C.ravel(), *args)
    _, grad0 = base.energy_and_grad_std(np.zeros(k1 * k2), *args)
    assert np.linalg.norm(grad) < 1e-8 * np.linalg.norm(grad0)
    res = scipy.optimize.minimize(lambda x: base.energy_func_std(x, *args), np.zeros(k1 * k2), method="BFGS",
                                  options={"gtol": 1e-12})
    assert base.energy_func_std(C.ravel(), *args) <= res.fun + 1e-12


def test_energy_settings_are_validated():
    with pytest.raises(ValueError, match="unknown scales"):
        FmapWeights(scales="pyfm")
    with pytest.raises(ValueError, match="unknown lap_mask"):
        FmapWeights(lap_mask="bounded")
    with pytest.raises(ValueError, match="weight lap"):
        FmapWeights(lap=-1.0)
    with pytest.raises(ValueError, match="resolvent_gamma"):
        FmapWeights(resolvent_gamma=0.0)


def test_solver_input_errors():
    A = np.zeros((3, 4))
    with pytest.raises(ValueError, match="same number of descriptors"):
        solve_fmap(A, np.zeros((3, 5)), np.arange(3.0), np.arange(3.0), FmapWeights())
    with pytest.raises(ValueError, match="fewer eigenvalues"):
        solve_fmap(A, np.zeros((3, 4)), np.arange(2.0), np.arange(3.0), FmapWeights())
