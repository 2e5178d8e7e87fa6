"""The one-call API ``shapecorr.match``: known answers on generated shapes, flips, presets,
saving, point clouds, and a cross-check against pyfmaps.

Matches use the ``fast`` preset or small overrides so the whole file runs in seconds.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import shapecorr
from shapecorr import Match, Shape, load_preset, match
from shapecorr.core import MatchFileError, SettingsError, ShapeMismatchError, TooFewPointsError
from shapecorr.fmap import orientation_score
from shapecorr import pipeline
from shapecorr.pipeline import plan_pair, prepare

from helpers import (
    bumpy,
    icosphere,
    ellipsoid,
    exact_or_adjacent,
    grid,
    inverse_permutation,
    l_sheet,
    mirrored_copy,
    permuted_copy,
    point_cloud,
    with_moved_normals,
    write_off,
)

SMALL = dict(k_init=15, k_final=30, k_descriptor=30)  # overrides for tiny shapes


@pytest.fixture(scope="module")
def blob():
    return bumpy(3)  # 642 vertices, no symmetry


@pytest.fixture(scope="module")
def blob_pair(blob):
    t, perm = permuted_copy(blob, seed=21, rigid=True)
    return blob, t, perm


# ----------------------------------------------------------------------------- known answers
@pytest.mark.parametrize("preset, overrides", [("fast", {}), ("fast", SMALL), ("default", SMALL)],
                         ids=["fast", "fast-small", "default-small"])
def test_permuted_copy_recovers_the_permutation(blob_pair, preset, overrides):
    """A shape matched to a randomly permuted (and rigidly moved) copy of itself: >= 95 % of
    vertices exact, the rest one edge away, in both directions."""
    s, t, perm = blob_pair
    m = match(s, t, preset, **overrides)
    assert isinstance(m, Match)
    assert m.p2p_21.shape == (t.n_vertices,) and m.p2p_12.shape == (s.n_vertices,)
    exact, near = exact_or_adjacent(s, m.p2p_21, perm)
    assert exact >= 0.95 and near == 1.0
    exact, near = exact_or_adjacent(t, m.p2p_12, inverse_permutation(perm))
    assert exact >= 0.95 and near == 1.0
    k = m.settings["zoomout"]["k_final"]
    assert m.fmap_12.shape == (k, k)
    assert m.info["orientation_score"] > 0.9


@pytest.mark.parametrize("preset", ["default", "axiomatic"])
@pytest.mark.parametrize("seed", [22, 25])
def test_symmetric_shape_is_not_flipped(seed, preset):
    """Left-right symmetric shape (and no other symmetry) vs its permuted copy: intrinsic
    descriptors cannot tell the identity from the mirror map, the orientation-aware default
    (learned features) and the axiomatic preset must return the identity; the mirror map is
    scored as a flip."""
    e, mirror = ellipsoid(16, 24, bend=0.15, taper=0.3)
    t, perm = permuted_copy(e, seed=seed, rigid=True)
    m = match(e, t, preset, **SMALL)
    assert m.info["init"] == ("learned" if preset == "default" else "axiomatic")
    exact, near = exact_or_adjacent(e, m.p2p_21, perm)
    flipped, _ = exact_or_adjacent(e, m.p2p_21, mirror[perm])
    assert exact >= 0.95 and near == 1.0
    assert flipped < 0.2
    assert m.info["orientation_score"] > 0.9
    s = load_preset("default", **SMALL)
    P1, P2 = prepare(e, s), prepare(t, s)
    score_flip = orientation_score(mirror[perm], P1.shape.vertices, P1.vertex_normals, P2.shape.vertices,
                                   P2.shape.faces)
    assert score_flip < -0.9


def test_mirrored_copy_is_detected_as_a_flip(blob):
    """The mirror image (x -> -x, faces flipped so normals stay outward) is intrinsically
    identical, so an orientation-blind match finds the reflection (vertex i -> i) and the
    pipeline's orientation score flags it as reversing (about -1)."""
    mir = mirrored_copy(blob)
    n = blob.n_vertices
    m = match(blob, mir, "fast", init="axiomatic", w_orient=0.0, flip_check=False, **SMALL)
    exact, _ = exact_or_adjacent(blob, m.p2p_21, np.arange(n))
    assert exact >= 0.95
    assert m.info["orientation_score"] < -0.9
    # the pipeline's scoring on its own normalized shapes: the index map reverses orientation,
    # a correct map to a permuted copy preserves it
    s = load_preset("fast", **SMALL)
    P1, P2 = prepare(blob, s), prepare(mir, s)
    assert orientation_score(np.arange(n), P1.shape.vertices, P1.vertex_normals, P2.shape.vertices,
                             P2.shape.faces) < -0.9


@pytest.mark.parametrize("preset", ["default", "axiomatic"])
def test_orientation_aware_match_of_a_mirror_image_does_not_return_the_reflection(blob, preset):
    """With learned features (default) or the orientation term (axiomatic), the reflection is not
    an acceptable answer: the returned map preserves orientation (there is no
    orientation-preserving isometry here)."""
    mir = mirrored_copy(blob)
    m = match(blob, mir, preset, **SMALL)
    exact, _ = exact_or_adjacent(blob, m.p2p_21, np.arange(blob.n_vertices))
    assert exact < 0.5
    assert m.info["orientation_score"] > 0


def test_inward_oriented_target_is_still_matched(blob):
    t, perm = permuted_copy(blob, seed=23)
    inward = shapecorr.Shape(t.vertices, t.faces[:, ::-1])  # same surface, faces wound inward
    m = match(blob, inward, "default", **SMALL)
    exact, near = exact_or_adjacent(blob, m.p2p_21, perm)
    assert exact >= 0.95 and near == 1.0


def test_inward_oriented_target_is_not_reported_as_a_flip(blob):
    t, _ = permuted_copy(blob, seed=23)
    inward = shapecorr.Shape(t.vertices, t.faces[:, ::-1])
    m = match(blob, inward, "default", **SMALL)
    assert m.info["orientation_score"] > 0.9
    assert len(m.info["candidates"]) == 1  # accepted at once, like the outward-wound copy


def test_point_clouds_end_to_end(blob):
    """The point path (``point_cloud_surface: none``; the path through reconstructed surfaces is
    tested in test_pointcloud_surface.py)."""
    pc = point_cloud(blob)
    t, perm = permuted_copy(pc, seed=24, rigid=True)
    m = match(pc, t, "fast", point_cloud_surface="none", **SMALL)
    exact, near = exact_or_adjacent(blob, m.p2p_21, perm)  # adjacency from the mesh it came from
    assert exact >= 0.9 and near >= 0.98
    assert m.source_summary["kind"] == "point_cloud" and m.target_summary["kind"] == "point_cloud"
    assert m.info["orientation_score"] > 0.5  # measured on local triangles about the estimated normals
    assert m.info["init"] == "learned"  # learned features on point clouds too (estimated outward normals)
    assert m.info["sides_undecided"] == [] and not m.info["confidence_low"]  # a closed cloud: sides known
    # mixed: mesh source, point-cloud target
    m = match(blob, t, "fast", point_cloud_surface="none", **SMALL)
    _, near = exact_or_adjacent(blob, m.p2p_21, perm)
    assert near >= 0.9


def test_a_flat_sheet_of_points_is_never_trusted_since_its_mirror_fits_as_well():
    """A flat patch drawn as points has no inside, so its mirror image turned over is the same
    points: whatever the fit, the match is marked low confidence and says why."""
    from shapecorr.core import LowConfidenceWarning

    sheet = grid(24, 20, 0.05)
    t, _ = permuted_copy(point_cloud(sheet), seed=4, rigid=True)
    with pytest.warns(LowConfidenceWarning, match="encloses no volume"):
        m = match(sheet, t, "fast", point_cloud_surface="none", **SMALL)
    assert m.info["sides_undecided"] == [t.name] and m.info["confidence_low"]
    assert "mirror image" in m.info["confidence_advice"]


def test_a_flat_sheet_of_points_with_its_normals_is_matched_and_trusted():
    """Given its normals (a scanner's file has them), a flat sheet of points has a known
    outward side: the match is not flagged for it, and the permutation comes back (without
    them, or with them reversed, the map is the mirror image)."""
    sheet = l_sheet()
    moved, perm = permuted_copy(point_cloud(sheet), seed=4, rigid=True)
    m = match(sheet, with_moved_normals(sheet, moved, perm), "fast", point_cloud_surface="none", **SMALL)
    assert m.info["sides_undecided"] == []
    assert exact_or_adjacent(sheet, m.p2p_21, perm)[1] >= 0.95


def test_a_mesh_against_raw_points_with_normals_is_also_matched_as_two_clouds():
    """A mesh against a cloud's raw points (no surface made from them) that carry their own
    normals is matched as two clouds too, even when the first map is trusted, and the two
    clouds' pass gives the mesh's points the mesh's own vertex normals (both sides' outward
    sides then come from the shapes); without file normals it is not run for a trusted map."""
    sheet = l_sheet()
    moved, perm = permuted_copy(point_cloud(sheet), seed=4, rigid=True)
    with_normals = with_moved_normals(sheet, moved, perm)
    m = match(sheet, with_normals, "fast", point_cloud_surface="none", **SMALL)
    assert not m.info["confidence_low"]
    assert "two_clouds_confidence" in m.info["point_cloud_paths"]
    assert exact_or_adjacent(sheet, m.p2p_21, perm)[1] >= 0.95
    points = pipeline._mesh_as_points((sheet, with_normals))
    assert not points[0].is_mesh and points[1] is with_normals
    np.testing.assert_allclose(points[0].point_normals, sheet.vertex_normals)
    assert pipeline._mesh_as_points((sheet, moved))[0].point_normals is None  # no file normals: estimated
    blob_pts = point_cloud(bumpy(2))
    m = match(bumpy(2), blob_pts, "fast", point_cloud_surface="none", **SMALL)  # trusted, no normals
    assert not m.info["confidence_low"] and "point_cloud_paths" not in m.info


def test_a_mesh_matched_as_the_cloud_of_its_vertices_against_a_cloud(blob):
    """The third path of a mesh-and-cloud pair (``_Run(mesh_as_points=True)``): a cup (the blob
    with its top cut off, whose points' surface is refused as open) against its own permuted
    points is matched as two clouds, and the permutation comes back exactly, in the mesh's
    vertex order; the summaries keep the mesh a mesh."""
    keep = blob.vertices[:, 2] < 0.45 * blob.vertices[:, 2].max()
    faces = blob.faces[keep[blob.faces].all(axis=1)]
    used = np.unique(faces)
    index = np.full(blob.n_vertices, -1)
    index[used] = np.arange(len(used))
    cup = Shape(blob.vertices[used], index[faces], name="cup")
    t, perm = permuted_copy(point_cloud(cup), seed=7, rigid=True)
    run = pipeline._Run(load_preset("fast", **SMALL), "cpu", None, None, mesh_as_points=True)
    with pytest.warns(UserWarning, match="open surface"):
        m = run.match(cup, t, strict=False)
    assert m.info["mesh_as_points"] and m.info["proxy"] is None and m.info["shape_kinds"] == ["mesh", "point_cloud"]
    assert exact_or_adjacent(cup, m.p2p_21, perm)[0] >= 0.99
    assert m.source_summary["kind"] == "mesh" and len(m.p2p_12) == cup.n_vertices
    assert pipeline.usable_as_points(cup, t) and pipeline.usable_as_points(t, cup)
    assert not pipeline.usable_as_points(cup, cup) and not pipeline.usable_as_points(t, t)
    doubled = Shape(np.r_[cup.vertices, cup.vertices[:1]], cup.faces, validate=False)  # an unused duplicate vertex
    assert not pipeline.usable_as_points(doubled, t)
    # the more trusted of a first map and the two clouds' map is kept, and both confidences recorded
    first = match(cup, t, "fast", point_cloud_surface="none", **SMALL)
    for c_first, c_clouds, kept in ((0.2, 0.9, m), (0.9, 0.2, first), (0.5, 0.5, first)):
        first.info["confidence"], m.info["confidence"] = c_first, c_clouds
        chosen = pipeline._more_trusted_as_two_clouds(first, m)
        assert chosen is kept and chosen.info["point_cloud_paths"]["two_clouds_confidence"] == c_clouds


def test_match_from_files_records_settings_timings_and_progress(tmp_path, blob_pair):
    s, t, perm = blob_pair
    p1 = write_off(tmp_path / "a.off", s.vertices, s.faces)
    p2 = write_off(tmp_path / "b.off", t.vertices, t.faces)
    stages = []
    m = match(p1, p2, "fast", progress=lambda stage, frac: stages.append((stage, frac)), **SMALL)
    assert exact_or_adjacent(s, m.p2p_21, perm)[0] >= 0.95
    names = [st for st, _ in stages]
    assert names[0] == "load" and names[-1] == "confidence"
    assert {"prepare", "learned_features", "zoomout"} <= set(names)
    assert set(names) <= set(m.timings) and m.timings["total"] >= max(m.timings[n] for n in names)
    expected = load_preset("fast", **SMALL).to_dict()
    assert m.settings == expected
    assert m.source_summary["path"] == str(p1) and m.target_summary["n_vertices"] == t.n_vertices


def test_hks_descriptor_option(blob_pair):
    s, t, perm = blob_pair
    m = match(s, t, "fast", descriptor="hks", n_descriptors=30, **SMALL)
    assert exact_or_adjacent(s, m.p2p_21, perm)[1] >= 0.95
    with pytest.raises(SettingsError, match="unknown descriptor"):
        match(s, t, "fast", descriptor="shot", **SMALL)


# ----------------------------------------------------------------------------- settings
def test_learned_init_with_a_model_file_and_bad_init(tmp_path, blob_pair):
    """``feature_model`` takes a .pt path (here an untrained tiny model: the copy is isometric,
    so even random features plus ZoomOut recover the permutation); an unknown ``init`` and a
    missing model are clear errors."""
    import torch

    from shapecorr.learn import FeatureModel, FeatureNet, FeatureNetConfig

    s, t, perm = blob_pair
    torch.manual_seed(0)
    path = FeatureModel(FeatureNet(FeatureNetConfig(in_dim=16, width=16, n_blocks=2, out_dim=16, k_input=30,
                                                    k_diffusion=30))).save(tmp_path / "tiny.pt")
    m = match(s, t, "default", feature_model=str(path), **SMALL)
    assert m.info["init"] == "learned" and "learned_features" in m.timings
    exact, near = exact_or_adjacent(s, m.p2p_21, perm)
    assert exact >= 0.95 and near == 1.0
    with pytest.raises(SettingsError, match="unknown init"):
        match(s, t, "default", init="magic", **SMALL)
    with pytest.raises(SettingsError, match="no bundled model or file 'nope'"):
        match(s, t, "default", feature_model="nope", **SMALL)


def test_unknown_preset_or_setting_fails_before_any_work():
    with pytest.raises(SettingsError, match="unknown preset"):
        match("no/such/file.off", "no/such/file.off", "nonexistent")
    with pytest.raises(SettingsError, match="unknown match setting"):
        match("no/such/file.off", "no/such/file.off", "fast", bogus=1)


def test_too_small_shapes_get_advice_that_works_when_followed():
    """A 10-point cloud cannot carry a 100-function map: the error names the size to use,
    and matching with that size then works (k_init and the rest follow)."""
    rng = np.random.default_rng(0)
    pts = shapecorr.Shape(rng.normal(size=(10, 3)))
    with pytest.raises(TooFewPointsError, match=r"use k_final <= 8 \(the CLI's --k 8"):
        match(pts, pts, "default")
    m = match(pts, pts, "default", k_final=8)
    assert m.fmap_12.shape == (8, 8) and m.p2p_21.shape == (10,)


# ----------------------------------------------------------------------------- save / load
def test_match_save_load_round_trip(tmp_path, blob_pair):
    s, t, _ = blob_pair
    m = match(s, t, "fast", **SMALL)
    out = m.save(tmp_path / "saved")
    for name in ("source_to_target.txt", "target_to_source.txt", "fmap.npy", "match.json"):
        assert (out / name).exists()
    back = Match.load(out)
    np.testing.assert_array_equal(back.p2p_21, m.p2p_21)
    np.testing.assert_array_equal(back.p2p_12, m.p2p_12)
    np.testing.assert_array_equal(back.fmap_12, m.fmap_12)
    assert back.settings == m.settings
    assert back.timings == m.timings
    assert back.info["orientation_score"] == pytest.approx(m.info["orientation_score"])
    assert back.source_summary == json.loads(json.dumps(m.source_summary))
    assert back.source_to_target is back.p2p_12 and back.target_to_source is back.p2p_21
    back.check_shapes(s, t)
    assert (back.source_hash, back.target_hash) == (s.content_hash, t.content_hash)
    with pytest.raises(ShapeMismatchError, match="other shapes"):
        back.check_shapes(t, bumpy(2))
    assert back.info["confidence"] == m.info["confidence"] and 0 <= back.info["confidence"] <= 1
    np.testing.assert_allclose(back.vertex_confidence, m.vertex_confidence, atol=1e-6)


def test_a_saved_match_refuses_shapes_with_another_vertex_order(tmp_path, blob_pair):
    """Same vertex count, same surface, other vertex order: refused (it would paint wrong
    colours), unless explicitly allowed."""
    s, t, _ = blob_pair
    back = Match.load(match(s, t, "fast", **SMALL).save(tmp_path / "m"))
    t2, _ = permuted_copy(t, seed=5)
    with pytest.raises(ShapeMismatchError, match="another target"):
        back.check_shapes(s, t2)
    back.check_shapes(s, t2, allow_other=True)


def test_match_load_errors(tmp_path, blob_pair):
    with pytest.raises(MatchFileError, match="no such folder"):
        Match.load(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MatchFileError, match="missing"):
        Match.load(tmp_path / "empty")
    s, t, _ = blob_pair
    m = Match(p2p_21=np.arange(t.n_vertices), p2p_12=np.arange(s.n_vertices), fmap_12=np.eye(3))
    d = m.save(tmp_path / "m")
    (d / "target_to_source.txt").write_text("1\nnot-a-number\n")
    with pytest.raises(MatchFileError, match="garbled"):
        Match.load(d)
    bad = Match(p2p_21=np.arange(t.n_vertices), p2p_12=np.full(s.n_vertices, t.n_vertices), fmap_12=np.eye(3))
    with pytest.raises(MatchFileError, match="do not exist"):
        bad.check_shapes(s, t)


# ----------------------------------------------------------------------------- pyfmaps
def test_cross_check_with_pyfmaps(blob_pair):
    """Peer library (pyfmaps, imported as pyFM): on the same mesh, the same robust-Laplacian
    spectrum (declared tolerance: rel 1e-8 of the largest eigenvalue) and the same WKS from
    each library's own basis (rel 1e-6); and both pipelines reach >= 95 % exact on the
    permuted-copy test."""
    pytest.importorskip("pyFM")
    from pyFM.functional import FunctionalMapping
    from pyFM.mesh import TriMesh
    from pyFM.signatures.WKS_functions import mesh_WKS

    from shapecorr.spectral import eigenbasis, wks

    s, t, perm = blob_pair
    theirs = TriMesh(s.vertices, s.faces)
    theirs.process(k=30, robust=True)
    ours = eigenbasis(s, 30)
    np.testing.assert_allclose(theirs.eigenvalues, ours.evals, rtol=0, atol=1e-8 * ours.evals.max())
    W_theirs, W_ours = mesh_WKS(theirs, 50), wks(ours.evals, ours.evecs, 50)
    np.testing.assert_allclose(W_ours, W_theirs, rtol=1e-6, atol=1e-6 * np.abs(W_ours).max())

    m1, m2 = TriMesh(s.vertices, s.faces, normalize=True), TriMesh(t.vertices, t.faces, normalize=True)
    fm = FunctionalMapping(m1, m2)
    fm.preprocess(n_descr=50, descr_type="WKS", k_process=40, subsample_step=2, k_descr=40)
    fm.fit(K=(20, 20), w_descr=1e-1, w_lap=1e-3, w_dcomm=1, w_orient=1)
    C = fm.zoomout_refine(nit=2, step=5)
    exact_theirs, _ = exact_or_adjacent(s, fm.get_p2p(C), perm)
    exact_ours, _ = exact_or_adjacent(s, match(s, t, "fast", **SMALL).p2p_21, perm)
    assert exact_theirs >= 0.95 and exact_ours >= 0.95


def test_learned_init_gets_the_eigenpairs_its_model_was_trained_with(blob_pair):
    """The fast preset stops ZoomOut at 50, but the bundled network was trained on WKS and
    diffusion from 100 eigenpairs: the plan computes those (and fewer on tiny meshes)."""
    from shapecorr.learn import load_feature_model

    s, _, _ = blob_pair
    k_model = load_feature_model().config.k_input
    fast = load_preset("fast")
    assert fast.k_final < k_model == fast.k_features
    assert plan_pair(s.n_vertices, s.n_vertices, fast).k_basis == (k_model, k_model)
    axiomatic = load_preset("fast", init="axiomatic")
    assert plan_pair(s.n_vertices, s.n_vertices, axiomatic).k_basis == (fast.k_final, fast.k_final)
    tiny = icosphere(1)  # 42 vertices: at most 40 eigenpairs
    plan = plan_pair(tiny.n_vertices, s.n_vertices, load_preset("fast", k_final=20, k_descriptor=20))
    assert plan.k_basis == (40, k_model)


def test_large_pairs_get_a_larger_basis_and_more_samples(blob_pair):
    """Both shapes above ``large_above`` vertices: ZoomOut to ``k_final_large`` on
    ``zoomout_samples_large`` samples; the answer stays exact. A pair with one shape below
    keeps ``k_final`` and ``zoomout_samples`` (one meaning of "large")."""
    s, t, perm = blob_pair  # 642 vertices each
    kw = dict(k_init=15, k_descriptor=30, k_final=30, k_final_large=40, zoomout_samples=200,
              zoomout_samples_large=400)
    big = match(s, t, "default", large_above=500, **kw)
    assert big.fmap_12.shape == (40, 40) and big.info["k_final"] == 40
    assert big.info["zoomout_samples"] == 400 and big.info["large_pair"]
    exact, near = exact_or_adjacent(s, big.p2p_21, perm)
    assert exact >= 0.95 and near == 1.0
    small = match(s, t, "default", large_above=1000, **kw)
    assert small.fmap_12.shape == (30, 30) and small.info["zoomout_samples"] == 200
    assert not small.info["large_pair"]
    settings = load_preset("default", **kw).replace(large_above=500)
    assert not plan_pair(642, 400, settings).large and plan_pair(642, 600, settings).large


LARGE_KW = dict(k_init=15, k_descriptor=30, k_final=30, k_final_large=40, zoomout_samples=200,
                zoomout_samples_large=400, large_above=500)


def test_screening_plan_uses_a_small_pairs_sizes_on_large_pairs_only():
    """A large pair's fallback candidates are screened at ``k_final`` on the first
    ``zoomout_samples`` of its own (farthest-point ordered) samples; other pairs, or
    ``screen_fallback: false``, are not screened."""
    assert load_preset("default").screen_fallback
    settings = load_preset("default", **LARGE_KW)
    plan = plan_pair(642, 642, settings)
    samples = (np.arange(400) * 2, np.arange(400) * 3)
    screen_plan, screen_samples = pipeline.screening_plan(plan, settings, samples)
    assert (plan.k_final, plan.n_samples) == (40, 400)
    assert (screen_plan.k_final, screen_plan.n_samples) == (30, 200)
    assert np.array_equal(screen_samples[0], samples[0][:200]) and np.array_equal(screen_samples[1], samples[1][:200])
    assert pipeline.screening_plan(plan_pair(642, 400, settings), settings, samples) is None  # not large
    assert pipeline.screening_plan(plan, settings.replace(screen_fallback=False), samples) is None
    same = settings.replace(k_final_large=30, zoomout_samples_large=200)  # nothing smaller to screen at
    assert pipeline.screening_plan(plan_pair(642, 642, same), same, (samples[0][:200], samples[1][:200])) is None


def test_a_large_pairs_fallback_candidates_are_screened_and_never_kept(blob_pair):
    """On a large pair the fallback candidates are refined at the screening sizes first: the map
    kept is refined at the pair's own sizes, and a screened candidate that beats the map kept so
    far is refined again at those sizes with the same start. The answer stays exact."""
    s, t, perm = blob_pair
    m = match(s, t, "default", fallback_below=1.01, **LARGE_KW)  # always falls back
    cands = m.info["candidates"]
    screened = [c for c in cands if c["screened"]]
    assert m.info["axiomatic_fallback"] and screened
    assert {c["init"] for c in screened} <= {"features_fallback", "axiomatic_fallback"}
    assert m.fmap_12.shape == (40, 40)  # the kept map was refined at the large pair's sizes
    kept = max(c["confidence"] for c in cands if not c["screened"])
    assert m.info["confidence"] == pytest.approx(kept, abs=1e-4)
    for i, c in enumerate(cands):  # a confirmed candidate repeats a screened one's start
        if not c["screened"] and c["init"] in ("features_fallback", "axiomatic_fallback"):
            start = (c["init"], c["k_init"], c["w_orient_multiplier"], c["energy"])
            assert any((b["init"], b["k_init"], b["w_orient_multiplier"], b["energy"]) == start
                       for b in cands[:i] if b["screened"])
    exact, near = exact_or_adjacent(s, m.p2p_21, perm)
    assert exact >= 0.95 and near == 1.0
    full = match(s, t, "default", fallback_below=1.01, screen_fallback=False, **LARGE_KW)
    assert not any(c["screened"] for c in full.info["candidates"])


def test_screened_candidates_that_beat_the_kept_map_are_refined_again():
    """``_Run._screened``: each screened candidate trusted more than the map kept so far is
    refined again from its own start at the pair's sizes, the others are not; :func:`select`
    never keeps a screened one."""
    from types import SimpleNamespace

    def cand(init, k, trust, screened=True):
        return pipeline.Candidate(init, k, 1.0, np.eye(2), np.zeros(2, int), np.zeros(2, int), energy="e",
                                  confidence=SimpleNamespace(value=trust), screened=screened,
                                  initial=np.full((2, 2), k) if screened else None)

    run = pipeline._Run(load_preset("default"), "cpu", None, None)
    calls = []

    def refined(kind, k, mult, C0, energy=None, guides=None, screened=False):
        calls.append((kind, k, mult, C0.tolist(), energy, screened))
        return cand(kind, k, 0.5, screened=False)

    run._candidate = refined
    batch = [cand("axiomatic_fallback", 20, 0.3), cand("axiomatic_fallback", 30, 0.8),
             cand("axiomatic_fallback", 40, 0.7)]
    kept = cand("learned", 30, 0.6, screened=False)
    out = run._screened(batch, kept)
    assert calls == [("axiomatic_fallback", 30, 1.0, [[30, 30], [30, 30]], "e", False),
                     ("axiomatic_fallback", 40, 1.0, [[40, 40], [40, 40]], "e", False)]
    assert out[:3] == batch and len(out) == 5 and not any(c.screened for c in out[3:])
    assert pipeline.select([kept] + out) is kept  # 0.6 against the re-refined 0.5s; screened 0.8 not selectable
    calls.clear()
    assert run._screened(batch, cand("learned", 30, 0.9, screened=False)) == batch and not calls


def test_axiomatic_fallback_when_the_learned_map_is_not_trusted(blob_pair):
    """fallback_below: a learned map whose confidence is below it also runs the axiomatic
    candidates and the most trusted map is kept (both are right here)."""
    s, t, perm = blob_pair
    m = match(s, t, "default", fallback_below=1.01, **SMALL)  # confidences are <= 1: always falls back
    kinds = [c["init"] for c in m.info["candidates"]]
    assert m.info["axiomatic_fallback"] and kinds[0] == "learned" and "axiomatic_fallback" in kinds
    conf = [c["confidence"] for c in m.info["candidates"]]
    assert m.info["confidence"] == pytest.approx(max(conf), abs=1e-4)
    exact, near = exact_or_adjacent(s, m.p2p_21, perm)
    assert exact >= 0.95 and near == 1.0
    m = match(s, t, "default", use_fallback=False, **SMALL)
    assert not m.info["axiomatic_fallback"] and [c["init"] for c in m.info["candidates"]] == ["learned"]


def test_a_wrong_map_gets_a_low_confidence_warning(blob):
    """The reflection of an intrinsically symmetric pair (orientation term off, no flip check,
    no fallback) is a wrong map: the match says so with a LowConfidenceWarning that contains
    the word confidence and what to try."""
    from shapecorr.core import LowConfidenceWarning

    mir = mirrored_copy(blob)
    with pytest.warns(LowConfidenceWarning, match="confidence"):
        m = match(blob, mir, "fast", init="axiomatic", w_orient=0.0, flip_check=False, **SMALL)
    assert m.info["confidence_low"] and m.info["confidence_advice"]


def test_pairs_with_a_point_cloud_use_the_point_cloud_model(blob_pair, tmp_path):
    """Two meshes use ``feature_model``; a pair with a point cloud ``feature_model_point_cloud``
    (the bundled model fine-tuned on point clouds too); a model asked for by name is used for
    point clouds as well (matched as points; through reconstructed surfaces a pair is two meshes)."""
    s, t, perm = blob_pair
    cloud = point_cloud(t)
    assert match(s, t, "default", **SMALL).info["feature_model"] == "faust_r_wks"
    m = match(s, cloud, "default", point_cloud_surface="none", **SMALL)
    assert m.info["feature_model"] == "faust_r_wks_pc" and m.info["init"] == "learned"
    mine = tmp_path / "mine.pt"
    mine.write_bytes(b"")
    assert load_preset("default", feature_model=str(mine)).feature_model_point_cloud is None
    assert match(s, t, "default", init="axiomatic", **SMALL).info["feature_model"] is None


def test_large_meshes_are_matched_through_proxies_and_lifted_to_every_vertex():
    """Above ``proxy_above`` vertices both meshes are decimated to proxies, matched, and the
    map is lifted to every full vertex: a permuted copy is still recovered to within one ring
    (measured with the bundled model of 2026-12-02: 99.7 % exact, every vertex within one ring;
    the proxy has under half of the vertices), in both directions, with per-vertex confidence at
    full resolution. (At 700 proxy vertices the result is the feature model's on a tiny blob
    rather than the proxy's: this model's adapted map was kept there, 21 % exact, 97 % within a
    ring; the model before it gave 92 % and 100 %.)"""
    s = bumpy(4)  # 2562 vertices
    t, perm = permuted_copy(s, seed=7, rigid=True)
    m = match(s, t, "default", proxy_above=2000, proxy_size=1200, large_above=5000, **SMALL)
    assert abs(m.info["proxy"]["sizes"][0] - 1200) <= 60 and "lift" in m.timings and "proxy" in m.timings
    assert m.p2p_21.shape == (t.n_vertices,) and m.p2p_12.shape == (s.n_vertices,)
    exact, near = exact_or_adjacent(s, m.p2p_21, perm)
    assert exact >= 0.45 and near >= 0.99
    _, near = exact_or_adjacent(t, m.p2p_12, inverse_permutation(perm))
    assert near >= 0.99
    assert m.vertex_confidence.shape == (t.n_vertices,) and not m.info["confidence_low"]
    direct = match(s, t, "default", proxy_above=None, **SMALL)
    assert direct.info["proxy"] is None


# ----------------------------------------------------------------------------- test-time adaptation
def test_adaptation_adds_a_candidate_selected_by_confidence(blob_pair):
    """``adapt_when="always"``: the network fine-tuned on the pair gives one more candidate
    (``learned_adapted``); the most trusted candidate is kept, the permutation is still
    recovered, and ``info["adaptation"]`` says that it ran, how, for how long and what it gave."""
    s, t, perm = blob_pair
    m = match(s, t, "default", adapt_when="always", adapt_steps=2, **SMALL)
    kinds = [c["init"] for c in m.info["candidates"]]
    assert kinds[:2] == ["learned", "learned_adapted"]
    a = m.info["adaptation"]
    from shapecorr.learn.adapt import ADAPT_LR

    assert a["ran"] and a["when"] == "always" and a["steps"] == 2 and a["lr"] == ADAPT_LR
    assert a["time_s"] == m.timings["adaptation"] > 0
    adapted = m.info["candidates"][1]["confidence"]
    assert a["confidence"] == adapted and a["kept"] == (m.info["init"] == "learned_adapted")
    assert m.confidence == max(c["confidence"] for c in m.info["candidates"])
    exact, near = exact_or_adjacent(s, m.p2p_21, perm)
    assert exact >= 0.95 and near == 1.0


def test_adaptation_replacing_the_models_map_with_either_regularizer(blob_pair):
    """``adapt_when="replace"``: the adapted network's map is the first candidate instead of the
    model's own (no ``learned`` candidate); with ``adapt_regularizer="prior"`` the adaptation's
    loss has the learned prior's regularizers (30 x 30 maps, the prior's size) and the
    permutation is still recovered; ``info["adaptation"]`` records the regularizer."""
    s, t, perm = blob_pair
    for reg in ("axiomatic", "prior"):
        m = match(s, t, "default", adapt_when="replace", adapt_steps=2, adapt_regularizer=reg, **SMALL)
        kinds = [c["init"] for c in m.info["candidates"]]
        assert kinds[0] == "learned_adapted" and "learned" not in kinds
        a = m.info["adaptation"]
        assert a["ran"] and a["reason"] == "replace" and a["regularizer"] == reg and a["kept"]
        assert a["confidence"] == m.info["candidates"][0]["confidence"]
        exact, near = exact_or_adjacent(s, m.p2p_21, perm)
        assert exact >= 0.9 and near == 1.0


def test_adapted_map_is_refined_with_the_adapted_features_as_guides(blob_pair, monkeypatch):
    """The adapted candidate's ZoomOut is guided by the fine-tuned network's features (as the
    learned map's is by the model's): the guides ``refine`` gets for it are those features'
    :func:`feature_guides`, not the model's and not none."""
    from shapecorr.fmap.refine import feature_guides

    s, t, _ = blob_pair
    adapted, seen = {}, []
    real_features, real_refine = pipeline.adapted_pair_features, pipeline.refine

    def features(*a, **kw):
        adapted["feats"] = real_features(*a, **kw)
        return adapted["feats"]

    def refine(*a, guides=None, **kw):
        seen.append(guides)
        return real_refine(*a, guides=guides, **kw)

    monkeypatch.setattr(pipeline, "adapted_pair_features", features)
    monkeypatch.setattr(pipeline, "refine", refine)
    m = match(s, t, "default", adapt_when="always", adapt_steps=2, **SMALL)
    kinds = [c["init"] for c in m.info["candidates"]]
    model_guides, adapted_guides = seen[kinds.index("learned")], seen[kinds.index("learned_adapted")]
    st = load_preset("default", **SMALL).zoomout
    expected = feature_guides(*adapted["feats"], st.guide_weight, st.guide_dims)
    for got, want in zip(adapted_guides, expected):
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)  # the same features (BLAS order aside)
    assert adapted_guides[0].shape == model_guides[0].shape
    assert np.abs(adapted_guides[0] - model_guides[0]).max() > 1e-4  # two steps changed the features


def test_adaptation_loss_of_each_regularizer():
    """The adaptation's loss: the axiomatic one is :data:`ADAPT_WEIGHTS` (any map size); the
    prior's keeps its coupling rows and needs maps of the prior's size."""
    from shapecorr.learn.adapt import ADAPT_WEIGHTS, adaptation_loss

    assert adaptation_loss("axiomatic") == (ADAPT_WEIGHTS, None)
    weights, k = adaptation_loss("prior")
    assert weights.regularizer == "prior" and weights.couple_points == ADAPT_WEIGHTS.couple_points and k == 30


def test_adaptation_when_confidence_is_low_only(blob_pair):
    """``low_confidence``: a trusted learned map is kept as it is (no adaptation, the reason
    recorded); this is the default; with "never" adaptation does not run."""
    s, t, _ = blob_pair
    m = match(s, t, "default", adapt_when="low_confidence", **SMALL)
    a = m.info["adaptation"]
    assert not m.info["confidence_low"] and not a["ran"] and "not below" in a["reason"]
    assert "adaptation" not in m.timings and [c["init"] for c in m.info["candidates"]] == ["learned"]
    assert match(s, t, "default", **SMALL).info["adaptation"] == a
    assert match(s, t, "default", adapt_when="never", **SMALL).info["adaptation"] == {"ran": False, "when": "never"}


def test_adaptation_decision_rule():
    """The rule itself, on candidates of known confidence: "low_confidence" runs below the
    threshold only, "always" always, "never" never; an axiomatic pipeline cannot adapt."""
    from types import SimpleNamespace

    from shapecorr.pipeline import Candidate, _Run

    def cand(value, threshold=0.7):
        c = Candidate("learned", 30, None, np.eye(2), np.zeros(2, int), np.zeros(2, int))
        c.confidence = SimpleNamespace(value=value, threshold=threshold, low=value < threshold)
        return c

    def decide(when, value):
        return _Run(load_preset("default", adapt_when=when), "cpu", None, None)._adaptation_reason(cand(value))

    low = decide("low_confidence", 0.4)
    assert low["ran"] and "low confidence 0.40" in low["reason"] and low["confidence_before"] == 0.4
    assert not decide("low_confidence", 0.9)["ran"]
    assert decide("always", 0.9)["ran"] and not decide("never", 0.1)["ran"]
    with pytest.raises(SettingsError, match="adapts the learned features"):
        load_preset("axiomatic", adapt_when="always")


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="the forked path runs on Linux only")
def test_each_shapes_own_work_done_in_two_processes_gives_the_same_match(blob_pair, monkeypatch):
    """Both shapes prepared at once (the second in a forked child, with its samples, features
    and descriptors) give the same match as one shape after the other. One BLAS thread in
    both runs (the child always uses one), so that the arithmetic is the same."""
    from shapecorr.fmap import prepare as prep

    s, t, _ = blob_pair
    same = dict(SMALL, zoomout_samples=300, blas_threads=1, feature_threads=1)
    monkeypatch.setattr(prep, "_fork_pays", lambda shapes, device: False)
    serial = match(s, t, "default", cache=False, **same)
    monkeypatch.setattr(prep, "_fork_pays", lambda shapes, device: True)
    forked = match(s, t, "default", cache=False, **same)
    assert serial.info["init"] == forked.info["init"] == "learned"
    assert serial.info["zoomout_samples"] == 300
    np.testing.assert_array_equal(serial.p2p_21, forked.p2p_21)
    np.testing.assert_array_equal(serial.p2p_12, forked.p2p_12)
    assert serial.info["confidence"] == forked.info["confidence"]


def test_a_trusted_map_below_fallback_below_gets_a_second_opinion(blob_pair):
    """fallback_below above the threshold: a map the confidence trusts but whose confidence is
    below fallback_below still runs the fallback candidates (and the most trusted is kept);
    at or above it, nothing more runs. The default is 0.95, the fast preset keeps the threshold."""
    s, t, perm = blob_pair
    alone = match(s, t, "default", use_fallback=False, **SMALL)
    c = alone.info["confidence"]
    assert not alone.info["confidence_low"] and c > alone.info["confidence_threshold"] + 0.01
    below = match(s, t, "default", fallback_below=c + 0.005, **SMALL)
    kinds = [x["init"] for x in below.info["candidates"]]
    assert below.info["axiomatic_fallback"] and "features_fallback" in kinds and "axiomatic_fallback" in kinds
    assert below.info["confidence"] == pytest.approx(max(x["confidence"] for x in below.info["candidates"]), abs=1e-4)
    assert below.info["confidence"] >= c - 1e-4
    exact, near = exact_or_adjacent(s, below.p2p_21, perm)
    assert exact >= 0.95 and near == 1.0
    above = match(s, t, "default", fallback_below=c - 0.005, **SMALL)
    assert not above.info["axiomatic_fallback"] and [x["init"] for x in above.info["candidates"]] == ["learned"]
    assert load_preset("default").fallback.fallback_below == 0.95
    assert load_preset("fast").fallback.fallback_below is None


def test_the_fallback_runs_the_axiomatic_solves_with_each_energy(blob_pair):
    """The fallback's axiomatic candidates run for its solve group's energy, then for each of its
    extra_energies (by default ours, then pyFM's); none extra gives only the one; the most trusted is kept."""
    s, t, perm = blob_pair
    both = match(s, t, "default", fallback_below=1.01, **SMALL)
    energies = [x["energy"] for x in both.info["candidates"] if x["init"] == "axiomatic_fallback"]
    assert energies[0] == "frobenius/squared" and energies[-1] == "canonical/resolvent"
    assert energies == sorted(energies, key=["frobenius/squared", "canonical/resolvent"].index)
    assert all(x["energy"] is None for x in both.info["candidates"] if x["init"] != "axiomatic_fallback")
    assert both.info["confidence"] == pytest.approx(max(x["confidence"] for x in both.info["candidates"]), abs=1e-4)
    one = match(s, t, "default", fallback_below=1.01,
                fallback_solve={"k_descriptor": 100, "term_scales": "canonical", "extra_energies": []}, **SMALL)
    assert {x["energy"] for x in one.info["candidates"] if x["init"] == "axiomatic_fallback"} == {"canonical/squared"}
    exact, near = exact_or_adjacent(s, both.p2p_21, perm)
    assert exact >= 0.95 and near == 1.0


def test_the_polish_grows_the_kept_map_where_the_features_disagree_with_it(blob_pair, monkeypatch):
    """A rigid copy: the learned features agree with the map, nothing more runs. Where they agree
    on fewer than polish_below of the vertices, an unguided ZoomOut grows the kept map by polish_extra
    (still exact); with polish_extra null it never runs; the fast preset does not polish."""
    s, t, perm = blob_pair
    monkeypatch.setattr(pipeline, "POLISH_VERTICES_PER_FUNCTION", 10)  # this 642-vertex blob may grow to 64
    plain = match(s, t, "default", polish_extra=10, **SMALL)
    assert plain.info["polish"]["agreement"] >= 0.99 and not plain.info["polish"]["ran"]
    assert plain.fmap_12.shape == (30, 30)
    monkeypatch.setattr(pipeline, "feature_agreement", lambda *a, **k: 0.1)
    calls = []
    bijective = pipeline.bijective_zoomout
    monkeypatch.setattr(pipeline, "bijective_zoomout", lambda *a, **k: calls.append(k) or bijective(*a, **k))
    for iters in (2, 0):  # with the bijective steps (the default) and without
        calls.clear()
        m = match(s, t, "default", polish_extra=10, polish_bijective_iters=iters, **SMALL)
        p = m.info["polish"]
        assert p["ran"] and p["kept"] and p["agreement"] == 0.1 and p["k"] == 40 and p["bijective_iters"] == iters
        assert [c["refine_iters"] for c in calls] == ([iters - 1] if iters else [])
        assert m.fmap_12.shape == (40, 40) and m.info["k_final"] == 40 and m.info["k_basis"] == [40, 40]
        exact, near = exact_or_adjacent(s, m.p2p_21, perm)
        assert exact >= 0.95 and near == 1.0
        assert np.mean(m.p2p_12[m.p2p_21] == np.arange(t.n_vertices)) >= 0.95
    assert load_preset("default").zoomout.polish_bijective_iters == 2
    off = match(s, t, "default", polish_extra=None, **SMALL)
    assert not off.info["polish"]["ran"] and "agreement" not in off.info["polish"] and off.fmap_12.shape == (30, 30)
    assert load_preset("fast").zoomout.polish_extra is None and load_preset("default").zoomout.polish_extra == 40
    # a coarse shape is not polished: 642 vertices carry at most 642 // 35 = 18 eigenfunctions, below k_final
    monkeypatch.setattr(pipeline, "POLISH_VERTICES_PER_FUNCTION", 35)
    coarse = match(s, t, "default", polish_extra=10, **SMALL)
    assert not coarse.info["polish"]["ran"] and coarse.info["polish"]["k"] == 18 and coarse.fmap_12.shape == (30, 30)
    # a pair refined on a subset of its vertices (too large for steps on all of them) is not polished
    monkeypatch.setattr(pipeline, "POLISH_VERTICES_PER_FUNCTION", 10)
    large = match(s, t, "default", polish_extra=10, refine_max_vertices=300, **SMALL)
    assert large.info["refine_on_subsets"] and not large.info["polish"]["ran"]
    assert "large pair" in large.info["polish"]["skipped"] and large.fmap_12.shape == (30, 30)


def test_a_map_below_register_below_is_read_off_a_registration(blob_pair, monkeypatch):
    """A trusted rigid copy (confidence above 0.95): no registration. With register_below above
    any confidence it runs, and the registered maps of the rigid copy are exact both ways and
    kept; the fast preset never registers; a pair with a point cloud (matched through proxies) is not
    registered; a large pair is registered through proxies (register_proxy_size), or not at all
    when that is null."""
    s, t, perm = blob_pair
    plain = match(s, t, "default", **SMALL)
    r = plain.info["registration"]
    assert plain.info["confidence"] >= 0.95 and r == {"ran": False, "below": 0.95}
    calls = []
    import shapecorr.deform.precise as precise

    registered = precise.registered_vertex_maps
    monkeypatch.setattr(precise, "registered_vertex_maps", lambda *a, **k: calls.append(1) or registered(*a, **k))
    m = match(s, t, "default", register_below=1.01, **SMALL)
    r = m.info["registration"]
    assert calls == [1] and r["ran"] and r["kept"] and r["fit"] < 1e-3 and r["time_s"] >= 0
    assert r["confidence_before"] == plain.info["confidence"] and r["confidence_after"] >= 0.95
    np.testing.assert_array_equal(m.p2p_21, perm)
    np.testing.assert_array_equal(m.p2p_12, inverse_permutation(perm))
    assert m.fmap_12.shape == plain.fmap_12.shape and "registration" in m.timings
    assert load_preset("fast").zoomout.register_below is None
    assert not match(s, t, "fast", register_below=None, **SMALL).info["registration"]["ran"]
    cloud = shapecorr.Shape(t.vertices, None, name="cloud")
    pc = match(s, cloud, "default", register_below=1.01, **SMALL).info["registration"]
    assert not pc["ran"] and "point cloud" in pc["reason"]  # matched through a reconstructed surface
    assert len(calls) == 1
    # a large pair (here: above refine_max_vertices 600) is registered through proxies
    big = match(s, t, "default", register_below=1.01, refine_max_vertices=600, register_proxy_size=400, **SMALL)
    r = big.info["registration"]
    assert len(calls) == 2 and r["ran"] and r["kept"] and r["through_proxies"] == 400
    for found, truth, shape in ((big.p2p_21, perm, s), (big.p2p_12, inverse_permutation(perm), t)):
        exact, near = exact_or_adjacent(shape, found, truth)  # the proxies' precision: within an edge
        assert exact >= 0.9 and near == 1.0
    off = match(s, t, "default", register_below=1.01, refine_max_vertices=600, register_proxy_size=None,
                **SMALL).info["registration"]
    assert not off["ran"] and "large pair (642 vertices" in off["reason"] and len(calls) == 2


def test_a_map_the_features_agree_with_less_is_registered_whatever_its_confidence(blob_pair, monkeypatch):
    """A trusted map (confidence above register_below) is still registered when the learned
    features agree with it on fewer than register_agreement_below of the vertices (the polish's
    measure); not when that setting is null, nor when the agreement is above it."""
    s, t, perm = blob_pair
    monkeypatch.setattr(pipeline, "POLISH_VERTICES_PER_FUNCTION", 10)  # this 642-vertex blob may grow to 64
    assert load_preset("default").zoomout.register_agreement_below == 0.75
    assert load_preset("fast").zoomout.register_agreement_below is None
    plain = match(s, t, "default", polish_extra=10, **SMALL)
    assert plain.info["polish"]["agreement"] >= 0.99 and not plain.info["registration"]["ran"]
    monkeypatch.setattr(pipeline, "feature_agreement", lambda *a, **k: 0.5)
    m = match(s, t, "default", polish_extra=10, **SMALL)
    r = m.info["registration"]
    assert m.info["polish"]["agreement"] == 0.5 and r["ran"] and r["why"] == "agreement" and r["kept"]
    assert r["confidence_before"] >= 0.95  # trusted: the confidence alone would not have registered it
    np.testing.assert_array_equal(m.p2p_21, perm)
    off = match(s, t, "default", polish_extra=10, register_agreement_below=None, **SMALL)
    assert not off.info["registration"]["ran"] and off.info["polish"]["ran"]
    below = match(s, t, "default", polish_extra=10, register_agreement_below=0.4, **SMALL)
    assert not below.info["registration"]["ran"]


def test_a_run_without_a_learned_model_always_polishes_its_kept_map(blob_pair, monkeypatch):
    """No learned features (the axiomatic init): nothing to measure agreement with and no guides
    held the ZoomOut, so the kept map is grown every time (still exact on a rigid copy)."""
    s, t, perm = blob_pair
    monkeypatch.setattr(pipeline, "POLISH_VERTICES_PER_FUNCTION", 10)
    monkeypatch.setattr(pipeline, "feature_agreement", lambda *a, **k: pytest.fail("no features to agree"))
    m = match(s, t, "axiomatic", polish_extra=10, **SMALL)
    p = m.info["polish"]
    assert p["ran"] and p["kept"] and "agreement" not in p and "no learned feature model" in p["reason"]
    assert m.fmap_12.shape == (40, 40) and m.info["k_final"] == 40
    exact, near = exact_or_adjacent(s, m.p2p_21, perm)
    assert exact >= 0.95 and near == 1.0
    off = match(s, t, "axiomatic", polish_extra=None, **SMALL)
    assert not off.info["polish"]["ran"] and off.fmap_12.shape == (30, 30)


def test_prior_refine_moves_each_initial_map_of_the_priors_size_toward_it(blob_pair, monkeypatch):
    """``prior_refine``: every initial map at least the prior's size (30) goes through the prior
    before its ZoomOut, a smaller one does not; an unknown prior is refused when the settings are
    built; off by default."""
    from shapecorr.core import SettingsError
    from shapecorr.learn.prior import load_prior

    s, t, perm = blob_pair
    assert load_preset("default").zoomout.prior_refine is None
    with pytest.raises(SettingsError, match="prior_refine: no bundled prior or file 'nope'"):
        load_preset("axiomatic", prior_refine="nope")
    model = load_prior("prior_k30")
    seen = []
    refine = type(model).refine
    monkeypatch.setattr(type(model), "refine", lambda self, C, **k: seen.append(np.shape(C)) or refine(self, C, **k))
    m = match(s, t, "axiomatic", prior_refine="prior_k30", k_init=30, k_final=40, k_descriptor=30, polish_extra=None)
    assert seen and all(shape[0] >= 30 for shape in seen)
    assert len(seen) == sum(c["k_init"] >= 30 for c in m.info["candidates"])
    assert m.settings["zoomout"]["prior_refine"] == "prior_k30"
    seen.clear()
    small = match(s, t, "axiomatic", prior_refine="prior_k30", **SMALL)  # 15 x 15 initial maps: left alone
    assert not seen and small.p2p_21.shape == (t.n_vertices,)


def test_the_bijective_polish_steps_run_on_two_meshes_only(blob_pair):
    from types import SimpleNamespace

    s, t, _ = blob_pair
    settings = load_preset("default")
    P = lambda shape: SimpleNamespace(shape=shape)  # noqa: E731 (only the shape is looked at)
    assert pipeline.polish_bijective_iters(settings, P(s), P(t)) == 2
    assert pipeline.polish_bijective_iters(settings, P(s), P(point_cloud(t))) == 0
    assert pipeline.polish_bijective_iters(settings, P(point_cloud(s)), P(point_cloud(t))) == 0
    assert pipeline.polish_bijective_iters(settings.replace(polish_bijective_iters=0), P(s), P(t)) == 0


def test_a_polished_map_the_confidence_stops_trusting_is_not_kept(blob_pair, monkeypatch):
    """The safety net: a grown map that loses the confidence's trust gives way to the map before."""
    s, t, perm = blob_pair
    plain = match(s, t, "default", **SMALL)
    rng = np.random.default_rng(0)

    def scrambled(C, Q1, Q2, settings, k, **kw):
        return np.eye(k), rng.permutation(Q1.shape.n_vertices)[:Q2.shape.n_vertices], \
            rng.permutation(Q2.shape.n_vertices)[:Q1.shape.n_vertices]

    monkeypatch.setattr(pipeline, "feature_agreement", lambda *a, **k: 0.1)
    monkeypatch.setattr(pipeline, "polish_map", scrambled)
    monkeypatch.setattr(pipeline, "POLISH_VERTICES_PER_FUNCTION", 10)
    m = match(s, t, "default", polish_extra=10, **SMALL)
    p = m.info["polish"]
    assert p["ran"] and not p["kept"] and p["confidence_after"] < m.info["confidence_threshold"]
    np.testing.assert_array_equal(m.p2p_21, plain.p2p_21)
    assert m.fmap_12.shape == (30, 30) and m.info["k_basis"] == plain.info["k_basis"]


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(_has_cuda(), reason="checks the message shown without CUDA")
def test_a_match_on_cuda_without_a_gpu_is_refused_clearly_before_any_work():
    """The Python API names the device problem (not an assertion from deep inside torch)."""
    s = bumpy(2)
    with pytest.raises(SettingsError, match="no CUDA device is visible"):
        shapecorr.match(s, s, device="cuda")
    with pytest.raises(SettingsError, match="use 'cpu' or 'cuda'"):
        shapecorr.match(s, s, device="gpu")


def test_maps_agreement_known_answers():
    from shapecorr.fmap.refine import maps_agreement

    V = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0.1, 0, 0]])
    same = np.array([0, 1, 2, 3])
    assert maps_agreement(same, same, V, 0.2) == 1.0
    # vertex 3 is 0.1 from vertex 0: within 0.2; vertices 1 and 2 are 1.41 apart
    assert maps_agreement(np.array([0, 1, 2, 3]), np.array([3, 2, 1, 0]), V, 0.2) == 0.5
    with pytest.raises(ValueError, match="same target"):
        maps_agreement(same, same[:3], V, 0.2)


def _fake_candidate(init, p2p_21, trust):
    from types import SimpleNamespace

    return pipeline.Candidate(init, 30, None, np.eye(3), np.asarray(p2p_21), np.asarray(p2p_21),
                              confidence=SimpleNamespace(value=trust))


@pytest.mark.parametrize("kept_init, disagrees, flagged", [
    ("axiomatic_fallback", True, True),    # the learned map puts most of the shape elsewhere
    ("axiomatic_fallback", False, False),  # it agrees: nothing to say
    ("learned_adapted", True, None),       # a learned map is not checked against itself
])
def test_a_kept_axiomatic_map_the_learned_map_disagrees_with_is_flagged(kept_init, disagrees, flagged):
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    V = rng.normal(size=(200, 3))
    mirror = np.argsort(V[:, 0])[::-1][np.argsort(np.argsort(V[:, 0]))]  # each vertex to its x-rank opposite
    identity = np.arange(200)
    run = pipeline._Run(load_preset("default"), "cpu", None, None)
    run.P1 = SimpleNamespace(shape=SimpleNamespace(vertices=V))
    learned = _fake_candidate("learned", identity, 0.2)
    kept = _fake_candidate(kept_init, mirror if disagrees else identity, 0.99)
    out = run._learned_disagreement(kept, [learned, kept])
    if flagged is None:
        assert out is None
        return
    assert out["flagged"] is flagged and out["with"] == "learned"
    assert (out["agreement"] < 0.5) is disagrees
    off = pipeline._Run(load_preset("default", flag_disagreement_below=None), "cpu", None, None)
    off.P1 = run.P1
    assert off._learned_disagreement(kept, [learned, kept]) is None


def test_flag_disagreement_below_is_validated():
    with pytest.raises(SettingsError, match="flag_disagreement_below"):
        load_preset("default", flag_disagreement_below=1.5)


@pytest.mark.parametrize("second_turned, second_confidence", [(False, 0.70), (True, 0.70), (True, 0.80)])
def test_two_feature_models_that_disagree_flag_the_kept_match(second_turned, second_confidence):
    """The first and second models' matches that put most of the target elsewhere are flagged
    low confidence whichever is kept (the confidence, a map's fit, cannot say which is right);
    the kept map and its confidence value stay; agreeing matches are not flagged."""
    src, turned = ellipsoid()  # its left-right mirror map
    n = src.n_vertices

    def fake(p2p, confidence, model):
        return Match(p2p_21=p2p, p2p_12=np.arange(n), fmap_12=np.eye(3),
                     info={"confidence": confidence, "confidence_low": False, "confidence_advice": "",
                           "feature_model": model})

    first = fake(np.arange(n), 0.74, "faust_r_wks")
    second = fake(turned if second_turned else np.arange(n), second_confidence, "selfsup_general")
    kept = pipeline._more_trusted_with_the_second_model(first, second, src, 0.5)
    info = kept.info["second_model"]
    assert kept is (second if second_confidence > 0.74 else first)
    assert kept.info["confidence"] == max(0.74, second_confidence)  # the value is not changed, only the trust
    assert info["flagged"] is second_turned and kept.info["confidence_low"] is second_turned
    assert info["agreement"] < 0.5 if second_turned else info["agreement"] == 1.0
    assert kept.alternative is ((first if kept is second else second) if second_turned else None)
    if second_turned:  # the advice names the other model
        other = "faust_r_wks" if kept is second else "selfsup_general"
        assert other in kept.info["confidence_advice"] and "elsewhere" in kept.info["confidence_advice"]
    off = pipeline._more_trusted_with_the_second_model(fake(first.p2p_21, 0.74, "a"), fake(second.p2p_21, 0.7, "b"),
                                                       src, None)
    assert not off.info["second_model"]["flagged"] and not off.info["confidence_low"]


def test_a_trusted_match_the_two_models_disagree_on_warns_that_it_is_not_trusted(blob_pair, monkeypatch):
    """Flagged by the two models' disagreement while its confidence is above the threshold: the
    warning says it is not trusted and why (not "below" a threshold it is above); the whole
    call's time is the total, every run included."""
    from shapecorr.core import LowConfidenceWarning

    src, tgt, _ = blob_pair
    monkeypatch.setattr(pipeline, "maps_agreement", lambda *args: 0.1)
    with pytest.warns(LowConfidenceWarning) as caught:
        m = match(src, tgt, "default", fallback_below=1.01, **SMALL)
    assert m.info["second_model"]["flagged"] and m.info["confidence_low"]
    assert m.info["confidence"] >= m.info["confidence_threshold"]
    said = [str(w.message) for w in caught if isinstance(w.message, LowConfidenceWarning)]
    assert len(said) == 1 and "not trusted, although its confidence is" in said[0] and "below" not in said[0]
    assert m.alternative is not None and m.timings["total"] > m.timings["kept_run_total"]


def test_a_second_feature_model_matches_again_a_pair_below_fallback_below(blob_pair):
    """``second_model`` (selfsup_general by default): two meshes whose match is below
    ``fallback_below`` (here every match, fallback_below above 1) are matched again, whole, with
    the second model; the more trusted match is kept and says so. Off with ``second_model=None``,
    and when the caller names its own ``feature_model``."""
    src, tgt, perm = blob_pair
    stages = []
    on = match(src, tgt, "default", fallback_below=1.01, progress=lambda stage, fraction: stages.append(stage),
               **SMALL)
    info = on.info["second_model"]
    assert "load" in stages and "second model: load" in stages  # the second run says so in the progress
    assert info["ran"] and info["model"] == "selfsup_general"
    first, second = info["confidence_first"], info["confidence_second"]
    assert info["kept"] == ("second" if second > first else "first")
    assert on.info["confidence"] == max(first, second)
    assert on.info["feature_model"] == ("selfsup_general" if info["kept"] == "second" else "faust_r_wks")
    assert exact_or_adjacent(src, on.p2p_21, perm)[1] >= 0.9  # a permuted copy: either match is right
    assert info["agreement"] >= 0.9 and not info["flagged"]  # both right: they agree, nothing is flagged
    off = match(src, tgt, "default", fallback_below=1.01, second_model=None, **SMALL)
    assert "second_model" not in off.info
    assert load_preset("default", feature_model="faust_r_wks").fallback.second_model is None
    assert load_preset("default", feature_model="faust_r_wks_pc", second_model="selfsup_general").fallback.second_model \
        == "selfsup_general"
    assert load_preset("fast").fallback.second_model is None
    with pytest.raises(SettingsError, match="second_model"):
        load_preset("default", second_model="  ")


@pytest.mark.parametrize("info, words", [
    ({"confidence": 0.9, "confidence_low": False, "confidence_threshold": 0.59}, None),
    ({"confidence": None, "confidence_low": True}, None),  # not computed: nothing to say
    ({"confidence": 0.06, "confidence_low": True, "confidence_threshold": 0.59, "confidence_advice": "try X"},
     ["a -> b: low confidence 0.06 (below 0.59)", "probably wrong", "try X"]),
    ({"confidence": 0.74, "confidence_low": True, "confidence_threshold": 0.59, "confidence_advice": "see Y"},
     ["a -> b: not trusted, although its confidence is 0.74", "see Y"]),
    ({"confidence": 0.9, "confidence_low": True, "confidence_threshold": 0.59, "sides_undecided": ["b"],
      "confidence_advice": "give normals"}, ["which way round", "0.90", "give normals"]),
])
def test_not_trusted_message_says_why_from_the_info_alone(info, words):
    """One message for a match that is not trusted, from its ``info`` only (so a saved match,
    loaded by a command, is warned about as the match call warned about it)."""
    message = pipeline.not_trusted_message(info, "a", "b")
    if words is None:
        assert message is None
        return
    assert all(w in message for w in words), message
    if "below" in words[0]:
        assert "although" not in message
    else:
        assert "below" not in message


def test_warn_if_not_trusted_warns_once_with_the_prefix():
    from shapecorr.core import LowConfidenceWarning

    info = {"confidence": 0.2, "confidence_low": True, "confidence_threshold": 0.5, "confidence_advice": ""}
    with pytest.warns(LowConfidenceWarning) as caught:
        assert pipeline.warn_if_not_trusted(info, "a", "b", prefix="the saved match M: ")
    said = [str(w.message) for w in caught]
    assert said == ["the saved match M: a -> b: low confidence 0.20 (below 0.50); the map is probably wrong in places. "]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not pipeline.warn_if_not_trusted({**info, "confidence_low": False}, "a", "b")
