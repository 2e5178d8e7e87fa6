"""The desktop viewer, driven through its methods and through Qt events, under Xvfb."""

from __future__ import annotations

import time

import numpy as np
import pytest

from .conftest import open_matched_window, skip_or_fail

pytestmark = pytest.mark.filterwarnings("ignore")

HEADER_ROWS = 40  # the per-view titles live at the top of each view


def _non_background(img: np.ndarray) -> np.ndarray:
    bg = np.median(img[HEADER_ROWS:, :8].reshape(-1, 3), axis=0)
    return np.abs(img.astype(int) - bg).sum(-1) > 40


@pytest.fixture(scope="module")
def matched(qapp, small_pair):
    """One window with the small pair loaded and matched (the match runs once per module)."""
    win = open_matched_window(qapp, small_pair)
    assert win.state.gt is not None, "target_gt.txt beside the target should be found"
    yield win, small_pair[2]
    win.close()
    qapp.processEvents()


def test_match_runs_in_background_and_errors_follow(matched):
    win, _ = matched
    assert win.match is not None and not win.jobs
    assert len(win.match.p2p_21) == win.target.n_vertices
    assert win.state.errors is not None and np.isfinite(win.state.errors["mean"])
    status = win.lbl_error.text()
    assert "mean geodesic error" in status
    assert win.state.title("target").startswith("target: target  (642 vertices, 1280 faces)")


def test_pick_marks_the_matched_vertex(matched):
    win, perm = matched
    j = 17
    info = win.pick("target", j)
    expected = int(win.match.p2p_21[j])
    assert info.match == expected
    m = win.markers["match"]
    assert m["side"] == "source" and m["vertex"] == expected
    # the marker sphere is drawn at the matched vertex
    np.testing.assert_allclose(m["actor"].GetCenter(), win._display_pts["source"][expected], atol=1e-3)
    assert win.markers["picked"]["side"] == "target"
    # ground truth: the true match and a geodesic error
    assert info.true == int(perm[j])
    assert win.markers["true"]["vertex"] == int(perm[j])
    assert info.error is not None and info.error >= 0
    # the pick's error is the heat map's value at that vertex (one ground-truth pair per vertex)
    assert info.error == pytest.approx(win.state.errors["per_vertex"][j], rel=1e-6, abs=1e-9)
    assert info.describe() in win.lbl_error.text()
    # from the other side too
    info = win.pick("source", 3)
    assert win.markers["match"]["side"] == "target"
    assert win.markers["match"]["vertex"] == int(win.match.p2p_12[3])


def test_click_picks_through_qt_events(matched, qapp):
    """A real mouse click (press + release) on a vertex of the source view picks it."""
    from PySide6 import QtCore
    from PySide6.QtTest import QTest

    win, _ = matched
    win.reset_camera()
    qapp.processEvents()
    # the source vertex nearest to the camera is surely visible
    cam = np.asarray(win.plotter.renderers[0].camera.position)
    pts = win._display_pts["source"]
    v = int(np.argmin(np.linalg.norm(pts - cam, axis=1)))
    x, y = win.display_position("source", v)
    widget = win.plotter.interactor
    ratio = widget.devicePixelRatioF()
    qpos = QtCore.QPoint(int(x / ratio), int(widget.height() - y / ratio - 1))
    win.state.clear_pick()
    QTest.mouseClick(widget, QtCore.Qt.LeftButton, QtCore.Qt.NoModifier, qpos)
    qapp.processEvents()
    assert win.state.pick_info is not None, "the click did not pick"
    assert win.state.pick_info.side == "source"
    got = win.state.pick_info.vertex
    assert np.linalg.norm(pts[got] - pts[v]) < 0.03  # the clicked spot (a vertex or its neighbour)
    assert win.markers["match"]["vertex"] == int(win.match.p2p_12[got])


def test_up_axis_menu_turns_the_linked_cameras(matched):
    """View > Up axis: the cameras (linked) take the chosen axis as up and keep looking from the
    default height; "y" brings the default view back."""
    win, _ = matched
    try:
        win.up_actions["z"].trigger()
        for r in win.plotter.renderers:
            np.testing.assert_allclose(r.camera.up, [0.0, 0.0, 1.0], atol=1e-6)
        assert win.state.up == "z" and win.up_actions["z"].isChecked()
    finally:
        win.set_up("y")
    np.testing.assert_allclose(win.plotter.renderers[0].camera.up, [0.0, 1.0, 0.0], atol=1e-6)


def test_landmark_mode_clicks_pairs_and_matches_with_them(qapp, small_pair):
    """Landmark mode (K): a click on the source and one on the target make a pair (drawn); the
    match with landmarks (Ctrl+K) holds every pair; the window says how it was made."""
    from helpers import inverse_permutation

    win = open_matched_window(qapp, small_pair)
    try:
        inv = inverse_permutation(small_pair[2])
        win.set_landmark_mode(True)
        win.reset_camera()
        qapp.processEvents()
        # a real click in landmark mode adds, it does not pick
        cam = np.asarray(win.plotter.renderers[0].camera.position)
        v = int(np.argmin(np.linalg.norm(win._display_pts["source"] - cam, axis=1)))
        win.state.clear_pick()
        win.pick_at_display(*win.display_position("source", v))
        assert win.state.pending_landmark is not None and win.state.pick_info is None
        win.clear_landmarks()
        for i in (0, 40, 80, 120):
            win.add_landmark("source", i)
            win.add_landmark("target", int(inv[i]))
        assert len(win.state.landmarks) == 4
        assert "landmarks-pair-source" in win.plotter.renderers[0].actors
        assert win.run_match(blocking=True, landmarks=True)
        for i in (0, 40, 80, 120):
            assert int(win.match.p2p_12[i]) == int(inv[i])
        assert "4 landmarks" in win.state.match_origin
        assert win.match.info["landmarks"]["pairs"] == 4
        win.clear_landmarks()
        assert not win.run_match(blocking=True, landmarks=True)  # none: a dialog says how
        assert "turn on landmark mode" in (win.last_error or "")
    finally:
        win.close()
        qapp.processEvents()


def test_schemes_and_screenshot(matched, tmp_path):
    from PIL import Image

    from shapecorr.render import COLOR_SCHEMES as schemes

    win, _ = matched
    win.clear_markers()
    assert len(schemes) >= 2
    win.set_scheme(schemes[0])
    p1 = win.save_screenshot(tmp_path / "a.png")
    win.set_scheme(schemes[2] if len(schemes) > 2 else schemes[1])
    assert win.scheme_box.currentText() == win.state.scheme
    p2 = win.save_screenshot(tmp_path / "b.png")
    a = np.asarray(Image.open(p1).convert("RGB"))
    b = np.asarray(Image.open(p2).convert("RGB"))
    assert a.shape == b.shape and a.shape[0] > 100
    assert a.reshape(-1, 3).std(0).max() > 10, "the screenshot is blank"
    fg = _non_background(a)[HEADER_ROWS:]
    half = fg.shape[1] // 2
    left, right = fg[:, :half].mean(), fg[:, half:].mean()
    assert left > 0.02 and right > 0.02, f"both shapes should be visible ({left:.3f}, {right:.3f})"
    both = _non_background(a) & _non_background(b)
    diff = np.abs(a.astype(int) - b.astype(int)).sum(-1)[both]
    assert diff.mean() > 20, "switching the colour scheme should change the colours"
    # corresponding points share colours: the target's colours come from the source
    np.testing.assert_array_equal(win.state.side_colors("target"), win.state.source_colors()[win.match.p2p_21])
    win.next_scheme()
    assert win.state.scheme == schemes[3] and win.scheme_actions[schemes[3]].isChecked()


def test_error_heat_map_lines_and_texture_modes(matched, tmp_path):
    win, _ = matched
    win.set_scheme(win.state.scheme)
    base = win.grab_image()
    win.set_mode("error")
    assert win.state.mode == "error" and win.mode_actions["error"].isChecked()
    heat = win.grab_image()
    assert np.abs(heat.astype(int) - base.astype(int)).sum(-1).mean() > 1
    win.set_mode("correspondence")
    win.set_lines(True)
    lines = win.grab_image()
    assert win._line_poly.GetNumberOfCells() > 0
    assert np.abs(lines.astype(int) - base.astype(int)).sum(-1).mean() > 0.5
    win.set_lines(False)
    win.set_mode("texture")  # no texture on this pair: colours or neutral, no crash
    win.wait_idle(60)
    win.grab_image()
    win.set_mode("correspondence")


def test_exact_map_has_zero_error(qapp, small_pair):
    import shapecorr
    from apps.viewer.window import ViewerWindow

    src, tgt, perm = small_pair
    win = ViewerWindow()
    try:
        win.load_shapes(src, tgt)
        exact = shapecorr.Match(p2p_21=perm, p2p_12=np.argsort(perm), fmap_12=np.eye(4))
        win.set_match(exact, origin="exact")
        win.wait_idle(60)
        assert win.state.errors is not None
        assert win.state.errors["mean"] == pytest.approx(0.0, abs=1e-9)
        info = win.pick("target", 5)
        assert info.match == info.true == perm[5]
        assert info.error == pytest.approx(0.0, abs=1e-9)
    finally:
        win.close()


def test_save_and_load_match_transfer_and_bad_inputs(matched, tmp_path, qapp):
    win, _ = matched
    out = win.save_match(tmp_path / "m")
    assert (out / "target_to_source.txt").exists()
    shape_out = win.save_transferred(tmp_path / "t.ply")
    assert shape_out is not None and shape_out.exists()
    before = win.match
    assert win.load_match(tmp_path / "m")
    np.testing.assert_array_equal(win.match.p2p_21, before.p2p_21)
    assert f"confidence {before.info['confidence']:.2f}" in win.lbl_match.text()  # saved with the match
    # a folder that is not a match, a bad shape, a bad ground truth: dialogs, no crash
    assert not win.load_match(tmp_path)
    assert "not a saved match" in win.last_error
    bad = tmp_path / "bad.off"
    bad.write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n")
    n_before = win.target.n_vertices
    assert not win.load_shapes(target=bad)
    assert str(bad) in win.last_error
    assert win.target.n_vertices == n_before and win.match is not None
    win.last_error = None
    assert win.load_shapes(target=bad, blocking=False)  # as the menus and drops do it
    assert win.wait_idle(60)
    assert str(bad) in win.last_error and win.match is not None
    gt = tmp_path / "gt.txt"
    np.savetxt(gt, np.arange(5), fmt="%d")
    assert not win.load_ground_truth(gt)
    assert "one line per target vertex" in win.last_error
    qapp.processEvents()


def test_cancel_and_drop(qapp, small_pair, tmp_path):
    from PySide6 import QtCore, QtGui

    from apps.viewer.window import ViewerWindow

    src, tgt, _ = small_pair
    win = ViewerWindow(preset="default")
    win.resize(800, 400)
    win.show()
    try:
        # drag and drop two files
        mime = QtCore.QMimeData()
        mime.setUrls([QtCore.QUrl.fromLocalFile(str(src)), QtCore.QUrl.fromLocalFile(str(tgt))])
        pos = QtCore.QPointF(100, 100)
        drop = QtGui.QDropEvent(pos, QtCore.Qt.CopyAction, mime, QtCore.Qt.LeftButton, QtCore.Qt.NoModifier)
        win.dropEvent(drop)  # files are read in the background
        assert win.wait_idle(60)
        assert win.source is not None and win.target is not None
        assert win.source.path == src
        # start and cancel: the window stays usable and no match appears
        assert win.run_match()
        assert "match" in win.jobs and win.progress.isVisible() and not win.act_match.isEnabled()
        win.cancel()
        # the window is free at once; the worker stops at its next stage, its result dropped
        assert not win.jobs and not win.progress.isVisible() and win.act_match.isEnabled()
        win.jobs.wait_abandoned()
        assert win.match is None and win.jobs.abandoned == 0
    finally:
        win.close()
        qapp.processEvents()


def test_keyboard_shortcuts(matched, qapp):
    from PySide6 import QtCore, QtWidgets
    from PySide6.QtTest import QTest

    win, _ = matched
    for box in win.findChildren(QtWidgets.QMessageBox):  # a modal error box would take the keys
        box.close()
    qapp.processEvents()
    win.raise_()
    win.activateWindow()
    if not QTest.qWaitForWindowActive(win, 3000):
        skip_or_fail("the X server gave the window no focus (window shortcuts need an active window)")
    win.plotter.interactor.setFocus()
    qapp.processEvents()
    before = win.state.scheme
    QTest.keyClick(win.plotter.interactor, QtCore.Qt.Key_C)
    qapp.processEvents()
    assert win.state.scheme != before
    QTest.keyClick(win.plotter.interactor, QtCore.Qt.Key_E)
    qapp.processEvents()
    assert win.state.mode == "error"
    QTest.keyClick(win.plotter.interactor, QtCore.Qt.Key_1)
    qapp.processEvents()
    assert win.state.mode == "correspondence"


def test_point_clouds(qapp, small_pair):
    import shapecorr
    from apps.viewer.window import ViewerWindow

    src, tgt, perm = small_pair
    a, b = shapecorr.load(src), shapecorr.load(tgt)
    pa, pb = shapecorr.Shape(a.vertices, name="cloud_a"), shapecorr.Shape(b.vertices, name="cloud_b")
    win = ViewerWindow()
    win.resize(800, 450)
    win.show()
    try:
        assert win.load_shapes(pa, pb)
        win.set_match(shapecorr.Match(p2p_21=perm, p2p_12=np.argsort(perm), fmap_12=np.eye(2)), origin="exact")
        cam = np.asarray(win.plotter.renderers[0].camera.position)
        v = int(np.argmin(np.linalg.norm(win._display_pts["source"] - cam, axis=1)))
        info = win.pick_at_display(*win.display_position("source", v))
        assert info is not None and info.side == "source"
        assert info.match == int(np.argsort(perm)[info.vertex])
        img = win.grab_image()
        fg = _non_background(img)[HEADER_ROWS:]
        assert fg[:, : fg.shape[1] // 2].mean() > 0.005 and fg[:, fg.shape[1] // 2:].mean() > 0.005
        assert win.load_ground_truth(tgt.with_name("target_gt.txt"))
        assert win.wait_idle(60)
        assert win.state.errors is not None and win.state.errors["mean"] == pytest.approx(0.0, abs=1e-9)
        assert win.pick("target", 7).error == pytest.approx(0.0, abs=1e-9)
    finally:
        win.close()
        qapp.processEvents()


SPOT = __import__("pathlib").Path(__file__).resolve().parents[2] / "data" / "spot"


@pytest.mark.skipif(not (SPOT / "spot_posed.obj").exists(), reason="the Spot example pair is not in data/spot")
def test_spot_pair_texture_preview(qapp, tmp_path):
    """The bundled example: match (fast preset) to completion, texture preview through
    shapecorr.transfer, screenshot with both cows. (Copied without its ground truth: the
    error map is tested on the small pair, and its geodesics would double this test's time.)"""
    import shutil

    from apps.viewer.window import ViewerWindow

    for name in ("spot.obj", "spot.mtl", "spot_texture.png", "spot_posed.obj"):
        shutil.copy(SPOT / name, tmp_path / name)
    win = ViewerWindow(preset="fast")
    win.resize(1000, 560)
    win.show()
    try:
        assert win.load_shapes(tmp_path / "spot.obj", tmp_path / "spot_posed.obj"), win.last_error
        assert win.state.gt is None
        assert win.run_match(blocking=True, timeout=300), win.last_error
        assert "confidence" in win.lbl_match.text()
        plain = win.grab_image()
        win.set_mode("texture")
        assert win.wait_idle(120)
        assert win.state.transfer is not None and win.state.transfer[0] is not None
        assert "transfer_texture" in win.state.transfer[1] and "transfer_texture" in win.state.title("target")
        tex = win.save_screenshot(tmp_path / "spot.png")
        from PIL import Image

        img = np.asarray(Image.open(tex).convert("RGB"))
        fg = _non_background(img)[HEADER_ROWS:]
        half = fg.shape[1] // 2
        assert fg[:, :half].mean() > 0.03 and fg[:, half:].mean() > 0.03
        assert np.abs(img.astype(int) - plain.astype(int)).sum(-1).mean() > 5
        out = win.save_transferred(tmp_path / "spot_posed_textured.obj")
        assert out.exists()
    finally:
        win.close()
        qapp.processEvents()


def _wait_for_job(qapp, win, name: str, timeout: float = 60.0) -> None:
    t_end = time.monotonic() + timeout
    while name in win.jobs and time.monotonic() < t_end:
        qapp.processEvents()
        time.sleep(0.01)
    assert name not in win.jobs, f"the {name} job did not finish in {timeout} s"


def test_imperfect_mesh_opens_and_the_match_starts_in_background(qapp, small_pair, imperfect_source):
    """What `shapecorr view A B` does with a zero-area face in A: both shapes open, the warning is
    in the status bar, the match starts at once in the background and its confidence is shown."""
    from apps.viewer.window import ViewerWindow

    _, tgt, _ = small_pair
    win = ViewerWindow(preset="fast", auto_match=True)
    win.resize(1000, 560)
    win.show()
    try:
        assert win.load_shapes(imperfect_source, tgt, blocking=False)  # as the command line does
        _wait_for_job(qapp, win, "load")
        assert win.last_error is None
        assert win.source.n_vertices == 643 and win.target.n_vertices == 642
        assert "match" in win.jobs and win.progress.isVisible()  # started at once, progress shown
        assert win.lbl_warnings.text().startswith(f"⚠ 2 warnings: {imperfect_source}: ")
        assert "degenerate" in win.lbl_warnings.toolTip()
        assert win.wait_idle(120), "the match did not finish"
        conf = win.state.confidence
        assert win.match is not None and conf is not None and 0.0 <= conf.value <= 1.0
        assert f"confidence {conf.value:.2f}" in win.lbl_match.text()
        assert win.state.gt is not None  # the ground truth beside the target still fits (643 source vertices)
    finally:
        win.close()
        qapp.processEvents()


def test_one_unreadable_file_does_not_stop_the_other(qapp, small_pair, tmp_path):
    from apps.viewer.window import ViewerWindow

    src, _, _ = small_pair
    bad = tmp_path / "garbled.off"
    bad.write_text("OFF\n3 1 0\n0 0 0\n")
    win = ViewerWindow()
    try:
        assert not win.load_shapes(src, bad)
        assert win.source is not None and win.source.n_vertices == 642 and win.target is None
        assert str(bad) in win.last_error
    finally:
        win.close()
        qapp.processEvents()


def test_run_viewer_with_a_saved_match(qapp, matched, small_pair, tmp_path):
    """`shapecorr view A B --map DIR` shows the saved match (no match computed); its hidden
    --screenshot option saves the whole window once everything is loaded."""
    from PIL import Image

    from apps.viewer.app import run_viewer

    win, _ = matched
    saved = win.save_match(tmp_path / "m")
    src, tgt, _ = small_pair
    shot = tmp_path / "window.png"
    assert run_viewer(src, tgt, match_dir=saved, preset="fast", screenshot=shot) == 0
    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape[0] > 300 and img.shape[1] > 600
    fg = _non_background(img[:, :, :3])
    assert fg.mean() > 0.05, "the window shot shows no shapes"


def test_the_other_feature_models_match_through_the_window(matched):
    """The Match menu's 'other feature model's match' is enabled only for a match that carries
    one, shows it, and shows the first again."""
    import shapecorr

    win, perm = matched
    first = win.match
    assert not win.act_other_match.isEnabled() and not win.show_other_match()
    other = shapecorr.Match(p2p_21=np.roll(first.p2p_21, 3), p2p_12=first.p2p_12, fmap_12=first.fmap_12,
                            info={**first.info, "feature_model": "selfsup_general"})
    first.alternative = other
    try:
        win.set_match(first, origin="preset default")
        assert win.act_other_match.isEnabled()
        win.act_other_match.trigger()
        assert win.match is other and "selfsup_general" in win.statusBar().currentMessage()
        win.act_other_match.trigger()
        assert win.match is first
    finally:
        first.alternative = None
        win.set_match(first, origin="preset default")
        win.wait_idle(60)
