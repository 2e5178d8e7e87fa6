"""The viewer's Qt-free parts: its state object and helpers (no screen, no Qt needed)."""

from __future__ import annotations

import numpy as np
import pytest

import shapecorr
from apps.viewer import helpers
from apps.viewer.state import Confidence, ViewerState
from shapecorr.eval import GeodesicDistances
from shapecorr.eval import geodesic_errors as eval_errors
from shapecorr.render import COLOR_SCHEMES


def _exact_match(perm, **info):
    """The true map of the small pair (target vertex j is source vertex perm[j])."""
    return shapecorr.Match(p2p_21=np.asarray(perm), p2p_12=np.argsort(perm), fmap_12=np.eye(4), info=dict(info))


@pytest.fixture
def opened(small_pair):
    src, tgt, perm = small_pair
    state = ViewerState(presets=["default", "fast"])
    note = state.set_shapes({"source": helpers.read_shape(src), "target": helpers.read_shape(tgt)})
    return state, perm, note


def test_read_shape_returns_the_warnings_of_an_imperfect_mesh(imperfect_source, small_pair):
    loaded = helpers.read_shape(imperfect_source)
    # opened, not refused: vertex order kept, the zero-area face dropped
    assert loaded.shape.n_vertices == 643 and loaded.shape.n_faces == 1280
    assert any("degenerate" in w for w in loaded.warnings)
    assert all(w.startswith(str(imperfect_source)) for w in loaded.warnings)  # one line: FILE: ...
    # read again in the same process: warned again (Python shows a warning once per place by default)
    assert helpers.read_shape(imperfect_source).warnings == loaded.warnings
    assert helpers.read_shape(small_pair[0]).warnings == ()  # a clean closed mesh
    with pytest.raises(shapecorr.ShapeError, match="strict"):
        helpers.read_shape(imperfect_source, strict=True)


def test_warnings_shown_in_the_status_texts(imperfect_source, small_pair):
    state = ViewerState()
    loaded = helpers.read_shape(imperfect_source)
    state.set_shapes({"source": loaded, "target": helpers.read_shape(small_pair[1])})
    assert state.source.n_vertices == 643 and state.target.n_vertices == 642
    assert state.warnings == list(loaded.warnings)
    n = len(loaded.warnings)
    assert n == 2  # the zero-area face, and the vertex it leaves unused
    assert state.warnings_text() == f"⚠ 2 warnings: {loaded.warnings[0]}"
    assert f"{n} warning" in state.title("source") and "warning" not in state.title("target")
    # a clean file on that side clears them
    state.set_shapes({"source": helpers.read_shape(small_pair[0])})
    assert state.warnings == [] and state.warnings_text() == ""


def test_new_shapes_drop_the_match_and_find_ground_truth(opened):
    state, perm, note = opened
    assert note == "ground truth found beside the shapes: target_gt.txt"
    np.testing.assert_array_equal(state.gt.source_idx, perm)
    state.set_match(_exact_match(perm), origin="exact")
    state.pick("target", 3)
    assert state.match is not None and state.pick_info is not None
    state.set_shapes({"target": helpers.LoadedShape(state.target)})
    assert state.match is None and state.pick_info is None and state.errors is None
    assert state.match_text() == "no match (Ctrl+M)"


def test_a_match_for_other_shapes_is_refused(opened):
    state = opened[0]
    wrong = shapecorr.Match(p2p_21=np.zeros(10, dtype=int), p2p_12=np.zeros(10, dtype=int), fmap_12=np.eye(2))
    with pytest.raises(shapecorr.ShapecorrError):
        state.set_match(wrong)
    assert state.match is None


def test_confidence_in_the_status_texts(opened):
    state, perm, _ = opened
    state.set_match(_exact_match(perm, confidence=0.8312, confidence_low=False, confidence_advice=""),
                    origin="preset fast, 1.0 s")
    assert state.confidence == Confidence(0.8312, False, "")
    assert state.match_text() == "match: preset fast, 1.0 s · confidence 0.83"
    advice = "try --preset accurate, or check that both shapes show the same object"
    state.set_match(_exact_match(perm, confidence=0.12, confidence_low=True, confidence_advice=advice))
    assert state.match_text() == "match · confidence 0.12 — LOW: probably wrong in places"
    assert state.match_tooltip().splitlines()[0] == advice
    assert state.confidence.status_message() == f"low match confidence (0.12): {advice}"
    state.set_match(_exact_match(perm, confidence=0.74, confidence_low=True, confidence_threshold=0.586,
                                 confidence_advice="the second feature model's match puts 60 % elsewhere"))
    assert state.match_text() == "match · confidence 0.74 — NOT TRUSTED: see the advice"
    assert state.confidence.status_message().startswith("match not trusted (its confidence, 0.74, measures")
    state.set_match(_exact_match(perm))  # saved by an older shapecorr: no confidence recorded
    assert state.confidence is None
    assert state.match_text() == "match · confidence not recorded (older match)"


def test_pick_gives_match_truth_and_geodesic_error(opened):
    state, perm, _ = opened
    assert state.pick("target", 5).match is None  # no match yet: only the picked vertex
    state.set_match(_exact_match(perm))
    p = state.pick("target", 5)
    assert (p.match, p.true) == (perm[5], perm[5]) and p.error == pytest.approx(0.0, abs=1e-12)
    p = state.pick("source", int(perm[7]))
    assert (p.match, p.true) == (7, 7)
    # a map that is off at vertex 9: the error is shapecorr.eval's (heat-method rows on demand: no
    # all-pairs matrix for one pick)
    wrong = np.array(perm)
    wrong[9] = perm[10]
    state.set_match(_exact_match(wrong))
    p = state.pick("target", 9)
    rows = GeodesicDistances(state.source, dense_max=0)
    expected = eval_errors(None, wrong, perm, np.arange(len(perm)), distances=rows, points=[9])[0]
    assert p.error == pytest.approx(expected, rel=1e-6) and p.error > 0
    assert p.describe() == f"picked target #9 → #{perm[10]} (true #{perm[9]}, error {p.error:.4f})"
    with pytest.raises(ValueError, match="out of range"):
        state.pick("target", 642)


def test_error_map_of_the_exact_and_of_a_wrong_map(opened):
    state, perm, _ = opened
    state.set_match(_exact_match(perm))
    exact = helpers.geodesic_errors(state.source, perm, state.gt)
    assert state.accept_errors(exact)
    assert exact["mean"] == 0.0 and np.all(exact["per_vertex"] == 0.0)
    shifted = np.roll(perm, 1)  # every target vertex gets its neighbour-in-order's source vertex
    got = helpers.geodesic_errors(state.source, shifted, state.gt)
    want = eval_errors(state.source, shifted, perm, np.arange(len(perm)))
    np.testing.assert_allclose(got["per_vertex"], want, rtol=1e-6)
    assert got["mean"] == pytest.approx(want.mean(), rel=1e-6)
    assert state.errors_text().startswith("mean geodesic error: 0.00 ×100")
    # errors for another target size are dropped
    assert not state.accept_errors({"per_vertex": np.zeros(5), "mean": 0.0})


def test_point_cloud_errors_are_normalized_by_the_cloud_area(small_pair):
    src, _, perm = small_pair
    cloud = shapecorr.Shape(shapecorr.load(src).vertices)
    gt = helpers.GroundTruth(np.asarray(perm), np.arange(len(perm)), "test")
    assert helpers.geodesic_errors(cloud, perm, gt)["mean"] == 0.0
    wrong = np.roll(perm, 1)
    dist = helpers.distances_for(cloud)
    err = helpers.geodesic_errors(cloud, wrong, gt, distances=dist)["pairs"]
    from shapecorr.spectral import laplacian

    area = laplacian(cloud)[1].sum()
    raw = dist.between(perm, wrong)
    np.testing.assert_allclose(err, raw / np.sqrt(area), rtol=1e-9)


def test_colours_scheme_and_mode(opened):
    state, perm, _ = opened
    assert state.side_colors("target") is None  # no match: plain grey
    state.set_match(_exact_match(perm))
    np.testing.assert_array_equal(state.side_colors("target"), state.source_colors()[perm])
    first = state.scheme
    seen = {first}
    for _ in range(len(COLOR_SCHEMES) - 1):
        seen.add(state.next_scheme())
    assert seen == set(COLOR_SCHEMES) and state.next_scheme() == first
    with pytest.raises(ValueError, match="unknown colour scheme"):
        state.set_scheme("rainbow")
    state.gt = None
    assert "ground truth" in state.set_mode("error")
    assert "no ground truth loaded" in state.title("target")
    assert state.set_mode("correspondence") == ""
    with pytest.raises(ValueError, match="mode must be"):
        state.set_mode("heat")


def test_ground_truth_files(tmp_path):
    v = np.random.default_rng(0).normal(size=(6, 3))
    a, b = shapecorr.Shape(v), shapecorr.Shape(v[::-1])
    (tmp_path / "a.vts").write_text("1\n2\n3\n")
    (tmp_path / "b.vts").write_text("6\n5\n4\n")
    gt = helpers.load_ground_truth(a, b, gt_source=tmp_path / "a.vts", gt_target=tmp_path / "b.vts")
    assert gt.source_idx.tolist() == [0, 1, 2] and gt.target_idx.tolist() == [5, 4, 3]
    assert gt.true_source_of(4) == 1 and gt.true_target_of(2) == 3 and gt.true_source_of(0) is None
    np.savetxt(tmp_path / "m.txt", [5, 4, 3, 2, 1, 0], fmt="%d")
    gt = helpers.load_ground_truth(a, b, gt_map=tmp_path / "m.txt")
    assert gt.source_idx.tolist() == [5, 4, 3, 2, 1, 0]
    (tmp_path / "bad.vts").write_text("0\n1\n2\n")  # 0 is not a 1-based index
    with pytest.raises(shapecorr.ShapecorrError, match="bad.vts"):
        helpers.load_ground_truth(a, b, gt_source=tmp_path / "bad.vts", gt_target=tmp_path / "b.vts")
    with pytest.raises(shapecorr.ShapecorrError, match="one per shape"):
        helpers.load_ground_truth(a, b, gt_map=tmp_path / "a.vts")
    np.savetxt(tmp_path / "short.txt", [0, 1], fmt="%d")
    with pytest.raises(shapecorr.ShapecorrError, match="one line per target vertex"):
        helpers.load_ground_truth(a, b, gt_map=tmp_path / "short.txt")


def test_the_other_feature_models_match_is_shown_and_back(opened, tmp_path):
    """A match whose two feature models disagree carries the other's match: the state shows it
    and, from it, the first again; a match without one has none to show. A saved match's
    other_model/ is picked up only when its report.json names it (not a folder left over)."""
    state, perm, _ = opened
    first = _exact_match(perm, confidence=0.74, confidence_low=True, feature_model="faust_r_wks")
    other = _exact_match(np.roll(perm, 5), confidence=0.70, confidence_low=False, feature_model="selfsup_general")
    state.set_match(_exact_match(perm))
    assert not state.has_other_match
    with pytest.raises(ValueError, match="no other"):
        state.show_other_match()
    first.alternative = other
    state.set_match(first, origin="preset default")
    assert state.has_other_match
    message = state.show_other_match()
    assert state.match is other and "selfsup_general" in message and "disagree" in state.match_origin
    np.testing.assert_array_equal(state.match.p2p_21, np.roll(perm, 5))
    state.show_other_match()
    assert state.match is first and state.has_other_match

    first.alternative = None
    first.save(tmp_path / "m")
    other.save(tmp_path / "m" / "other_model")
    assert helpers.other_saved_match(tmp_path / "m") is None  # no report.json names it
    (tmp_path / "m" / "report.json").write_text('{"outputs": {"other_model": null}}')
    assert helpers.other_saved_match(tmp_path / "m") is None  # left from an earlier run
    (tmp_path / "m" / "report.json").write_text('{"outputs": {"other_model": "other_model/"}}')
    loaded = helpers.other_saved_match(tmp_path / "m")
    np.testing.assert_array_equal(loaded.p2p_21, other.p2p_21)
    assert loaded.info["feature_model"] == "selfsup_general"


def test_up_axis_turns_the_camera_and_unknown_axes_are_refused():
    state = ViewerState(up="z")
    view, up = state.camera((1.0, 0.45, -0.9))
    np.testing.assert_allclose(up, [0.0, 0.0, 1.0])
    assert view @ up == pytest.approx(0.45)  # the same height above the shape as on a y-up one
    state.set_up("-Y")
    np.testing.assert_allclose(state.camera((1.0, 0.45, -0.9))[1], [0.0, -1.0, 0.0])
    with pytest.raises(ValueError, match="unknown up axis 'up'"):
        state.set_up("up")
    assert state.up == "-y"
    with pytest.raises(ValueError, match="unknown up axis"):
        ViewerState(up="w")


def test_landmark_pairs_from_clicks(opened):
    """A source click waits for its target click; a pair using a vertex again replaces the old
    one; new shapes drop them."""
    state, perm, _ = opened
    assert state.landmark_pairs() is None
    assert "click the source first" in state.add_landmark("target", 3)
    assert "now click its place on the target" in state.add_landmark("source", 5)
    assert "landmark 1: source 5 - target 7" in state.add_landmark("target", 7)
    state.add_landmark("source", 9)
    assert "at least 3" in state.add_landmark("target", 7)  # target 7 again: replaces (5, 7)
    np.testing.assert_array_equal(state.landmark_pairs(), [[9, 7]])
    with pytest.raises(ValueError, match="no vertex"):
        state.add_landmark("source", 10 ** 6)
    state.set_shapes({"source": helpers.read_shape(state.source.path)})
    assert state.landmark_pairs() is None and state.pending_landmark is None


def test_vts_beside_shapes_of_two_classes_are_not_taken_as_ground_truth(tmp_path):
    """TOSCA_r's layout: cat0 and cat7 follow one template (found), cat0 and dog0 two (not)."""
    (tmp_path / "corres").mkdir()
    v = np.random.default_rng(0).normal(size=(6, 3))
    shapes = {}
    for name in ("cat0", "cat7", "dog0"):
        path = tmp_path / f"{name}.xyz"
        shapecorr.Shape(v).save(path)
        (tmp_path / "corres" / f"{name}.vts").write_text("1\n2\n3\n")
        shapes[name] = shapecorr.load(path)
    assert helpers.find_ground_truth(shapes["cat0"], shapes["cat7"]) is not None
    assert helpers.find_ground_truth(shapes["cat0"], shapes["dog0"]) is None
    assert helpers.same_class("tr_reg_000", "tr_reg_091") and not helpers.same_class("cat0", "dog0")
