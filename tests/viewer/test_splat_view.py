"""The splat view (``shapecorr view --splats DIR``): splats follow the edit's ARAP drags, under Xvfb.

The window is driven through its methods and through VTK mouse events. Known answers: a drag
of a region with no other handle moves the whole mesh rigidly (ARAP's exact minimiser), so the
splat picture's alpha centroid moves by the projected translation; the picture is the one
``shapecorr.splat`` renders for that pose from the same camera.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings("ignore")

FULL, PREVIEW = 96, 40


@pytest.fixture(scope="module")
def binding():
    """Flat Gaussians on a small ellipsoid (no fitting: the binding is what is tested)."""
    import trimesh

    from shapecorr.splat import SolidAppearance, initial_binding

    ico = trimesh.creation.icosphere(subdivisions=2)
    v = np.asarray(ico.vertices) * np.array([1.5, 1.0, 0.8])
    f = np.asarray(ico.faces)
    return initial_binding(v, f, SolidAppearance(v, f), 1500, 1, seed=0)


@pytest.fixture
def window(qapp, binding):
    from apps.viewer.splat_window import SplatWindow

    win = SplatWindow(binding, full_size=FULL, preview_size=PREVIEW, settle_ms=50)
    win.resize(900, 500)
    win.show()
    qapp.processEvents()
    win.reset_camera()
    win.flush()
    yield win
    win.close()
    qapp.processEvents()


def _front_vertex(win) -> int:
    """The vertex nearest to the camera (visible, in the middle of the picture)."""
    pos = np.asarray(win.renderer.GetActiveCamera().GetPosition())
    return int(np.argmin(np.linalg.norm(win.editor.vertices - pos, axis=1)))


def test_rigid_drag_moves_the_splat_picture(window, binding):
    from apps.viewer.splat_edit import alpha_centroid
    from shapecorr.splat import render_binding

    win = window
    before = win.flush()
    assert not before.preview and before.alpha.shape[1] == FULL and before.alpha.max() > 0.9
    cam = win.splat_camera(preview=False)
    right = cam.viewmat[0, :3]  # the camera's x axis in world coordinates
    offset = 0.25 * right
    win.start_drag(_front_vertex(win))
    win.drag(offset)
    after = win.release()
    # no other handle: ARAP moves the whole mesh rigidly with the grabbed region
    np.testing.assert_allclose(win.editor.vertices, binding.rest_vertices + offset, atol=1e-9)
    np.testing.assert_allclose(after.vertices, binding.rest_vertices + offset, atol=1e-9)
    # the centroid moves right by the projected translation (f * d / depth of the object's centre)
    centre = 0.5 * (binding.rest_vertices.min(0) + binding.rest_vertices.max(0))
    depth = (cam.viewmat[:3, :3] @ centre + cam.viewmat[:3, 3])[2]
    expected = cam.K[0, 0] * 0.25 / depth
    shift = alpha_centroid(after.alpha) - alpha_centroid(before.alpha)
    assert expected > 3
    assert abs(shift[0] - expected) < 0.15 * expected, (shift, expected)
    assert abs(shift[1]) < 0.1 * expected, shift
    # and the picture is the library's picture of that pose from that camera
    same, _ = render_binding(binding, cam, binding.rest_vertices + offset, background=win.editor.background)
    np.testing.assert_allclose(after.image, same, atol=1e-6)


def test_preview_while_dragging_full_after_release(window, qapp):
    import time

    win = window
    win.set_settle_ms(10 ** 7)  # the full picture only on release here (no timing in the test)
    win.start_drag(_front_vertex(win))
    win.drag(np.array([0.0, 0.2, 0.0]), throttled=True)  # as a mouse move: solved at the next tick
    t_end = time.monotonic() + 20
    while not win.picture.preview and time.monotonic() < t_end:
        qapp.processEvents()
        time.sleep(0.005)
    assert win.picture.preview and max(win.picture.alpha.shape) == PREVIEW
    np.testing.assert_allclose(win.picture.vertices, win.editor.vertices)
    assert win.editor.dragging
    full = win.release()
    assert not full.preview and max(full.alpha.shape) == FULL
    assert not win.editor.dragging


def test_fixed_region_stays_and_the_drag_bends(window, binding):
    win = window
    v0 = binding.rest_vertices
    left, right = int(np.argmin(v0[:, 0])), int(np.argmax(v0[:, 0]))
    fixed = win.fix(left)
    assert len(fixed) >= 1
    win.start_drag(right)
    win.drag([0.0, 0.5, 0.0])
    win.release()
    v = win.editor.vertices
    np.testing.assert_allclose(v[fixed], v0[fixed], atol=1e-6)
    np.testing.assert_allclose(v[right], v0[right] + [0.0, 0.5, 0.0], atol=1e-6)
    # not rigid: a vertex half way moved part of the way
    mid = int(np.argmin(np.abs(v0[:, 0]) + np.abs(v0[:, 1] - v0[:, 1].max())))
    assert 0.05 < v[mid, 1] - v0[mid, 1] < 0.45
    # the splats moved with their triangles: the binding's world means at this pose
    g = binding.follow(v)
    assert np.linalg.norm(g.means - binding.follow().means, axis=1).max() > 0.3


def _mouse(win, event: str, x: float, y: float, shift: bool = False) -> None:
    iren = win.plotter.iren.interactor
    iren.SetEventInformation(int(round(x)), int(round(y)), 0, 1 if shift else 0)
    iren.InvokeEvent(event)


def test_mouse_drag_in_edit_mode(window, qapp):
    win = window
    cam = win.renderer.GetActiveCamera()
    vertex = _front_vertex(win)
    x, y, _ = win.display_position(vertex)
    eye = cam.GetPosition()
    # outside edit mode a drag turns the camera and leaves the mesh alone
    _mouse(win, "LeftButtonPressEvent", x, y)
    _mouse(win, "MouseMoveEvent", x + 30, y)
    _mouse(win, "LeftButtonReleaseEvent", x + 30, y)
    assert cam.GetPosition() != eye
    np.testing.assert_array_equal(win.editor.vertices, win.editor.binding.vertices)
    win.reset_camera()
    win.flush()
    eye = cam.GetPosition()
    x, y, _ = win.display_position(vertex)
    win.set_edit_mode(True)
    before = win.editor.vertices[vertex].copy()
    _mouse(win, "LeftButtonPressEvent", x, y)
    assert win.editor.dragging
    _mouse(win, "MouseMoveEvent", x + 40, y)
    qapp.processEvents()
    _mouse(win, "LeftButtonReleaseEvent", x + 40, y)
    assert not win.editor.dragging and cam.GetPosition() == eye  # the camera stayed
    moved = win.editor.vertices[vertex] - before
    right = win.splat_camera(preview=False).viewmat[0, :3]
    assert moved @ right > 0.1 and np.linalg.norm(moved - (moved @ right) * right) < 0.05 * (moved @ right)
    # the mesh drawn (and picked) is the deformed one
    np.testing.assert_allclose(np.asarray(win._mesh_actor.GetMapper().GetInput().GetPoints().GetData()),
                               win.editor.vertices, atol=1e-6)
    # the vertex is drawn under the mouse again (40 pixels to the right, same depth plane)
    x1, y1, _ = win.display_position(vertex)
    assert abs(x1 - (x + 40)) < 1.5 and abs(y1 - y) < 1.5
    assert not win.picture.preview
    np.testing.assert_allclose(win.picture.vertices, win.editor.vertices)
    # Shift+click fixes a region instead
    _mouse(win, "LeftButtonPressEvent", x1, y1, shift=True)
    _mouse(win, "LeftButtonReleaseEvent", x1, y1, shift=True)
    assert vertex in win.editor.fixed and not win.editor.dragging


def test_none_keeps_its_references(window, qapp):
    """A void PySide6 call must not take None's references for good (PySide6 6.12 on Python 3.11
    does; the viewer's guard tops them up)."""
    import sys
    import time

    from apps.viewer import pyside_fix

    for _ in range(3000):
        window.statusBar().clearMessage()
    time.sleep(1.1)
    qapp.processEvents()
    assert sys.getrefcount(None) > pyside_fix.FLOOR // 2 or not pyside_fix.leaks()


def test_cli_screenshot(qapp, binding, tmp_path):
    from PIL import Image

    from shapecorr.cli import main
    from shapecorr.core import Shape
    from shapecorr.splat import save_splats

    save_splats(tmp_path / "splats", binding)
    moved = tmp_path / "moved.off"
    Shape(binding.rest_vertices + [0.0, 0.3, 0.0], binding.faces).save(moved)
    shot = tmp_path / "shot.png"
    assert main(["view", str(moved), "--splats", str(tmp_path / "splats"), "--screenshot", str(shot)]) == 0
    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape[0] > 100 and img.reshape(-1, 3).std(0).max() > 10
