"""Eigenbases: M-orthonormality, the sphere's spectrum, errors, and the CUDA path."""

from __future__ import annotations

import logging

import re
import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
from helpers import bumpy, grid, icosphere, permuted_copy, point_cloud, write_off

from shapecorr.core import SettingsError, TooFewPointsError
from shapecorr.spectral import Eigenbasis, eigenbasis, eigh_generalized, laplacian


def _cuda_available():
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # pragma: no cover
        return False


@pytest.mark.parametrize("shape_fn, kind", [
    (lambda: bumpy(2), "auto"),
    (lambda: grid(8, 6), "cotan"),
    (lambda: point_cloud(bumpy(2)), "auto"),
], ids=["mesh-robust", "open-cotan", "pointcloud"])
def test_basis_is_m_orthonormal_and_solves_the_problem(shape_fn, kind):
    s = shape_fn()
    k = 20
    b = eigenbasis(s, k, laplacian_kind=kind)
    L, mass = laplacian(s, kind)
    assert b.evals.shape == (k,) and b.evecs.shape == (s.n_vertices, k)
    gram = b.evecs.T @ (mass[:, None] * b.evecs)
    np.testing.assert_allclose(gram, np.eye(k), atol=1e-8)  # Phi^T M Phi = I
    resid = L @ b.evecs - mass[:, None] * b.evecs * b.evals[None, :]
    assert np.abs(resid).max() < 1e-6 * max(b.evals.max(), 1)
    assert np.all(np.diff(b.evals) >= -1e-10) and b.evals[0] == pytest.approx(0, abs=1e-8)
    assert np.all(b.evals[1:] > 0)
    # the first eigenvector is constant (connected shape)
    assert np.ptp(b.evecs[:, 0]) < 1e-6 * np.abs(b.evecs[:, 0]).max()


def test_matches_dense_generalized_solver():
    s = bumpy(2)
    L, mass = laplacian(s)
    b = eigh_generalized(L, mass, 12)
    dense = scipy.linalg.eigh(L.toarray(), np.diag(mass), eigvals_only=True, subset_by_index=[0, 11])
    np.testing.assert_allclose(b.evals, dense, rtol=1e-8, atol=1e-9)


def test_unit_sphere_spectrum_is_l_l_plus_one():
    """Eigenvalues l(l+1) with multiplicity 2l+1: 0 | 2 x3 | 6 x5 | 12 x7 (unit radius; the
    icosphere is scaled so that its area is 4 pi). Tolerance: 3 % (discretization)."""
    s = icosphere(3)
    s = s.copy(vertices=s.vertices * np.sqrt(4 * np.pi / s.area))
    b = eigenbasis(s, 16)
    expect = np.repeat([0.0, 2.0, 6.0, 12.0], [1, 3, 5, 7])
    np.testing.assert_allclose(b.evals, expect, rtol=0.03, atol=1e-8)
    # the multiplicities: the clusters are tight compared to the gaps between them
    for lo, hi in [(1, 4), (4, 9), (9, 16)]:
        cluster = b.evals[lo:hi]
        assert np.ptp(cluster) < 0.02 * cluster.mean()


def test_scaling_a_shape_scales_the_spectrum():
    s = bumpy(2)
    b1 = eigenbasis(s, 10)
    b2 = eigenbasis(s.copy(vertices=s.vertices * 2.0), 10)
    np.testing.assert_allclose(b2.evals, b1.evals / 4.0, rtol=1e-7, atol=1e-10)


def test_basis_follows_a_vertex_permutation():
    """Same eigenvectors, permuted, with the same (deterministic) signs."""
    s = bumpy(2)
    t, perm = permuted_copy(s, seed=5)
    b1, b2 = eigenbasis(s, 15), eigenbasis(t, 15)
    np.testing.assert_allclose(b2.evals, b1.evals, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(b2.evecs, b1.evecs[perm], atol=1e-6)


def test_too_few_points_for_k():
    s = icosphere(1)  # 42 vertices
    with pytest.raises(TooFewPointsError, match="too few for an eigenbasis of size k=41"):
        eigenbasis(s, 41)
    with pytest.raises(TooFewPointsError, match="k <= 40"):
        eigenbasis(s, 45)
    L, mass = laplacian(s)
    with pytest.raises(TooFewPointsError):
        eigh_generalized(L, mass, 42)
    with pytest.raises(ValueError, match=">= 1"):
        eigh_generalized(L, mass, 0)
    assert eigenbasis(s, 40).k == 40  # the largest allowed basis works


def test_unknown_device_is_refused():
    L, mass = laplacian(icosphere(1))
    with pytest.raises(ValueError, match="unknown device"):
        eigh_generalized(L, mass, 5, device="tpu")


@pytest.mark.skipif(_cuda_available(), reason="checks the message shown without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error():
    L, mass = laplacian(icosphere(1))
    with pytest.raises(SettingsError, match="no CUDA device"):
        eigh_generalized(L, mass, 5, device="cuda", solver="dense")


def test_unknown_solver_is_refused():
    L, mass = laplacian(icosphere(1))
    with pytest.raises(ValueError, match="unknown eigensolver"):
        eigh_generalized(L, mass, 5, solver="lobpcg")


def test_the_default_solver_needs_no_gpu_on_any_device():
    """"auto" is the shift-invert solver on CUDA too (faster there, and accurate on meshes with
    vertices of tiny mass): the same basis whatever the device, without touching the GPU."""
    L, mass = laplacian(bumpy(2))
    ref = eigh_generalized(L, mass, 12)
    on_cuda = eigh_generalized(L, mass, 12, device="cuda")
    np.testing.assert_array_equal(on_cuda.evals, ref.evals)
    np.testing.assert_array_equal(on_cuda.evecs, ref.evecs)


def test_a_dense_solve_spoiled_by_a_tiny_mass_is_replaced(caplog):
    """A vertex of tiny mass (decimated proxies have them) makes M^-1/2 L M^-1/2 enormous: the
    dense eigenvalues' absolute error then exceeds the low spectrum. The dense solver must notice
    (error bound against lambda_k) and return the shift-invert basis instead, with a warning."""
    from shapecorr.spectral.eigen import _eigh_dense_torch

    L, mass = laplacian(bumpy(2))
    mass = mass.copy()
    mass[7] = 1e-14 * mass.mean()
    ref = eigh_generalized(L, mass, 20, solver="shift-invert")
    raw, bound = _eigh_dense_torch(L, mass, 20, "cpu")
    assert bound > 1e-6 * ref.evals[-1]  # the raw dense solve is not to be trusted here
    with caplog.at_level(logging.WARNING, logger="shapecorr.spectral.eigen"):
        dense = eigh_generalized(L, mass, 20, solver="dense")
    assert "error bound" in caplog.text
    np.testing.assert_allclose(dense.evals, ref.evals, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(dense.evecs, ref.evecs, atol=1e-8)


def test_eigenbasis_helpers():
    s = bumpy(2)
    b = eigenbasis(s, 20)
    assert isinstance(b, Eigenbasis) and b.k == 20
    t = b.truncate(8)
    assert t.k == 8 and t.evecs.shape == (s.n_vertices, 8)
    f = b.evecs[:, :5] @ np.arange(1.0, 6.0)  # a band-limited function
    coeffs = b.project(f)
    np.testing.assert_allclose(coeffs[:5], np.arange(1.0, 6.0), atol=1e-8)
    np.testing.assert_allclose(coeffs[5:], 0, atol=1e-8)
    np.testing.assert_allclose(b.unproject(coeffs), f, atol=1e-8)
    F = np.stack([f, 2 * f], 1)
    np.testing.assert_allclose(b.project(F, k=5), np.stack([np.arange(1.0, 6.0)] * 2, 1) * [1, 2], atol=1e-8)


def test_a_hard_matrix_is_still_solved():
    """A mesh with a component of a few vertices far smaller than the rest (a loose piece,
    attached to its nearest vertex of the rest: stiff springs, tiny masses) still yields an
    M-orthonormal basis, with one zero mode (the speck takes no eigenvalue of its own)."""
    from shapecorr import Shape

    a, b = bumpy(2), icosphere(1)
    v = np.vstack([a.vertices, b.vertices * 1e-3 + 5.0])
    f = np.vstack([a.faces, b.faces + a.n_vertices])
    s = Shape(v, f)
    basis = eigenbasis(s, 10)
    gram = basis.evecs.T @ (basis.mass[:, None] * basis.evecs)
    np.testing.assert_allclose(gram, np.eye(10), atol=1e-6)
    assert s.loose_piece_faces.sum() == b.n_faces
    assert np.sum(basis.evals < 1e-6) == 1


def test_dense_torch_path_agrees_with_arpack_on_cpu():
    """The dense algorithm the CUDA path uses (M^-1/2 L M^-1/2, torch eigh), run on the CPU:
    same eigenvalues and the same deterministic signs as the shift-invert solver."""
    from shapecorr.spectral.eigen import _eigh_dense_torch

    s = bumpy(2)
    L, mass = laplacian(s)
    ref = eigh_generalized(L, mass, 20)
    dense, bound = _eigh_dense_torch(L, mass, 20, "cpu")
    assert bound <= 1e-6 * ref.evals[-1]  # a well-shaped mesh: the dense solve is kept
    np.testing.assert_allclose(eigh_generalized(L, mass, 20, solver="dense").evals, dense.evals)
    np.testing.assert_allclose(dense.evals, ref.evals, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(dense.evecs, ref.evecs, atol=1e-8)


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda_available(), reason="needs CUDA")
def test_cuda_basis_matches_cpu_up_to_sign():
    s = bumpy(3)
    L, mass = laplacian(s)
    cpu = eigh_generalized(L, mass, 30, device="cpu")
    gpu = eigh_generalized(L, mass, 30, device="cuda", solver="dense")
    np.testing.assert_allclose(gpu.evals, cpu.evals, rtol=1e-7, atol=1e-8)
    signs = np.sign((gpu.evecs * cpu.evecs * mass[:, None]).sum(0))
    assert np.all(np.abs(signs) == 1)
    np.testing.assert_allclose(gpu.evecs * signs, cpu.evecs, atol=1e-6)
    gram = gpu.evecs.T @ (mass[:, None] * gpu.evecs)
    np.testing.assert_allclose(gram, np.eye(30), atol=1e-8)
    # and the torch cotan Laplacian on CUDA equals the CPU one
    from shapecorr.spectral import cotan_laplacian, cotan_laplacian_torch

    Lt, mt = cotan_laplacian_torch(s.vertices, s.faces, device="cuda")
    Lc, mc = cotan_laplacian(s.vertices, s.faces)
    np.testing.assert_allclose(Lt.to_dense().cpu().numpy(), Lc.toarray(), atol=1e-12)
    np.testing.assert_allclose(mt.cpu().numpy(), mc, atol=1e-14)
    assert sp.issparse(Lc)


# ----------------------------------------------------------------------------- imperfect meshes
def _unit_sphere(subdivisions: int = 3):
    s = icosphere(subdivisions)
    return s.copy(vertices=s.vertices * np.sqrt(4 * np.pi / s.area))


def test_zero_area_face_loads_with_a_warning_and_the_basis_is_sane(tmp_path):
    """A unit sphere with one face collapsed to zero area (a vertex moved onto the opposite
    edge): loading warns once and drops the face, strict loading refuses, and the basis is the
    sphere's (l(l+1), within 3 %), the same whether the face was dropped by loading or is still
    in an in-memory shape, and close to robust_laplacian's on the faces as they are."""
    from shapecorr import Shape, load
    from shapecorr.core import DegenerateFacesError, ShapeWarning
    from shapecorr.spectral import robust_mesh_laplacian

    s = _unit_sphere()
    a, b, c = s.faces[0]
    v = s.vertices.copy()
    v[c] = 0.5 * (v[a] + v[b])
    p = write_off(tmp_path / "collapsed.off", v, s.faces)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        loaded = load(p)
    assert [w.message.kind for w in rec] == ["degenerate_faces", "open_boundary"]
    assert issubclass(rec[0].category, ShapeWarning)
    assert re.match(rf"{re.escape(str(p))}: 1 of 1280 faces are degenerate .*; dropped them", str(rec[0].message))
    with pytest.raises(DegenerateFacesError, match="strict"):
        load(p, strict=True)
    assert loaded.n_vertices == s.n_vertices and loaded.n_faces == s.n_faces - 1
    b_loaded = eigenbasis(loaded, 16)
    b_memory = eigenbasis(Shape(v, s.faces), 16)
    np.testing.assert_allclose(b_memory.evals, b_loaded.evals, rtol=1e-10, atol=1e-10)
    assert np.all(np.isfinite(b_loaded.evecs)) and np.all(b_loaded.mass > 0)
    gram = b_loaded.evecs.T @ (b_loaded.mass[:, None] * b_loaded.evecs)
    np.testing.assert_allclose(gram, np.eye(16), atol=1e-8)
    np.testing.assert_allclose(b_loaded.evals, np.repeat([0.0, 2.0, 6.0, 12.0], [1, 3, 5, 7]),
                               rtol=0.03, atol=1e-8)
    L, mass = robust_mesh_laplacian(v, s.faces)  # the zero-area face kept, mollified
    np.testing.assert_allclose(eigh_generalized(L, mass, 16).evals, b_loaded.evals, rtol=2e-3, atol=1e-8)


def test_unreferenced_vertices_take_the_values_of_their_nearest_vertex():
    """Extra vertices used by no face (one far away, one near the surface) leave the spectrum
    as it was and copy the eigenvector values of their nearest surface vertex."""
    from shapecorr import Shape

    s = bumpy(2)
    extra = np.array([[0.0, 0.0, 5.0], s.vertices[7] * 1.01])
    t = Shape(np.vstack([s.vertices, extra]), s.faces)
    b0, b = eigenbasis(s, 15), eigenbasis(t, 15)
    np.testing.assert_allclose(b.evals, b0.evals, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b.evecs[:-2], b0.evecs, atol=1e-6)
    nearest = [int(np.argmin(np.linalg.norm(s.vertices - extra[0], axis=1))), 7]
    np.testing.assert_allclose(b.evecs[-2:], b0.evecs[nearest], rtol=1e-5, atol=1e-8)
    assert np.all(b.mass > 0)


def test_a_triangle_soup_has_the_spectrum_of_its_welded_mesh():
    """Every face with its own three vertices (as STL stores meshes): repeated vertices are
    joined, so the basis is the connected mesh's, copied to each repeat."""
    from shapecorr import Shape

    s = bumpy(2)
    soup = Shape(s.vertices[s.faces.ravel()], np.arange(3 * s.n_faces).reshape(-1, 3))
    assert soup.n_components == 1 and soup.n_duplicate_vertices == 3 * s.n_faces - s.n_vertices
    b0, b = eigenbasis(s, 15), eigenbasis(soup, 15)
    np.testing.assert_allclose(b.evals, b0.evals, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.evecs, b0.evecs[s.faces.ravel()], atol=1e-6)


def test_two_components_have_the_union_of_their_spectra():
    """Unit sphere + a sphere of radius 1/2 apart: 0 twice, then l(l+1) and 4 l(l+1)."""
    from shapecorr import Shape

    a = _unit_sphere(3)
    v = np.vstack([a.vertices, a.vertices * 0.5 + [4.0, 0, 0]])
    two = Shape(v, np.vstack([a.faces, a.faces + a.n_vertices]))
    assert two.n_components == 2
    b = eigenbasis(two, 11)
    expect = np.sort(np.r_[np.repeat([0.0, 2.0, 6.0], [1, 3, 5]), np.repeat([0.0, 8.0], [1, 3])])[:11]
    np.testing.assert_allclose(b.evals, expect, rtol=0.03, atol=1e-8)
    gram = b.evecs.T @ (b.mass[:, None] * b.evecs)
    np.testing.assert_allclose(gram, np.eye(11), atol=1e-8)

