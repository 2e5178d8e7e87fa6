import numpy as np
import pytest

from shapecorr import Shape
from shapecorr.eval import (
    GeodesicDistances, auc, coverage, evaluate_map, flip_rate, flip_stats, geodesic_errors, is_flipped,
    pck_curve, symmetric_errors,
)

from .conftest import ellipsoid, grid


@pytest.fixture(scope="module")
def ell():
    v, f, mirror = ellipsoid()
    return Shape(v, f, name="ell"), mirror


def test_identity_map_has_zero_error(ell):
    shape, _ = ell
    n = shape.n_vertices
    gt = np.arange(n)
    err = geodesic_errors(shape, np.arange(n), gt, gt)
    assert err.shape == (n,)
    assert np.allclose(err, 0.0, atol=1e-6)


def test_permuted_ground_truth_identity(ell):
    """Ground truth through a template permutation: a map that follows it has zero error."""
    shape, _ = ell
    n = shape.n_vertices
    rng = np.random.default_rng(0)
    gt1, gt2 = rng.permutation(n), rng.permutation(n)
    p2p_21 = np.empty(n, dtype=np.int64)
    p2p_21[gt2] = gt1
    assert np.allclose(geodesic_errors(shape, p2p_21, gt1, gt2), 0.0, atol=1e-6)


def test_shift_map_has_expected_error():
    nx, ny, h, shift = 31, 11, 0.1, 5
    v, f = grid(nx, ny, h)
    shape = Shape(v, f)
    n = len(v)
    idx = np.arange(n)
    i = idx // ny
    moved = i < nx - shift
    p2p = np.where(moved, idx + shift * ny, idx)  # vertices move `shift` columns (0.5) along x
    err = geodesic_errors(shape, p2p, idx, idx, normalize=False)
    assert np.allclose(err[~moved], 0.0, atol=1e-6)
    # the heat method (t = mean edge^2) is a few % short near the boundary, ~1 % inside
    assert np.median(err[moved]) == pytest.approx(shift * h, rel=0.03)
    assert np.all(np.abs(err[moved] - shift * h) < 0.12 * shift * h)
    err_n = geodesic_errors(shape, p2p, idx, idx)
    assert np.isclose(shape.area, (nx - 1) * (ny - 1) * h * h)
    assert np.allclose(err_n, err / np.sqrt(shape.area))


def test_dense_and_sparse_distances_agree(ell):
    shape, mirror = ell
    dense = GeodesicDistances(shape)
    sparse = GeodesicDistances(shape, dense_max=10, keep_bytes=8 * shape.n_vertices)  # keeps ~2 rows
    assert dense.dense and not sparse.dense
    rng = np.random.default_rng(1)
    a = rng.integers(0, shape.n_vertices, 300)
    b = rng.integers(0, shape.n_vertices, 300)
    d1, d2 = dense.between(a, b), sparse.between(a, b)
    # the dense matrix is symmetrized, the rows are not: the heat method is nearly symmetric
    assert np.allclose(d1, d2, rtol=0.05, atol=0.02)
    assert sparse.n_solves == np.unique(a).size
    with pytest.raises(ValueError):
        sparse.matrix()
    with pytest.raises(ValueError):
        dense.between([0], [shape.n_vertices])


def test_subset_points(ell):
    shape, mirror = ell
    n = shape.n_vertices
    gt = np.arange(n)
    full = geodesic_errors(shape, mirror, gt, gt)
    sub = geodesic_errors(shape, mirror, gt, gt, points=[3, 5, 7])
    assert np.allclose(sub, full[[3, 5, 7]])


def test_pck_monotone_and_auc_bounds():
    rng = np.random.default_rng(0)
    err = rng.exponential(0.03, 1000)
    t = np.linspace(0, 0.1, 51)
    pck = pck_curve(err, t)
    assert pck.shape == t.shape
    assert np.all(np.diff(pck) >= 0)
    assert pck.min() >= 0 and pck.max() <= 1
    assert np.isclose(pck[-1], np.mean(err <= 0.1))
    a = auc(t, pck)
    assert 0 <= a <= 1
    assert auc(t, pck_curve(np.zeros(10), t)) == pytest.approx(1.0)
    assert auc(t, pck_curve(np.full(10, 1.0), t)) == pytest.approx(0.0)
    # default thresholds
    assert np.all(np.diff(pck_curve(err)) >= 0)
    with pytest.raises(ValueError):
        auc([0.1, 0.1], [0, 1])


def test_flip_detection_on_mirrored_map(ell):
    shape, mirror = ell
    n = shape.n_vertices
    gt = np.arange(n)
    # the mirrored map: each target vertex goes to the mirror image on the source
    err, err_sym = symmetric_errors(shape, mirror, gt, gt, mirror)
    fs = flip_stats(err, err_sym)
    assert fs["flipped"] and fs["flipped_whole"]
    assert np.allclose(err_sym, 0.0, atol=1e-6)
    assert fs["frac_nearer_sym"] > 0.8  # all but the points on the symmetry plane
    assert is_flipped(shape, mirror, gt, gt, mirror)
    assert not is_flipped(shape, gt, gt, gt, mirror)
    # a partial flip (like swapped legs): only a mirror-symmetric region (the top cap) is mirrored
    cap = shape.vertices[:, 2] > 0.2
    part = np.where(cap, mirror, gt)
    fs_part = flip_stats(*symmetric_errors(shape, part, gt, gt, mirror))
    assert fs_part["flipped"] and not fs_part["flipped_whole"]
    assert 0.1 < fs_part["frac_nearer_sym"] < cap.mean()
    assert not flip_stats(*symmetric_errors(shape, gt, gt, gt, mirror))["flipped"]
    assert flip_rate([True, False, None, {"flipped": True}]) == pytest.approx(2 / 3)


def test_coverage():
    assert coverage(np.arange(10), 10) == 1.0
    assert coverage(np.zeros(10, dtype=int), 10) == 0.1
    assert coverage(np.array([0, 1, 1, 3]), 6) == 0.5
    with pytest.raises(ValueError):
        coverage(np.array([0, 8]), 8)


def test_evaluate_map(ell):
    shape, mirror = ell
    n = shape.n_vertices
    gt = np.arange(n)
    r = evaluate_map(shape, gt, gt, gt, sym_target=mirror, p2p_12=gt)
    assert r["mean_error_x100"] == pytest.approx(0.0, abs=1e-4)
    assert r["auc"] == pytest.approx(1.0)
    assert r["coverage_21"] == 1.0 and r["coverage_12"] == 1.0
    assert r["flipped"] is False
    r2 = evaluate_map(shape, mirror, gt, gt, sym_target=mirror)
    assert r2["flipped"] is True and r2["mean_error_x100"] > 10
    assert "coverage_12" not in r2


def test_plot_pck(tmp_path):
    from shapecorr.eval import plot_pck

    t = np.linspace(0, 0.1, 11)
    out = plot_pck({"a": (t, np.linspace(0, 1, 11)), "b": (t, np.linspace(0.2, 1, 11))}, tmp_path / "p" / "pck.png",
                   title="test")
    assert out.exists() and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
