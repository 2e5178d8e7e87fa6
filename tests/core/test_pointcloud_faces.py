"""Point-cloud orientation (``shapecorr.core.pointcloud``): outward normals and the local
triangles wound about them, with known answers on a sphere and a torus (whose outward normals
are known in closed form), and their invariance to point order and rigid motion."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import bumpy, folded, grid, icosphere, slab_points

from shapecorr.core.pointcloud import DEFAULT_FAN_K, outward_normals, tangent_fan_faces


def sphere_points(n: int = 1500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(points, outward normals)``: seeded random points on the unit sphere."""
    p = np.random.default_rng(seed).standard_normal((n, 3))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    return p, p.copy()


def torus_points(n_u: int = 72, n_v: int = 24, R: float = 1.0, r: float = 0.35,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(points, outward normals)`` of a torus about z, on a jittered (u, v) grid: the normal
    at angles (u, v) is ``(cos u cos v, sin u cos v, sin v)``, pointing away from the tube's core."""
    rng = np.random.default_rng(seed)
    u, v = np.meshgrid(np.arange(n_u) * 2 * np.pi / n_u, np.arange(n_v) * 2 * np.pi / n_v, indexing="ij")
    u = u.ravel() + rng.uniform(-0.2, 0.2, u.size) * 2 * np.pi / n_u
    v = v.ravel() + rng.uniform(-0.2, 0.2, v.size) * 2 * np.pi / n_v
    normal = np.stack([np.cos(u) * np.cos(v), np.sin(u) * np.cos(v), np.sin(v)], axis=1)
    core = np.stack([R * np.cos(u), R * np.sin(u), np.zeros_like(u)], axis=1)
    return core + r * normal, normal


def _face_normals(points: np.ndarray, faces: np.ndarray) -> np.ndarray:
    return np.cross(points[faces[:, 1]] - points[faces[:, 0]], points[faces[:, 2]] - points[faces[:, 0]])


SURFACES = {"sphere": sphere_points, "torus": torus_points}


@pytest.mark.parametrize("name", SURFACES)
def test_estimated_normals_are_the_known_outward_normals(name):
    points, truth = SURFACES[name]()
    n = outward_normals(points)
    cos = np.einsum("ij,ij->i", n, truth)
    assert (cos > 0.9).all()  # every sign consistent and outward, not merely most of them
    assert np.median(cos) > 0.995


@pytest.mark.parametrize("name", SURFACES)
def test_fan_faces_are_wound_outward(name):
    """Every local triangle turns counter-clockwise about the outward normal (at each of its
    corners' true normal), every point is a corner of some triangle, no triangle twice."""
    points, truth = SURFACES[name]()
    faces = tangent_fan_faces(points, outward_normals(points))
    assert faces.dtype == np.int64 and faces.shape[1] == 3
    fn = _face_normals(points, faces)
    for c in range(3):
        assert (np.einsum("ij,ij->i", fn, truth[faces[:, c]]) > 0).all()
    assert np.unique(faces).size == len(points)
    assert len(np.unique(np.sort(faces, axis=1), axis=0)) == len(faces)
    assert (faces[:, 0] != faces[:, 1]).all() and (faces[:, 1] != faces[:, 2]).all() and (faces[:, 0] != faces[:, 2]).all()


def test_inward_normals_wind_the_triangles_the_other_way():
    points, _ = sphere_points(600)
    n = outward_normals(points)
    out, inward = tangent_fan_faces(points, n), tangent_fan_faces(points, -n)
    assert (np.einsum("ij,ij->i", _face_normals(points, out), points[out[:, 0]]) > 0).all()
    assert (np.einsum("ij,ij->i", _face_normals(points, inward), points[inward[:, 0]]) < 0).all()


def test_fan_faces_follow_point_order_and_rigid_motion():
    """A permuted, rotated and moved copy has the same triangles (renumbered), same winding."""
    points, _ = torus_points(48, 16, seed=3)
    rng = np.random.default_rng(5)
    perm = rng.permutation(len(points))
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    q *= np.sign(np.linalg.det(q))  # a rotation
    moved = points[perm] @ q.T + rng.standard_normal(3)
    faces = tangent_fan_faces(points, outward_normals(points))
    faces_moved = tangent_fan_faces(moved, outward_normals(moved))
    back = perm[faces_moved]  # in the original numbering

    def canonical(f):  # the cyclic rotation starting at the smallest corner keeps the winding
        r = np.argmin(f, axis=1)
        f = np.stack([f[np.arange(len(f)), (r + i) % 3] for i in range(3)], axis=1)
        return {tuple(t) for t in f}

    assert canonical(back) == canonical(faces)


def test_fan_faces_of_an_open_patch_leave_its_edge_open():
    """On a flat square of points with normals +z, every triangle turns counter-clockwise seen
    from +z, and points on the border get no triangle across the outside."""
    xs, ys = np.meshgrid(np.linspace(0, 1, 12), np.linspace(0, 1, 12))
    points = np.stack([xs.ravel(), ys.ravel(), np.zeros(xs.size)], axis=1)
    normals = np.tile([0.0, 0.0, 1.0], (len(points), 1))
    faces = tangent_fan_faces(points, normals)
    assert (_face_normals(points, faces)[:, 2] > 0).all()
    centroid = points[faces].mean(1)
    assert (centroid[:, :2] > 0).all() and (centroid[:, :2] < 1).all()


def test_fan_faces_refuse_bad_normals():
    points, _ = sphere_points(100)
    with pytest.raises(ValueError, match="shape"):
        tangent_fan_faces(points, points[:, :2])
    bad = points.copy()
    bad[3] = 0.0
    with pytest.raises(ValueError, match="non-zero"):
        tangent_fan_faces(points, bad)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        tangent_fan_faces(points, points, k=0)
    assert DEFAULT_FAN_K >= 4


@pytest.mark.parametrize("degrees", [0.0, 60.0, 120.0])
def test_an_open_sheet_of_points_has_no_known_outward_side(degrees):
    """A flat or folded sheet drawn as points encloses no volume: its outward side is a guess."""
    from shapecorr.core.pointcloud import sides_decided

    assert not sides_decided(folded(grid(24, 20, 0.05), degrees).vertices)


def test_closed_clouds_have_a_known_outward_side():
    from shapecorr.core.pointcloud import sides_decided

    assert sides_decided(icosphere(3).vertices)
    assert sides_decided(bumpy(3).vertices * [2.0, 1.0, 0.3])  # a flattened closed blob still encloses a volume


# ----------------------------------------------------------------------------- a file's normals
def test_a_files_consistent_normals_are_kept_and_turned_outward():
    """Given normals with consistent signs are kept point by point; pointing in, all are turned."""
    points, normals = sphere_points()
    np.testing.assert_allclose(outward_normals(points, normals=2.0 * normals), normals, atol=1e-12)
    np.testing.assert_allclose(outward_normals(points, normals=-normals), normals, atol=1e-12)


def test_a_files_normals_with_random_signs_are_made_consistent():
    """Unoriented normals (a tool that fits planes but does not orient them) are oriented."""
    points, normals = torus_points()
    signs = np.random.default_rng(1).choice([-1.0, 1.0], len(points))[:, None]
    got = outward_normals(points, normals=normals * signs)
    assert ((got * normals).sum(1) > 0.999).mean() > 0.99


def test_a_slab_thinner_than_the_point_spacing_needs_its_files_normals():
    """Estimated normals cannot tell a thin slab's top from its bottom (each point's neighbours
    lie on both); the file's normals can, and are kept."""
    points, normals = slab_points()
    estimated = outward_normals(points)
    top_and_bottom = np.abs(normals[:, 2]) > 0.5
    assert ((estimated * normals).sum(1)[top_and_bottom] > 0).mean() < 0.9
    np.testing.assert_allclose(outward_normals(points, normals=normals), normals, atol=1e-12)


@pytest.mark.parametrize("side", [1.0, -1.0])
def test_an_open_sheet_keeps_the_side_its_normals_give(side):
    """A sheet encloses no volume, so its file's normals say which side is out, and they are
    kept whichever it is; its sides then count as known."""
    from shapecorr.core.pointcloud import sides_decided

    sheet = folded(grid(24, 20, 0.05), 60.0)
    normals = side * sheet.vertex_normals
    np.testing.assert_allclose(outward_normals(sheet.vertices, normals=normals), normals, atol=1e-12)
    assert sides_decided(sheet.vertices, normals=normals) and not sides_decided(sheet.vertices)
    random_signs = normals * np.random.default_rng(2).choice([-1.0, 1.0], len(normals))[:, None]
    assert not sides_decided(sheet.vertices, normals=random_signs)  # unoriented normals know no side
