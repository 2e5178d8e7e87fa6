"""The main window's edit mode, carried edits and morph slider, under Xvfb."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import open_matched_window

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def win(qapp, small_pair):
    """One window with the small pair loaded and matched (once per module)."""
    w = open_matched_window(qapp, small_pair)
    yield w
    w.close()
    qapp.processEvents()


@pytest.fixture()
def fresh(win):
    win.reset_shapes()
    win.set_edit_mode(False)
    win.last_error = None
    return win


def _ends(shape) -> tuple[int, int]:
    x = shape.vertices[:, 0]
    return int(np.argmin(x)), int(np.argmax(x))


def _edit_source(w, offset=(0.0, 0.4, 0.0)):
    left, right = _ends(w.source)
    fixed = w.fix_region("source", left)
    grabbed = w.start_edit("source", right)
    w.edit_drag(offset)
    w.end_edit()
    return fixed, grabbed


def test_an_edit_moves_the_source_only_and_is_drawn(fresh):
    w = fresh
    fixed, grabbed = _edit_source(w)
    pose = w.state.poses["source"]
    assert pose is not None and pose.kind == "edit" and w.edited_side == "source"
    moved = pose.vertices - w.source.vertices
    np.testing.assert_allclose(moved[fixed], 0.0, atol=1e-9)
    np.testing.assert_allclose(moved[grabbed], np.tile([0.0, 0.4, 0.0], (len(grabbed), 1)), atol=1e-6)
    assert w.state.poses["target"] is None
    assert "edited" in w.state.title("source")
    # what is drawn (and picked) is the edited shape, in the file's display frame
    drawn = np.asarray(w._actors["source"].GetMapper().GetInput().GetPoints().GetData())
    np.testing.assert_allclose(drawn, w._frames["source"].apply(pose.vertices), atol=1e-5)
    assert "handles-source" in w.plotter.renderers[0].actors


def test_mouse_drag_in_edit_mode_moves_the_region_not_the_camera(fresh, qapp):
    w = fresh
    w.reset_camera()
    qapp.processEvents()
    cam = w.plotter.renderers[0].camera
    pts = w._display_pts["source"]
    v = int(np.argmin(np.linalg.norm(pts - np.asarray(cam.position), axis=1)))  # surely visible
    x, y = w.display_position("source", v)
    iren = w.plotter.iren.interactor

    def mouse(event, x, y):
        iren.SetEventInformation(int(round(x)), int(round(y)), 0, 0)
        iren.InvokeEvent(event)

    w.set_edit_mode(True)
    eye = tuple(cam.position)
    before = w.state.shown_vertices("source")[v].copy()
    mouse("LeftButtonPressEvent", x, y)
    assert w.editors["source"].dragging
    mouse("MouseMoveEvent", x + 40, y)
    qapp.processEvents()  # the throttled drag step
    mouse("LeftButtonReleaseEvent", x + 40, y)
    assert not w.editors["source"].dragging and tuple(cam.position) == eye
    moved = w.state.shown_vertices("source")[v] - before
    assert np.linalg.norm(moved) > 0.05 * np.ptp(w.source.vertices, axis=0).max()
    x1, y1 = w.display_position("source", v)
    assert abs(x1 - (x + 40)) < 2 and abs(y1 - y) < 2  # the vertex is drawn under the mouse again
    # outside edit mode the same drag turns the camera and the shape stays
    w.set_edit_mode(False)
    shown = w.state.shown_vertices("source").copy()
    mouse("LeftButtonPressEvent", x, y)
    mouse("MouseMoveEvent", x + 30, y)
    mouse("LeftButtonReleaseEvent", x + 30, y)
    assert tuple(cam.position) != eye
    np.testing.assert_array_equal(w.state.shown_vertices("source"), shown)


def test_apply_the_edit_to_the_other_shape_is_deformation_transfer(fresh):
    from shapecorr.deform import transfer_deformation
    from shapecorr.deform.precise import precise_map

    w = fresh
    assert not w.apply_edit_to_other(blocking=True)  # nothing edited yet: a message, no work
    assert "edit a shape first" in w.last_error
    _edit_source(w)
    assert w.apply_edit_to_other(blocking=True, timeout=240), w.last_error
    pose = w.state.poses["target"]
    assert pose.kind == "transfer" and "carried" in w.state.title("target")
    edited = w.state.poses["source"].vertices
    smap = precise_map(w.match, w.source, w.target, method="register")
    want = transfer_deformation(w.source, edited, w.target, w.match, surface_map=smap)
    np.testing.assert_allclose(pose.vertices, want, atol=1e-6)
    assert np.abs(pose.vertices - w.target.vertices).max() > 0.1  # the target did change
    # a new match drops the carried edit (it came through the old match) and keeps the edit
    w.set_match(w.match, origin="again")
    assert w.state.poses["target"] is None and w.state.poses["source"].kind == "edit"


def test_morph_slider_from_the_source_to_the_target(fresh):
    from shapecorr.deform import end_positions
    from shapecorr.deform.morphing import END_METHOD

    w = fresh
    _edit_source(w)
    assert w.set_morph_mode(True, blocking=True, timeout=240), w.last_error
    assert w.morph_slider_action.isVisible() and not w.edit_mode
    np.testing.assert_allclose(w.set_morph(0.0), w.source.vertices, atol=1e-8)
    end = end_positions(w.source, w.target, w.match, method=END_METHOD)
    np.testing.assert_allclose(w.set_morph(1.0), end, atol=1e-6)
    assert w.morph_slider.value() == w.morph_slider.maximum()
    w.morph_slider.setValue(w.morph_slider.maximum() // 2)  # the slider drives it
    assert w.morph_t == pytest.approx(0.5) and "morph t = 0.50" in w.state.title("source")
    half = w._frame("source")
    assert w._frames["source"].scale >= half.scale >= w._frames["target"].scale or \
        w._frames["source"].scale <= half.scale <= w._frames["target"].scale
    # ending the morph brings the edit back
    w.set_morph_mode(False)
    assert not w.morph_slider_action.isVisible() and w.state.poses["source"].kind == "edit"


def test_save_as_shown_and_never_over_an_input(fresh, tmp_path, small_pair):
    import shapecorr

    w = fresh
    _edit_source(w)
    out = w.save_shown("source", tmp_path / "edited.ply")
    back = shapecorr.load(out)
    np.testing.assert_allclose(back.vertices, w.state.poses["source"].vertices, atol=1e-5)
    np.testing.assert_array_equal(back.faces, w.source.faces)
    src = small_pair[0]
    before = src.read_bytes()
    assert w.save_shown("source", src) is None and "input file" in w.last_error
    assert src.read_bytes() == before
    w.reset_shapes()
    assert w.state.poses == {"source": None, "target": None} and not w.editors


def test_follow_live_carries_each_drag_once_the_plan_is_made(fresh):
    w = fresh
    _edit_source(w)
    w.set_follow(True)  # no plan yet for this match: the first apply starts (and makes it)
    assert w.wait_idle(240) and w.state.poses["target"].kind == "transfer", w.last_error
    right = _ends(w.source)[1]
    w.start_edit("source", right)
    w.edit_drag([0.0, 0.0, 0.3])  # no job: carried at once
    carried = w.state.poses["target"]
    assert "live" in carried.note
    np.testing.assert_allclose(carried.vertices, w._carrier.carry("source", w.state.poses["source"].vertices),
                               atol=1e-9)
    w.end_edit()
    w.set_follow(False)
    before = w.state.poses["target"].vertices.copy()
    w.start_edit("source", right)
    w.edit_drag([0.0, 0.2, 0.0])
    w.end_edit()
    np.testing.assert_array_equal(w.state.poses["target"].vertices, before)  # not followed any more
