"""UV texture transfer: exact round trip, seams, streak measure, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from shapecorr import Shape
from shapecorr.core import MatchFileError, TextureError
from shapecorr.transfer import (
    SurfaceMap,
    closest_point_on_triangles,
    precise_map,
    project_on_surface,
    sample_texture,
    streak_fraction,
    texture_from_surface_map,
    transfer_texture,
    uv_charts,
)

from .conftest import bumpy_blob, two_chart_plane


def _face_correspondence(src, tgt, perm):
    """Index of the source face of each target face (faces as vertex sets)."""
    key = {tuple(sorted(f)): i for i, f in enumerate(src.faces.tolist())}
    return np.array([key[tuple(sorted(perm[f]))] for f in tgt.faces.tolist()])


def test_closest_point_matches_dense_sampling():
    rng = np.random.default_rng(0)
    p, a, b, c = (rng.normal(size=(200, 5)) for _ in range(4))
    w, d2 = closest_point_on_triangles(p, a, b, c)
    assert np.allclose(w.sum(1), 1) and (w >= 0).all()
    g = np.linspace(0, 1, 81)
    W = np.array([(x, y, 1 - x - y) for x in g for y in g if x + y <= 1])
    for i in range(0, 200, 20):
        q = W[:, :1] * a[i] + W[:, 1:2] * b[i] + W[:, 2:] * c[i]
        brute = ((q - p[i]) ** 2).sum(1).min()
        assert d2[i] <= brute + 1e-12
        assert d2[i] >= brute - 1e-3


@pytest.mark.parametrize("method", ["spectral", "vertex"])
def test_round_trip_on_permuted_isometric_copy_is_exact(blob_pair, method):
    src, tgt, match, perm = blob_pair
    res = transfer_texture(match, src, tgt, method=method)
    # every target vertex sits exactly on its source vertex
    assert np.array_equal(res.surface_map.nearest_vertex(src.faces), perm)
    assert np.allclose(res.surface_map.bary.max(1), 1.0)
    # corner UVs of each target face equal those of its source face
    fmap = _face_correspondence(src, tgt, perm)
    fuv1 = src.face_uv
    for i, f in enumerate(tgt.faces):
        g = fmap[i]
        src_uv = {int(v): src.uv[t] for v, t in zip(src.faces[g], fuv1[g])}
        got = np.array([res.uv[res.face_uv[i, k]] for k in range(3)])
        want = np.array([src_uv[int(perm[j])] for j in f])
        assert np.abs(got - want).max() < 1e-9, f"face {i}"
    assert res.stats["streak_fraction_result"] == pytest.approx(res.stats["streak_fraction_source"])
    assert res.shape.texture == src.texture and res.shape.material_name == "blob"


def test_uv_charts_counts_the_atlas_pieces(texture_png):
    plane = two_chart_plane(6, 5, texture=texture_png)
    charts = uv_charts(plane.faces, plane.face_uv)
    assert charts.max() + 1 == 2
    cent = plane.vertices[plane.faces].mean(1)[:, 0]
    assert len(set(charts[cent < 0.5])) == 1 and len(set(charts[cent > 0.5])) == 1
    blob = bumpy_blob(2, texture=texture_png)
    assert uv_charts(blob.faces, blob.face_uv).max() + 1 == 2
    # per-vertex UVs: one chart
    assert uv_charts(blob.faces, blob.faces).max() + 1 == 1


def test_two_chart_seam_has_no_streaks_and_precise_uvs(texture_png):
    src = two_chart_plane(11, 10, texture=texture_png)
    tgt = two_chart_plane(13, 9, offset=0.03)  # a different triangulation, faces straddle the cut
    smap, dist = project_on_surface(tgt.vertices, src.vertices, src.faces)
    assert dist.max() < 1e-9
    res = texture_from_surface_map(src, tgt, smap)
    assert res.stats["n_seam_faces"] > 0
    assert res.stats["n_collapsed_faces"] == 0
    assert streak_fraction(res.shape) == 0.0
    naive = texture_from_surface_map(src, tgt, smap, seams=False)
    assert naive.stats["streak_fraction_result"] > 0.02  # without seam handling: streak triangles
    assert naive.stats["streak_fraction_relative"] > 0.02
    assert res.stats["streak_fraction_relative"] == 0.0
    # no UV triangle spans the gap between the charts
    t = res.uv[res.face_uv]
    assert (t[..., 0].max(1) - t[..., 0].min(1)).max() < 0.06
    # away from the cut, UVs are the exact (linear) ones: barycentric, not nearest-vertex
    x, y = tgt.vertices[:, 0], tgt.vertices[:, 1]
    left = x < 0.45
    u_exact = 0.02 + 0.18 * x / 0.5
    assert np.abs(res.uv[: tgt.n_vertices][left, 0] - u_exact[left]).max() < 1e-9
    assert np.abs(res.uv[: tgt.n_vertices][:, 1] - (0.05 + 0.9 * y)).max() < 1e-9
    # colours at face centres come from the right chart
    cent_uv = t.mean(1)
    rgb = sample_texture(texture_png, cent_uv).astype(int)
    cx = tgt.vertices[tgt.faces].mean(1)[:, 0]
    assert (rgb[cx < 0.4, 0] > 150).all() and (rgb[cx > 0.6, 2] > 150).all()


def test_saved_textured_obj_round_trips(tmp_path, blob_pair):
    from shapecorr import load

    src, tgt, match, _ = blob_pair
    res = transfer_texture(match, src, tgt, method="vertex")
    out = res.shape.save(tmp_path / "out" / "blob_textured.obj")
    back = load(out)
    assert back.has_uv and back.texture is not None and back.texture.exists()
    assert back.texture.parent == out.parent and (out.parent / "blob_textured.mtl").exists()
    assert np.allclose(back.uv[back.face_uv], res.uv[res.face_uv], atol=1e-7)


def test_bad_inputs_give_clear_errors(tmp_path, blob_pair):
    src, tgt, match, _ = blob_pair
    plain = Shape(src.vertices, src.faces)
    with pytest.raises(TextureError, match="--what colors"):
        transfer_texture(match, plain, tgt)
    missing = src.copy(texture=tmp_path / "nope.png")
    with pytest.raises(TextureError, match="not found"):
        transfer_texture(match, missing, tgt)
    cloud = Shape(tgt.vertices, None)
    with pytest.raises(TextureError, match="point cloud"):
        transfer_texture(match, src, cloud)
    other = bumpy_blob(2)
    with pytest.raises(MatchFileError):
        transfer_texture(match, src, other)
    with pytest.raises(ValueError, match="unknown method"):
        precise_map(match, src, tgt, method="magic")


def test_surface_map_from_vertex_map_and_interpolation(texture_png):
    blob = bumpy_blob(2)
    p2p = np.array([0, 5, 17, blob.n_vertices - 1])
    smap = SurfaceMap.from_vertex_map(p2p, blob.faces)
    assert np.allclose(smap.points(blob.vertices, blob.faces), blob.vertices[p2p])
    assert np.array_equal(smap.nearest_vertex(blob.faces), p2p)


def test_spectral_points_are_better_than_the_vertex_map(texture_png):
    """On a denser copy of the same surface, precise points beat nearest vertices."""
    from .conftest import exact_match

    src = bumpy_blob(2, texture=texture_png)
    dense = bumpy_blob(3)  # same surface, 4x the vertices: true points lie inside source faces
    true_map, _ = project_on_surface(dense.vertices, src.vertices, src.faces)
    p2p_21 = true_map.nearest_vertex(src.faces)
    from scipy.spatial import cKDTree

    p2p_12 = cKDTree(dense.vertices).query(src.vertices)[1]
    m = exact_match(src, dense, p2p_21, p2p_12, k=20)
    truth = true_map.points(src.vertices, src.faces)
    err_vertex = np.linalg.norm(src.vertices[p2p_21] - truth, axis=1).mean()
    sm = precise_map(m, src, dense, method="spectral")
    err_precise = np.linalg.norm(sm.points(src.vertices, src.faces) - truth, axis=1).mean()
    assert err_precise < 0.8 * err_vertex


def test_a_source_vertex_used_by_no_face_maps_to_its_closest_surface_point(texture_png):
    """Real meshes carry vertices used by no face (stanford-bunny has some) and a match may send
    target vertices to them: the vertex, spectral and register surface maps then place those
    target vertices on the surface next to it, never on a face that does not exist (index -1,
    silently the last face)."""
    from scipy.spatial import cKDTree

    from .conftest import exact_match

    blob = bumpy_blob(2, texture=texture_png)
    stray = blob.vertices[5] * 1.02  # just off the surface, over vertex 5
    src = blob.copy(vertices=np.vstack([blob.vertices, stray]), uv=np.vstack([blob.uv, blob.uv[5]]))
    lone = blob.n_vertices
    assert src.unreferenced_vertices.tolist() == [lone]
    dense = bumpy_blob(3)
    true_map, _ = project_on_surface(dense.vertices, blob.vertices, blob.faces)
    p2p_21 = true_map.nearest_vertex(blob.faces)
    sent = np.flatnonzero(p2p_21 == 5)
    p2p_21[sent] = lone  # the match sends the target vertices of vertex 5 to the stray vertex
    p2p_12 = cKDTree(dense.vertices).query(src.vertices)[1]
    m = exact_match(src, dense, p2p_21, p2p_12, k=20)
    with pytest.raises(ValueError, match="belongs to no face"):
        SurfaceMap.from_vertex_map(p2p_21, src.faces)
    edge = np.linalg.norm(blob.vertices[blob.faces[:, 0]] - blob.vertices[blob.faces[:, 1]], axis=1).mean()
    for method in ("vertex", "spectral", "register"):
        smap = precise_map(m, src, dense, method=method)
        assert (smap.face >= 0).all(), method
        pts = smap.points(src.vertices, src.faces)
        assert np.linalg.norm(pts[sent] - blob.vertices[5], axis=1).max() < 2 * edge, method
    # the vertex map's points are exactly the stray vertex's closest surface point (checked against
    # every face)
    smap = precise_map(m, src, dense, method="vertex")
    tri = blob.vertices[blob.faces]
    _, d2 = closest_point_on_triangles(stray[None], tri[:, 0], tri[:, 1], tri[:, 2])
    got = np.linalg.norm(smap.points(src.vertices, src.faces)[sent[0]] - stray)
    assert got == pytest.approx(np.sqrt(d2.min()), rel=1e-9, abs=1e-12)
