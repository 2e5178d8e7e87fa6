"""Surfaces reconstructed from point clouds (``shapecorr.core.reconstruct``): checks, projection
and lifting through them, on generated shapes with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import bumpy, grid, icosphere, inverse_permutation, point_cloud, slab_points

from shapecorr import Shape
from shapecorr.core import SettingsError, ShapeError
from shapecorr.core.proxy import Proxy, project_on_mesh
from shapecorr.core.reconstruct import ReconstructionChecks, ReconstructionError, reconstruct_proxy

pytest.importorskip("pymeshlab")


@pytest.fixture(scope="module")
def blob():
    return bumpy(3)  # 642 vertices, closed, no symmetry


def test_a_closed_cloud_gets_a_closed_surface_through_its_points(blob):
    """The points of a closed smooth shape: one closed manifold piece of about as many vertices,
    every point within a fraction of a percent of the diagonal, its projection where its
    weights say."""
    proxy, report = reconstruct_proxy(point_cloud(blob))
    assert proxy.shape.n_components == 1 and proxy.shape.is_watertight and proxy.shape.is_edge_manifold
    assert report.n_components == 1 and report.open_edges == 0 and report.far_area == 0.0
    assert abs(proxy.shape.n_vertices - blob.n_vertices) <= 0.05 * blob.n_vertices
    diag = np.linalg.norm(np.ptp(blob.vertices, axis=0))
    assert report.point_distance_max < 0.01 and proxy.distance.max() / diag == pytest.approx(report.point_distance_max)
    projected = proxy.interpolate(proxy.shape.vertices)
    np.testing.assert_allclose(np.linalg.norm(projected - blob.vertices, axis=1), proxy.distance, atol=1e-9)
    assert np.all(proxy.bary >= -1e-12) and np.allclose(proxy.bary.sum(1), 1.0)


def test_the_proxy_size_follows_n_target(blob):
    proxy, report = reconstruct_proxy(point_cloud(blob), n_target=300)
    assert 250 <= proxy.shape.n_vertices <= 310 and report.n_vertices == proxy.shape.n_vertices
    assert proxy.n_full == blob.n_vertices


def test_a_cloud_of_two_pieces_is_refused():
    two = Shape(np.r_[icosphere(3).vertices, icosphere(3).vertices + [3.0, 0.0, 0.0]], None, name="two")
    with pytest.raises(ReconstructionError, match="50.0 % of the points .* 2 connected pieces"):
        reconstruct_proxy(two)


def _with_strays(shape: Shape, n: int) -> Shape:
    """The cloud of ``shape`` with ``n`` more points in a tight cluster a quarter of the diagonal
    beyond its +x end (a thin part the reconstruction cannot follow), as the last points."""
    diag = np.linalg.norm(np.ptp(shape.vertices, axis=0))
    tip = shape.vertices[np.argmax(shape.vertices[:, 0])] + [0.25 * diag, 0.0, 0.0]
    return Shape(np.r_[shape.vertices, icosphere(1, 0.04).vertices[:n] + tip], None, name="strays")


def test_a_few_points_off_the_surface_are_lost_not_a_reason_to_refuse(blob):
    """Six points of 648 (0.9 %) away from the rest: the surface is the blob's, those six are the
    lost ones (they take the nearest surface point), every other point stays on it."""
    cloud = _with_strays(blob, 6)
    proxy, report = reconstruct_proxy(cloud)
    diag = np.linalg.norm(np.ptp(cloud.vertices, axis=0))
    assert report.lost_points == 6 and report.point_distance_max > 0.2
    np.testing.assert_array_equal(np.flatnonzero(proxy.distance > 0.03 * diag), np.arange(642, 648))
    assert proxy.distance[:642].max() < 0.01 * diag and proxy.shape.is_watertight


def test_too_many_points_off_the_surface_are_refused(blob):
    with pytest.raises(ReconstructionError, match=r"3.0 % of the points farther than 0.03 of the diagonal"):
        reconstruct_proxy(_with_strays(blob, 20))


def test_a_pair_through_a_surface_that_lost_points_says_so(blob):
    from shapecorr.core import ShapeWarning
    from shapecorr.core.reconstruct import pair_proxies

    with pytest.warns(ShapeWarning, match="6 of 648 points lie off the surface reconstructed from the cloud"):
        proxies = pair_proxies(blob, _with_strays(blob, 6), proxy_above=None, proxy_size=10000,
                               point_cloud_surface="poisson")
    assert proxies is not None and proxies[1].n_full == 648


def test_two_clouds_lose_no_point_they_are_matched_as_points_instead(blob):
    """Two clouds have a consistent way without surfaces (both as points): a surface that lost
    points is not used for them."""
    from shapecorr.core import ShapeWarning
    from shapecorr.core.reconstruct import pair_proxies

    with pytest.warns(ShapeWarning, match=r"0.9 % of the points .* \(at most 0 %\).* Matched as points instead"):
        proxies = pair_proxies(point_cloud(blob), _with_strays(blob, 6), proxy_above=None, proxy_size=10000,
                               point_cloud_surface="poisson")
    assert proxies is None
    assert pair_proxies(point_cloud(blob), point_cloud(blob), proxy_above=None, proxy_size=10000,
                        point_cloud_surface="poisson") is not None


def test_an_open_patch_is_refused():
    """A flat patch has no inside: its Poisson surface is open and is refused."""
    with pytest.raises(ReconstructionError, match="not closed"):
        reconstruct_proxy(point_cloud(grid(30, 30, 0.03)))


def test_bad_inputs_give_clear_errors(blob):
    with pytest.raises(ShapeError, match="for point clouds"):
        reconstruct_proxy(blob)
    with pytest.raises(ReconstructionError, match="too few"):
        reconstruct_proxy(Shape(blob.vertices[:20], None))
    with pytest.raises(SettingsError):
        ReconstructionChecks(max_point_distance=0.0)
    with pytest.raises(SettingsError, match="max_lost_points must be a share"):
        ReconstructionChecks(max_lost_points=1.5)
    with pytest.raises(SettingsError):
        reconstruct_proxy(point_cloud(blob), n_target=2)


def test_lift_maps_points_exactly_on_the_proxy_to_their_copies(blob):
    """Points lying exactly on a proxy (its vertices and face centroids), and a permuted copy of
    them on the same proxy: the identity functional map lifts to the permutation, every point."""
    from shapecorr.fmap.lift import lift_fmap
    from shapecorr.fmap.prepare import prepare_shape

    points = np.r_[blob.vertices, blob.vertices[blob.faces].mean(axis=1)]
    perm = np.random.default_rng(5).permutation(len(points))
    proxies = []
    for pts in (points, points[perm]):
        face, bary, dist = project_on_mesh(pts, blob.vertices, blob.faces)
        assert dist.max() < 1e-12
        proxies.append(Proxy(blob, face, bary, dist))
    evecs = prepare_shape(blob, 30, cache=False).evecs
    lifted = lift_fmap(np.eye(30), proxies[0], proxies[1], evecs, evecs)
    np.testing.assert_array_equal(lifted.p2p_21, perm)  # point j of the copy is point perm[j]
    np.testing.assert_array_equal(lifted.p2p_12, inverse_permutation(perm))


# ----------------------------------------------------------------------------- a file's normals
def test_a_thin_slab_is_reconstructed_from_its_files_normals():
    """Estimated normals cannot orient a slab thinner than the point spacing (its surface from
    them is refused); from the file's normals it is closed and near every point."""
    points, normals = slab_points()
    with pytest.raises(ReconstructionError):
        reconstruct_proxy(Shape(points))
    proxy, report = reconstruct_proxy(Shape(points, point_normals=normals))
    assert report.normals == proxy.normals == "file" and report.lost_points == 0


def test_a_files_normals_wrong_on_a_part_leave_the_surface_to_the_estimated_ones():
    """A file whose normals point in on a cap (consistently: a merged scan's part) gives a
    surface that fails its checks; the one from estimated normals is kept."""
    sphere = icosphere(4)
    normals = sphere.vertices / np.linalg.norm(sphere.vertices, axis=1, keepdims=True)
    normals[sphere.vertices[:, 2] > 0.6] *= -1
    _, report = reconstruct_proxy(Shape(sphere.vertices, point_normals=normals))
    assert report.normals == "estimated" and report.lost_points == 0


THREADS_SCRIPT = """
import sys
from concurrent.futures import ThreadPoolExecutor
import numpy as np
sys.path.insert(0, {tests!r})
from helpers import icosphere
from shapecorr.core.reconstruct import poisson_surface
s = icosphere(3)
ref = poisson_surface(s.vertices, s.vertex_normals, 6)
with ThreadPoolExecutor(4) as ex:
    out = list(ex.map(lambda _: poisson_surface(s.vertices, s.vertex_normals, 6), range(8)))
print("same" if all(np.array_equal(o[0], ref[0]) and np.array_equal(o[1], ref[1]) for o in out) else "differ")
"""


def test_reconstructions_from_several_threads_neither_crash_nor_differ():
    """pymeshlab is not thread-safe (two Poisson reconstructions at once crashed the process with
    a segmentation fault): every use holds one lock, so threads queue and get the serial result.
    Run in a subprocess, so that a crash fails this test and not the whole run."""
    import subprocess
    import sys
    from pathlib import Path

    code = THREADS_SCRIPT.format(tests=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"the process ended with {proc.returncode}: {proc.stderr[-500:]}"
    assert proc.stdout.split()[-1] == "same"
