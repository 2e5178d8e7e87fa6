"""The one-call API ``shapecorr.match``: known answers on generated shapes, flips, presets,
saving, point clouds, and a cross-check against pyfmaps.

Matches use the ``fast`` preset or small overrides so the whole file runs in seconds.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

import shapecorr
from shapecorr import Match, MatchSettings, available_presets, load_preset, match
from shapecorr.core import MatchFileError
from shapecorr.fmap import orientation_score
from shapecorr.pipeline import PRESET_DIR, prepare

from helpers import (
    bumpy,
    icosphere,
    ellipsoid,
    exact_or_adjacent,
    inverse_permutation,
    mirrored_copy,
    permuted_copy,
    point_cloud,
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
    k = m.settings["k_final"]
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
    pc = point_cloud(blob)
    t, perm = permuted_copy(pc, seed=24, rigid=True)
    m = match(pc, t, "fast", **SMALL)
    exact, near = exact_or_adjacent(blob, m.p2p_21, perm)  # adjacency from the mesh it came from
    assert exact >= 0.9 and near >= 0.98
    assert m.source_summary["kind"] == "point_cloud" and m.target_summary["kind"] == "point_cloud"
    assert m.info["orientation_score"] is None  # no faces: no orientation check (None, valid JSON)
    assert m.info["init"] == "learned"  # learned features on point clouds too (estimated outward normals)
    # mixed: mesh source, point-cloud target
    m = match(blob, t, "fast", **SMALL)
    _, near = exact_or_adjacent(blob, m.p2p_21, perm)
    assert near >= 0.9


def test_match_from_files_records_settings_timings_and_progress(tmp_path, blob_pair):
    s, t, perm = blob_pair
    p1 = write_off(tmp_path / "a.off", s.vertices, s.faces)
    p2 = write_off(tmp_path / "b.off", t.vertices, t.faces)
    stages = []
    m = match(p1, p2, "fast", progress=lambda stage, frac: stages.append((stage, frac)), **SMALL)
    assert exact_or_adjacent(s, m.p2p_21, perm)[0] >= 0.95
    names = [st for st, _ in stages]
    assert names[0] == "load" and names[-1] == "p2p"
    fracs = [f for _, f in stages]
    assert fracs == sorted(fracs) and fracs[-1] == 1.0
    assert set(names) <= set(m.timings) and m.timings["total"] >= max(m.timings[n] for n in names)
    expected = load_preset("fast", **SMALL).to_dict()
    assert m.settings == expected
    assert m.source_summary["path"] == str(p1) and m.target_summary["n_vertices"] == t.n_vertices


def test_hks_descriptor_option(blob_pair):
    s, t, perm = blob_pair
    m = match(s, t, "fast", descriptor="hks", n_descriptors=30, **SMALL)
    assert exact_or_adjacent(s, m.p2p_21, perm)[1] >= 0.95
    with pytest.raises(ValueError, match="unknown descriptor"):
        match(s, t, "fast", descriptor="shot", **SMALL)


# ----------------------------------------------------------------------------- presets
def test_presets_load_and_match_their_yaml():
    names = available_presets()
    assert {"default", "fast"} <= set(names)
    for name in names:
        raw = yaml.safe_load((PRESET_DIR / f"{name}.yaml").read_text()) or {}
        raw.pop("description", None)
        s = load_preset(name)
        assert isinstance(s, MatchSettings)
        for key, value in raw.items():
            got = getattr(s, key)
            assert (list(got) if isinstance(got, tuple) else got) == value, (name, key)
    assert load_preset(None) == load_preset("default")
    fast = load_preset("fast")
    assert fast.k_final < load_preset("default").k_final  # the fast one is smaller


def test_preset_from_path_dict_settings_and_overrides(tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text("description: test\nk_init: 12\nk_final: 24\norient_candidates: [1, 2, 3]\n")
    s = load_preset(p)
    assert (s.k_init, s.k_final, s.orient_candidates) == (12, 24, (1, 2, 3))
    assert load_preset({"k_init": 7}).k_init == 7
    assert load_preset(s, k_final=40).k_final == 40 and load_preset(s).k_init == 12
    assert MatchSettings.from_dict(s.to_dict()) == s
    json.dumps(s.to_dict())  # JSON-friendly


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
    with pytest.raises(ValueError, match="unknown init"):
        match(s, t, "default", init="magic", **SMALL)
    with pytest.raises(FileNotFoundError, match="no feature model"):
        match(s, t, "default", feature_model="nope", **SMALL)


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown preset 'nonexistent'.*available: .*default.*fast"):
        load_preset("nonexistent")
    with pytest.raises(ValueError, match="unknown preset"):
        match(bumpy(1), bumpy(1), "nonexistent")


def test_unknown_setting_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"unknown match setting\(s\) \['k_fnial'\]"):
        load_preset("fast", k_fnial=10)
    with pytest.raises(ValueError, match="unknown match setting"):
        match(bumpy(1), bumpy(1), "fast", bogus=1)
    bad = tmp_path / "bad.yaml"
    bad.write_text("k_init: 10\nzoom_out: 3\n")
    with pytest.raises(ValueError, match="zoom_out"):
        load_preset(bad)


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
    with pytest.raises(MatchFileError, match="other shapes"):
        back.check_shapes(t, bumpy(2))


def test_match_load_errors(tmp_path, blob_pair):
    with pytest.raises(MatchFileError, match="missing"):
        Match.load(tmp_path / "nothing")
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
    diffusion from 100 eigenpairs: preparation computes those (and fewer on tiny meshes); too
    few for the model is a clear error, not silently worse features."""
    from shapecorr.learn import load_feature_model

    s, t, _ = blob_pair
    k_model = load_feature_model().config.k_input
    fast = load_preset("fast")
    assert fast.k_final < k_model == fast.k_features
    assert prepare(s, fast).evecs.shape[1] == k_model
    assert prepare(s, load_preset("fast", init="axiomatic")).evecs.shape[1] == fast.k_final
    tiny = icosphere(1)  # 42 vertices: at most 40 eigenpairs
    assert prepare(tiny, load_preset("fast", k_final=20, k_init=10, k_descriptor=20)).evecs.shape[1] == 40
    with pytest.raises(ValueError, match="set k_features=100"):
        match(s, t, "fast", k_features=60, fallback_below=None)


def test_large_shapes_get_a_larger_basis_and_more_samples(blob_pair):
    """Both shapes above ``large_above`` vertices: ZoomOut to ``k_final_large`` on
    ``zoomout_samples_large`` samples, samples matched among all source vertices; the answer
    stays exact. Smaller shapes keep ``k_final`` and ``zoomout_samples``."""
    s, t, perm = blob_pair  # 642 vertices each
    kw = dict(k_init=15, k_descriptor=30, k_final=30, k_final_large=40, zoomout_samples=200,
              zoomout_samples_large=400)
    big = match(s, t, "default", large_above=500, **kw)
    assert big.fmap_12.shape == (40, 40) and big.info["k_final"] == 40
    assert big.info["zoomout_samples"] == 400 and big.info["zoomout_samples_matched_to_all_source"]
    exact, near = exact_or_adjacent(s, big.p2p_21, perm)
    assert exact >= 0.95 and near == 1.0
    small = match(s, t, "default", large_above=1000, **kw)
    assert small.fmap_12.shape == (30, 30) and small.info["zoomout_samples"] == 200
    assert not small.info["zoomout_samples_matched_to_all_source"]


def test_an_explicit_size_holds_on_large_shapes_too():
    assert load_preset("default").k_final_large == 130
    assert load_preset("default").zoomout_samples_large == 5000
    s = load_preset("default", k_final=60, zoomout_samples=1000)
    assert s.k_final_large is None and s.zoomout_samples_large is None  # the CLI's --k holds everywhere
    assert load_preset("default", k_final=60, k_final_large=90).k_final_large == 90
    assert load_preset("fast").k_final_large is None


def test_axiomatic_fallback_when_the_learned_map_is_not_orientation_consistent(blob_pair):
    """fallback_below: a learned map scoring below it also runs the axiomatic candidates and
    the map with the higher smooth orientation score is kept (both are right here)."""
    s, t, perm = blob_pair
    m = match(s, t, "default", fallback_below=1.01, **SMALL)  # scores are <= 1: always falls back
    kinds = [c["init"] for c in m.info["candidates"]]
    assert m.info["axiomatic_fallback"] and kinds[0] == "learned" and "axiomatic" in kinds
    smooth = [c["orientation_score_smooth"] for c in m.info["candidates"]]
    assert m.info["orientation_score_smooth"] in smooth and m.info["orientation_score_smooth"] >= smooth[0]
    exact, near = exact_or_adjacent(s, m.p2p_21, perm)
    assert exact >= 0.95 and near == 1.0
    m = match(s, t, "default", fallback_below=None, **SMALL)
    assert not m.info["axiomatic_fallback"] and [c["init"] for c in m.info["candidates"]] == ["learned"]


def test_fallback_settings_are_checked_and_applied():
    s = load_preset("default")
    f = s.fallback()
    assert (f.w_lap, f.w_dcomm, f.k_descriptor) == (0.1, 1.0, 100) and f.fallback_settings is None
    assert (s.w_lap, s.w_dcomm, s.k_descriptor) == (0.01, 0.1, 40)  # the settings themselves are unchanged
    with pytest.raises(ValueError, match="cannot be set for the fallback"):
        load_preset("default", fallback_settings={"k_final": 20})


def test_pairs_with_a_point_cloud_use_the_point_cloud_model(blob_pair, tmp_path):
    """Two meshes use ``feature_model``; a pair with a point cloud ``feature_model_point_cloud``
    (the bundled model fine-tuned on point clouds too); a model asked for by name is used for
    point clouds as well."""
    s, t, perm = blob_pair
    cloud = point_cloud(t)
    assert match(s, t, "default", **SMALL).info["feature_model"] == "faust_r_wks"
    m = match(s, cloud, "default", **SMALL)
    assert m.info["feature_model"] == "faust_r_wks_pc" and m.info["init"] == "learned"
    assert load_preset("default", feature_model="mine.pt").feature_model_point_cloud is None
    assert match(s, t, "default", init="axiomatic", **SMALL).info["feature_model"] is None
