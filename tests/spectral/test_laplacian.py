"""Laplacians and mass matrices: analytic values, invariants, and peer libraries."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from shapecorr.spectral import (
    cotan_laplacian,
    cotan_laplacian_torch,
    laplacian,
    point_cloud_laplacian,
    robust_mesh_laplacian,
)

from helpers import bumpy, capsule, grid, icosphere, one_triangle, permuted_copy, point_cloud

SQ3 = np.sqrt(3.0)


def _torch_to_dense(L):
    return L.to_dense().cpu().numpy()


def naive_cotan(vertices, faces):
    """Reference: a loop over faces, w_ij = (cot alpha + cot beta) / 2, L = D - W (weak, PSD);
    lumped mass = one third of the incident face areas."""
    n = len(vertices)
    L = np.zeros((n, n))
    mass = np.zeros(n)
    for f in faces:
        for c in range(3):
            i, j, o = f[(c + 1) % 3], f[(c + 2) % 3], f[c]  # edge (i, j) opposite corner o
            a, b = vertices[i] - vertices[o], vertices[j] - vertices[o]
            cot = np.dot(a, b) / np.linalg.norm(np.cross(a, b))
            L[i, j] -= cot / 2
            L[j, i] -= cot / 2
            L[i, i] += cot / 2
            L[j, j] += cot / 2
        area = 0.5 * np.linalg.norm(np.cross(vertices[f[1]] - vertices[f[0]], vertices[f[2]] - vertices[f[0]]))
        mass[f] += area / 3
    return L, mass


# ----------------------------------------------------------------------------- analytic
@pytest.mark.parametrize("impl", ["numpy", "torch"])
def test_one_right_triangle_analytic(impl):
    """Right angle at v0 (cot 0), 45 degrees at v1 and v2 (cot 1): w01 = w02 = 1/2, w12 = 0."""
    s = one_triangle("right")
    if impl == "numpy":
        L, mass = cotan_laplacian(s.vertices, s.faces)
        L = L.toarray()
    else:
        Lt, mt = cotan_laplacian_torch(s.vertices, s.faces)
        L, mass = _torch_to_dense(Lt), mt.numpy()
    expect = np.array([[1.0, -0.5, -0.5], [-0.5, 0.5, 0.0], [-0.5, 0.0, 0.5]])
    np.testing.assert_allclose(L, expect, atol=1e-14)
    np.testing.assert_allclose(mass, [1 / 6] * 3, atol=1e-15)


def test_one_equilateral_triangle_analytic():
    """All angles 60 degrees: every weight is cot(60)/2 = 1/(2 sqrt 3); area sqrt(3)/4."""
    s = one_triangle("equilateral")
    L, mass = cotan_laplacian(s.vertices, s.faces)
    w = 1 / (2 * SQ3)
    expect = np.full((3, 3), -w) + np.eye(3) * 3 * w
    np.testing.assert_allclose(L.toarray(), expect, atol=1e-14)
    np.testing.assert_allclose(mass, [SQ3 / 12] * 3, atol=1e-15)


def test_robust_laplacian_of_one_triangle_is_the_cotan_one():
    s = one_triangle("right")
    L, mass = robust_mesh_laplacian(s.vertices, s.faces, mollify=0.0)
    np.testing.assert_allclose(L.toarray(), [[1.0, -0.5, -0.5], [-0.5, 0.5, 0.0], [-0.5, 0.0, 0.5]], atol=1e-12)
    np.testing.assert_allclose(mass, [1 / 6] * 3, atol=1e-12)


# ----------------------------------------------------------------------------- invariants
SHAPES = {
    "bumpy": lambda: bumpy(2),
    "grid": lambda: grid(6, 5),
    "capsule": lambda: capsule(count=(8, 8)),
}


@pytest.mark.parametrize("name, kind", [(n, k) for n in sorted(SHAPES) for k in ("robust", "cotan")]
                         + [("bumpy", "pointcloud")])
def test_laplacian_invariants(name, kind):
    # (the point-cloud Laplacian is checked on the evenly sampled blob only: the coarse capsule's
    # vertices leave a gap along the cylinder, which rightly splits its k-NN graph in two)
    s = SHAPES[name]()
    L, mass = laplacian(s, kind)
    n = s.n_vertices
    assert sp.issparse(L) and L.shape == (n, n) and mass.shape == (n,)
    np.testing.assert_allclose(L @ np.ones(n), 0, atol=1e-10)  # constants in the kernel
    assert abs(L - L.T).max() < 1e-12  # symmetric
    evals = np.linalg.eigvalsh(L.toarray())
    assert evals.min() > -1e-10 * max(evals.max(), 1)  # PSD
    assert np.sum(np.abs(evals) < 1e-9 * evals.max()) == 1  # connected: one zero mode
    assert np.all(mass > 0)
    if kind == "pointcloud":  # a point cloud's mass approximates the surface area
        assert mass.sum() == pytest.approx(s.area, rel=0.1)
    else:
        assert mass.sum() == pytest.approx(s.area, rel=1e-10)  # lumped mass sums to the area


@pytest.mark.parametrize("shape_fn", [lambda: bumpy(2), lambda: grid(6, 5)], ids=["bumpy", "grid"])
def test_cotan_numpy_and_torch_match_a_naive_loop(shape_fn):
    s = shape_fn()
    L_ref, m_ref = naive_cotan(s.vertices, s.faces)
    L, mass = cotan_laplacian(s.vertices, s.faces)
    np.testing.assert_allclose(L.toarray(), L_ref, atol=1e-12)
    np.testing.assert_allclose(mass, m_ref, atol=1e-15)
    Lt, mt = cotan_laplacian_torch(s.vertices, s.faces, device="cpu")
    np.testing.assert_allclose(_torch_to_dense(Lt), L_ref, atol=1e-12)
    np.testing.assert_allclose(mt.numpy(), m_ref, atol=1e-15)


def test_torch_cotan_float32():
    import torch

    s = bumpy(2)
    L64, m64 = cotan_laplacian(s.vertices, s.faces)
    Lt, mt = cotan_laplacian_torch(s.vertices, s.faces, dtype=torch.float32)
    assert Lt.dtype == torch.float32 and mt.dtype == torch.float32
    np.testing.assert_allclose(_torch_to_dense(Lt), L64.toarray(), rtol=1e-4, atol=1e-4)


def test_cotan_matches_potpourri3d():
    """Peer library (geometry-central): same weak cotangent Laplacian and lumped areas."""
    pp3d = pytest.importorskip("potpourri3d")
    s = bumpy(2)
    L, mass = cotan_laplacian(s.vertices, s.faces)
    np.testing.assert_allclose(L.toarray(), pp3d.cotan_laplacian(s.vertices, s.faces).toarray(), atol=1e-12)
    np.testing.assert_allclose(mass, pp3d.vertex_areas(s.vertices, s.faces), atol=1e-14)


def test_robust_laplacian_cross_check():
    """Ours equals robust_laplacian called directly, with the same mollification (tolerance:
    round-off only); and on an intrinsically Delaunay mesh it is the cotan Laplacian."""
    robust_laplacian = pytest.importorskip("robust_laplacian")
    s = bumpy(2)
    L, mass = laplacian(s, "robust")
    L_ref, M_ref = robust_laplacian.mesh_laplacian(s.vertices, s.faces, mollify_factor=1e-5)
    assert abs(L - L_ref).max() < 1e-12
    np.testing.assert_allclose(mass, M_ref.diagonal(), rtol=1e-12)
    ico = icosphere(2)  # nearly regular: already Delaunay, so robust == cotan
    Lr, mr = laplacian(ico, "robust")
    Lc, mc = laplacian(ico, "cotan")
    assert abs(Lr - Lc).max() < 1e-8
    np.testing.assert_allclose(mr, mc, rtol=1e-8)


def test_point_cloud_laplacian_cross_check():
    robust_laplacian = pytest.importorskip("robust_laplacian")
    s = bumpy(2)
    L, mass = point_cloud_laplacian(s.vertices, n_neighbors=20)
    L_ref, M_ref = robust_laplacian.point_cloud_laplacian(s.vertices, mollify_factor=1e-5, n_neighbors=20)
    assert abs(L - L_ref).max() < 1e-12
    np.testing.assert_allclose(mass, M_ref.diagonal(), rtol=1e-12)
    La, ma = laplacian(point_cloud(s))  # "auto" picks the point-cloud Laplacian for a cloud
    L30, m30 = point_cloud_laplacian(s.vertices)
    assert abs(La - L30).max() < 1e-12


def test_laplacian_is_permutation_equivariant():
    s = bumpy(2)
    t, perm = permuted_copy(s, seed=4)
    for kind in ("robust", "cotan"):
        L1, m1 = laplacian(s, kind)
        L2, m2 = laplacian(t, kind)
        assert abs(L2 - L1[perm][:, perm]).max() < 1e-10
        np.testing.assert_allclose(m2, m1[perm], rtol=1e-10)


def test_unreferenced_vertex_is_attached_to_its_nearest_surface_vertex():
    """An isolated vertex gets a stiff spring to its nearest surface vertex and a share of its
    mass (the total, the area, is unchanged); the surface's own block is untouched."""
    from shapecorr import Shape

    s = icosphere(1)
    far = np.array([[0.0, 0.0, 3.0]])  # nearest surface vertex: the top one
    nearest = int(np.argmax(s.vertices[:, 2]))
    iso = Shape(np.vstack([s.vertices, far]), s.faces)
    for kind in ("robust", "cotan"):
        L0, m0 = laplacian(s, kind)
        L, mass = laplacian(iso, kind)
        assert np.all(mass > 0) and mass[-1] == pytest.approx(1e-6 * m0[nearest])
        assert mass.sum() == pytest.approx(m0.sum(), rel=1e-12)
        np.testing.assert_allclose(L @ np.ones(43), 0, atol=1e-10)
        w = L[42, 42]
        assert w > 0 and L[42, nearest] == -w and L[42].nnz == 2  # one spring, nothing else
        D = (L[:42, :42] - L0).toarray()
        np.testing.assert_allclose(D, np.diag(np.where(np.arange(42) == nearest, w, 0)), atol=1e-12)


def test_degenerate_faces_are_left_out_of_every_kind():
    """A zero-area face and one with a repeated vertex, kept in the shape's faces: the robust and
    the cotan Laplacian are those of the mesh without them (the cotan one would otherwise get
    infinite weights)."""
    from shapecorr import Shape

    s = bumpy(2)
    bad = Shape(s.vertices, np.vstack([s.faces, [[0, 0, 1], [0, 1, 0]]]))
    assert bad.degenerate_faces().tolist() == [s.n_faces, s.n_faces + 1]
    for kind in ("robust", "cotan"):
        L0, m0 = laplacian(s, kind)
        L, mass = laplacian(bad, kind)
        assert abs(L - L0).max() < 1e-12 and np.allclose(mass, m0, rtol=1e-12)


def test_a_mesh_of_only_degenerate_faces_has_no_surface():
    from shapecorr import Shape
    from shapecorr.core import DegenerateFacesError

    flat = Shape([[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 1, 1]], [[0, 1, 2], [1, 2, 1]])
    with pytest.raises(DegenerateFacesError, match="point cloud"):
        laplacian(flat)


def test_repeated_points_of_a_point_cloud_are_joined():
    s = point_cloud(bumpy(2))
    from shapecorr import Shape

    doubled = Shape(np.vstack([s.vertices, s.vertices[:10]]))
    L0, m0 = laplacian(s)
    L, mass = laplacian(doubled)
    assert mass.sum() == pytest.approx(m0.sum(), rel=1e-12)
    np.testing.assert_allclose(mass[162:], 1e-6 * m0[:10])
    assert abs(L[:162, :162] - L0 - sp.diags(np.r_[np.full(10, L[162, 162]), np.zeros(152)])).max() < 1e-12


def test_laplacian_argument_errors():
    with pytest.raises(ValueError, match="unknown Laplacian kind"):
        laplacian(bumpy(1), "harmonic")
    with pytest.raises(ValueError, match="point cloud"):
        laplacian(point_cloud(bumpy(1)), "cotan")


def _sphere_with_debris(n_pieces: int):
    """An icosphere and ``n_pieces`` tiny tetrahedra floating around it (scanner debris)."""
    from shapecorr import Shape

    s = icosphere(2)
    rng = np.random.default_rng(0)
    v, f = [s.vertices], [s.faces]
    tet = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 1], [1, 3, 2]])
    n = s.n_vertices
    for _ in range(n_pieces):
        c = rng.normal(size=3)
        c *= 1.5 / np.linalg.norm(c)
        v.append(c + 0.01 * rng.normal(size=(4, 3)))
        f.append(tet + n)
        n += 4
    return s, Shape(np.vstack(v), np.vstack(f))


def test_loose_pieces_do_not_take_eigenvalues():
    """Forty specks around a sphere: without special care each would add a zero eigenvalue
    (their indicator functions would fill the low spectrum); they follow their nearest sphere
    vertex instead, and the sphere's spectrum is kept."""
    from shapecorr.spectral import eigenbasis

    clean, debris = _sphere_with_debris(40)
    assert debris.n_components == 41 and debris.loose_piece_faces.sum() == 160
    b0 = eigenbasis(clean, 10, cache=False)
    b1 = eigenbasis(debris, 10, cache=False)
    np.testing.assert_allclose(b1.evals, b0.evals, rtol=1e-4, atol=1e-6)
    assert (b1.evals > 1e-8).sum() == 9  # one zero eigenvalue: one component
    (issue,) = [i for i in debris.issues() if i.kind == "components"]
    assert "40 are loose pieces" in issue.done


def test_large_components_are_kept_as_they_are():
    """Two spheres of comparable size are two components of the shape, not debris."""
    from shapecorr import Shape

    a = icosphere(2)
    two = Shape(np.vstack([a.vertices, 0.5 * a.vertices + [3.0, 0, 0]]), np.vstack([a.faces, a.faces + a.n_vertices]))
    assert not two.loose_piece_faces.any()
    assert two.spectral_faces is two.surface_faces
