"""ARAP editing: rigid motions stay rigid, a bar bends smoothly, the energy never increases,
agreement with libigl's ARAP, point clouds, surface-point handles and input errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from shapecorr.core.errors import SettingsError, ShapeError
from shapecorr.deform import (
    ArapDeformer,
    ArapSettings,
    UnconstrainedPartWarning,
    arap_energy,
)
from shapecorr.deform.arap import rotations_newton, rotations_svd


def bar(n_sub: int = 3, length: float = 4.0):
    """A closed box ``length x 1 x 1`` along x, subdivided (386 vertices for 3)."""
    import trimesh

    box = trimesh.creation.box(extents=[length, 1.0, 1.0])
    v, f = np.asarray(box.vertices), np.asarray(box.faces)
    for _ in range(n_sub):
        v, f = trimesh.remesh.subdivide(v, f)
    return np.asarray(v), np.asarray(f)


def rotation(axis, degrees):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    a = np.deg2rad(degrees)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(a) * K + (1 - np.cos(a)) * K @ K


def ends(v):
    return np.flatnonzero(v[:, 0] < v[:, 0].min() + 0.1), np.flatnonzero(v[:, 0] > v[:, 0].max() - 0.1)


@pytest.mark.parametrize("faces", [True, False], ids=["mesh", "point cloud"])
def test_rigid_motion_of_handles_gives_that_motion(faces):
    v, f = bar()
    left, right = ends(v)
    handles = np.unique(np.concatenate([left, right, np.arange(0, len(v), 25)]))
    R, t = rotation([1, 2, 3], 35.0), np.array([0.3, -0.2, 1.0])
    moved = v @ R.T + t
    d = ArapDeformer(v, f if faces else None, moved_ids=handles)
    res = d.solve(moved[handles], iterations=200, warm_start=False)  # linear convergence
    scale = np.sqrt(d.ops.rest_term)
    assert res.energies[-1] < 1e-9 * d.ops.rest_term
    np.testing.assert_allclose(res.vertices, moved, atol=1e-5 * np.ptp(v))
    assert arap_energy(v, res.vertices, f if faces else None) < 1e-9 * scale ** 2


def test_a_deformed_clouds_file_normals_turn_with_it():
    """A point cloud with its file's normals, its handles moved rigidly: the deformed copy's
    normals are the old ones turned by that rotation (not the stale ones)."""
    from shapecorr import Shape
    from shapecorr.deform.arap import deform_shape

    v, _ = bar()
    normals = np.random.default_rng(0).standard_normal(v.shape)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    left, right = ends(v)
    handles = np.unique(np.concatenate([left, right, np.arange(0, len(v), 25)]))
    R = rotation([1, 2, 3], 35.0)
    cloud = Shape(v, point_normals=normals)
    out, _ = deform_shape(cloud, moved_ids=handles, moved_positions=v[handles] @ R.T, iterations=200)
    np.testing.assert_allclose(out.point_normals, normals @ R.T, atol=1e-4)


def test_single_moved_handle_bends_a_bar_smoothly():
    v, f = bar()
    left, right = ends(v)
    lift = 1.5
    d = ArapDeformer(v, f, fixed_ids=left, moved_ids=right)
    x = d.solve(v[right] + [0.0, lift, 0.0], iterations=60, warm_start=False).vertices
    np.testing.assert_array_equal(x[left], v[left])  # the fixed end stays
    # mean vertical displacement per slice along the bar: 0 at the fixed end, rising monotonically
    # to the handle's, and no slice overshoots it
    xs = np.unique(np.round(v[:, 0], 6))
    dy = np.array([(x[:, 1] - v[:, 1])[np.isclose(v[:, 0], s)].mean() for s in xs])
    assert dy[0] == 0.0 and np.isclose(dy[-1], lift)
    assert np.all(np.diff(dy) > 0)
    # smooth: the slope changes little between neighbouring slices (no kink)
    slope = np.diff(dy) / np.diff(xs)
    assert np.abs(np.diff(slope)).max() < 0.5 * np.abs(slope).max()
    # ARAP keeps the bar's length as far as the clamped ends allow: the centreline is hardly
    # longer than the straight line between its two ends (which it cannot be shorter than)
    def stretch(y):
        c = np.array([y[np.isclose(v[:, 0], s)].mean(0) for s in xs])
        return np.linalg.norm(np.diff(c, axis=0), axis=1).sum() / (xs[-1] - xs[0])

    lin = ArapDeformer(v, f, left, right, settings=ArapSettings(energy="bilaplacian")).solve(
        v[right] + [0.0, lift, 0.0]).vertices
    chord = np.hypot(xs[-1] - xs[0], lift) / (xs[-1] - xs[0])
    assert chord <= stretch(x) < chord + 0.01
    assert arap_energy(v, x, f) < arap_energy(v, lin, f)


def test_energy_never_increases():
    v, f = bar()
    left, right = ends(v)
    d = ArapDeformer(v, f, fixed_ids=left, moved_ids=right)
    R = rotation([0, 0, 1], 60.0)
    target = (v[right] - v[right].mean(0)) @ R.T + v[right].mean(0) + [-0.5, 1.5, 0.3]
    e = d.solve(target, iterations=30, warm_start=False).energies
    assert len(e) == 30 and e[0] > 2 * e[-1]
    assert np.all(np.diff(e) <= 1e-12 * e[0])
    # a drag: next frames warm-started from the last one
    for k in range(1, 4):
        e = d.solve(target + [0.0, 0.05 * k, 0.0], iterations=5).energies
        assert np.all(np.diff(e) <= 1e-12 * e[0])


def test_warm_start_continues_the_minimization():
    v, f = bar()
    left, right = ends(v)
    target = v[right] + [0.0, 1.0, 0.5]
    d = ArapDeformer(v, f, left, right)
    e1 = d.solve(target, iterations=10, warm_start=False).energies
    e2 = d.solve(target, iterations=10).energies
    cold = ArapDeformer(v, f, left, right).solve(target, iterations=20, warm_start=False).energies
    assert e2[0] <= e1[-1] + 1e-12 * e1[0]
    np.testing.assert_allclose(e2[-1], cold[-1], rtol=1e-9)


def test_agrees_with_libigl():
    igl = pytest.importorskip("igl", reason="libigl (PyPI `libigl`) is not installed: no peer to compare with")
    v, f = bar()
    left, right = ends(v)
    target = v[right] + [0.0, 1.5, 0.0]
    ours = ArapDeformer(v, f, left, right).solve(target, iterations=200, warm_start=False).vertices
    data = igl.ARAPData()
    data.max_iter = 200
    b = np.concatenate([left, right]).astype(np.int32)
    igl.arap_precomputation(v, f.astype(np.int64), 3, b, data)
    U = v.copy()
    U[right] = target
    theirs = igl.arap_solve(np.concatenate([v[left], target]), data, U)
    # both converge to the same minimum of the same (spokes-and-rims) energy: 1e-6 of the length
    np.testing.assert_allclose(ours, theirs, atol=1e-6 * np.ptp(v))


def test_newton_rotations_match_svd():
    rng = np.random.default_rng(3)
    n = 500
    A = rng.standard_normal((3, 3, n))
    exact = rotations_svd(A)
    # start from rotations perturbed by up to ~0.2 rad
    w = 0.2 * rng.standard_normal((n, 3)) / np.sqrt(3)
    start = np.einsum("nab,bcn->acn", np.stack([rotation(a, np.rad2deg(np.linalg.norm(a))) for a in w]), exact)
    R = rotations_newton(A, start, steps=10, tol=1e-14, accept=1e-12)
    np.testing.assert_allclose(R, exact, atol=1e-9)
    np.testing.assert_allclose(np.einsum("abn,acn->bcn", R, R), np.broadcast_to(np.eye(3)[:, :, None], R.shape),
                               atol=1e-12)


def test_surface_point_handles_follow_their_targets():
    v, f = bar()
    rng = np.random.default_rng(0)
    face = rng.choice(len(f), 12, replace=False)
    bary = rng.dirichlet(np.ones(3), 12)
    t = np.array([0.2, -0.4, 0.7])
    d = ArapDeformer(v, f, handle_points=(face, bary))
    pts = (bary[:, :, None] * v[f[face]]).sum(1)
    x = d.solve(point_positions=pts + t, iterations=5, warm_start=False).vertices
    np.testing.assert_allclose(x, v + t, atol=1e-8)
    # bend by a point at the right end while the left end is fixed
    left, right = ends(v)
    end_face = np.flatnonzero(np.all(np.isin(f, right), axis=1))[:1]
    d = ArapDeformer(v, f, fixed_ids=left, handle_points=(end_face, [[1 / 3, 1 / 3, 1 / 3]]))
    target = v[f[end_face[0]]].mean(0) + [0.0, 1.0, 0.0]
    x = d.solve(point_positions=[target], iterations=20, warm_start=False).vertices
    assert np.linalg.norm(x[f[end_face[0]]].mean(0) - target) < 0.02


def test_part_without_handles_stays_and_warns():
    v, f = bar(2)
    v2, f2 = v + [0.0, 3.0, 0.0], f + len(v)
    V, F = np.concatenate([v, v2]), np.concatenate([f, f2])
    left, right = ends(v)
    with pytest.warns(UnconstrainedPartWarning, match="1 connected part"):
        d = ArapDeformer(V, F, fixed_ids=left, moved_ids=right)
    x = d.solve(v[right] + [0, 1, 0], iterations=3).vertices
    np.testing.assert_array_equal(x[len(v):], v2)


def test_vertices_used_by_no_face_stay_without_a_warning():
    """What we saw: the stanford bunny's 914 stray vertices (used by no face) were reported as "914
    connected part(s) of the shape hold no handle". They stay where they are, silently; a real part
    without a handle is still reported, counted apart from them."""
    import warnings

    v, f = bar(2)
    stray = np.array([[5.0, 5.0, 5.0], [6.0, 5.0, 5.0]])
    V = np.concatenate([v, stray])
    left, right = ends(v)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = ArapDeformer(V, f, fixed_ids=left, moved_ids=right)
    x = d.solve(v[right] + [0, 1, 0], iterations=3).vertices
    np.testing.assert_array_equal(x[len(v):], stray)
    assert np.all(np.isfinite(x))
    v2, f2 = v + [0.0, 3.0, 0.0], f + len(V)
    with pytest.warns(UnconstrainedPartWarning, match=rf"^1 connected part\(s\) of the shape \({len(v2)} vertices\)"):
        ArapDeformer(np.concatenate([V, v2]), np.concatenate([f, f2]), fixed_ids=left, moved_ids=right)


def test_input_errors_name_the_problem():
    v, f = bar(1)
    n = len(v)
    with pytest.raises(ShapeError, match=f"vertex id {n} is out of range"):
        ArapDeformer(v, f, fixed_ids=[0, n])
    with pytest.raises(ShapeError, match="both fixed and moved"):
        ArapDeformer(v, f, fixed_ids=[0, 1], moved_ids=[1])
    with pytest.raises(ShapeError, match="no handles"):
        ArapDeformer(v, f)
    with pytest.raises(ShapeError, match="more than once"):
        ArapDeformer(v, f, fixed_ids=[3, 3])
    d = ArapDeformer(v, f, fixed_ids=[0], moved_ids=[5, 6])
    with pytest.raises(ShapeError, match="1 positions given for 2 moved vertices"):
        d.solve([[0.0, 0.0, 0.0]])
    with pytest.raises(SettingsError, match="energy"):
        ArapSettings(energy="elastic")
    with pytest.raises(SettingsError, match="iterations"):
        ArapSettings(iterations=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ArapDeformer(v, f, fixed_ids=[0], moved_ids=[5])  # one part: no warning


def _cuda_available():
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # pragma: no cover
        return False


def _drag(d, v, right, frames=4, point_positions=None):
    """A drag of the right end: a cold first frame, then warm-started ones; every frame's vertices."""
    out = []
    for k in range(frames):
        target = v[right] + [0.1 * k, 0.4 + 0.2 * k, 0.1]
        out.append(d.solve(target, iterations=3, warm_start=k > 0, point_positions=point_positions).vertices)
    return out


@pytest.mark.parametrize("points", [False, True], ids=["vertex handles", "surface points too"])
def test_torch_iterations_equal_numpys(points):
    """The iterations written once for NumPy and torch (what device="cuda" runs) give the same
    frames when torch runs them on the CPU, surface-point handles included."""
    v, f = bar()
    left, right = ends(v)
    handle_points = (np.array([3, 40]), np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])) if points else None
    targets = v[f[[3, 40]]].mean(1) + [0.0, 0.3, 0.0] if points else None
    ref = ArapDeformer(v, f, left, right, handle_points=handle_points)
    d = ArapDeformer(v, f, left, right, handle_points=handle_points)
    d._iterate_with_torch("cpu")
    for a, b in zip(_drag(ref, v, right, point_positions=targets), _drag(d, v, right, point_positions=targets)):
        assert isinstance(b, np.ndarray)
        np.testing.assert_allclose(b, a, atol=1e-12)
    e_ref = ref.solve(v[right] + 0.3, iterations=2, point_positions=targets).energies
    assert d.solve(v[right] + 0.3, iterations=2, point_positions=targets).energies == pytest.approx(e_ref, rel=1e-10)


@pytest.mark.skipif(not _cuda_available(), reason="no CUDA device visible to torch")
def test_cuda_drag_equals_the_cpus():
    v, f = bar()
    left, right = ends(v)
    d = ArapDeformer(v, f, left, right, device="cuda")
    for a, b in zip(_drag(ArapDeformer(v, f, left, right), v, right), _drag(d, v, right)):
        np.testing.assert_allclose(b, a, atol=1e-9)


@pytest.mark.skipif(_cuda_available(), reason="checks the message shown without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error():
    v, f = bar(1)
    left, right = ends(v)
    with pytest.raises(SettingsError, match="cuda"):
        ArapDeformer(v, f, left, right, device="cuda")
