"""The splat view: a mesh with its bound Gaussian splats, edited by ARAP drags.

Left, the mesh (pyvista); right, the splats drawn by ``shapecorr.splat`` from the same camera,
as a picture. In edit mode (``E``) a left-drag on the mesh grabs the region around the point
under the mouse and drags it in the view plane; Shift+click fixes a region where it is; the
mesh follows live (:class:`~apps.viewer.splat_edit.SplatEditor`) and so do the splats. Outside
edit mode the mouse turns the camera as usual and the splats are re-drawn from the new view.

Throttling keeps dragging responsive: while the mesh or the camera moves, the splats are drawn
at ``preview_size`` (long side, pixels) at most once per event-loop pass after the last change;
``settle_ms`` after the last change (and at once when a drag ends) they are drawn at
``full_size``. Every action is also a method (``start_drag``, ``drag``, ``release``, ``fix``,
``set_edit_mode``, ``render_splats``) so that tests drive the window without events.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pyvista as pv
from PySide6 import QtCore, QtGui, QtWidgets
from pyvistaqt import QtInteractor
from vtkmodules.vtkRenderingCore import vtkCellPicker

from shapecorr.core import ShapecorrError
from shapecorr.render import camera_direction

from . import pyside_fix
from .splat_edit import SplatEditor, SplatPicture, camera_from_view, picture_size

log = logging.getLogger(__name__)

BACKGROUND = (0.16, 0.17, 0.19)
MESH_COLOR = (0.78, 0.78, 0.76)
HANDLE_COLORS = {"grabbed": (1.0, 0.85, 0.1), "dragged": (0.95, 0.45, 0.1), "fixed": (0.2, 0.6, 1.0)}
FULL_SIZE = 384
PREVIEW_SIZE = 128
SETTLE_MS = 300

SHORTCUTS = [
    ("E", "edit mode on/off: drag a region of the mesh; Shift+click fixes one"),
    ("X", "clear the handles (the pose stays)"), ("R", "reset the camera"),
    ("Ctrl+P / F12", "save a screenshot (PNG)"), ("Ctrl+Q", "quit"),
]


class SplatWindow(QtWidgets.QMainWindow):
    """A mesh and its bound splats side by side; ARAP drags deform both.

    ``binding``: :class:`shapecorr.splat.SplatBinding`; ``vertices``: the starting pose (default:
    the binding's); ``device``: where the splats are drawn (``cpu``: our rasterizer; ``cuda``: gsplat).
    """

    def __init__(self, binding, vertices=None, *, device: str = "cpu", full_size: int = FULL_SIZE,
                 preview_size: int = PREVIEW_SIZE, settle_ms: int = SETTLE_MS, parent=None, up: str = "y"):
        super().__init__(parent)
        self._reset_view, self._reset_up = camera_direction((0.55, 0.25, 1.0), up)  # the reset camera; up: the mesh's up axis
        pyside_fix.guard()
        self.setWindowTitle("shapecorr viewer — splats")
        self.resize(1280, 640)
        self.editor = SplatEditor(binding, vertices, device=device, background=BACKGROUND)
        self.full_size, self.preview_size = int(full_size), int(preview_size)
        self.edit_mode = False
        self.last_error: str | None = None
        self.picture: SplatPicture | None = None
        self.render_seconds = 0.0
        self._drag_from = None  # (display x, y, depth) where the drag started
        self._closed = False
        self._pending_offset = None

        self._build_views()
        self._build_actions()
        self._build_status_bar()
        self._preview_timer = QtCore.QTimer(self, singleShot=True, interval=0)
        self._preview_timer.timeout.connect(self._preview_tick)
        self._full_timer = QtCore.QTimer(self, singleShot=True, interval=int(settle_ms))
        self._full_timer.timeout.connect(lambda: self._guarded(self.render_splats, False))
        self._draw_mesh()
        self.reset_camera(render=False)
        self.plotter.render()
        self.render_splats(preview=False)

    # ================================================================== construction
    def _build_views(self) -> None:
        split = QtWidgets.QSplitter()
        self.plotter = QtInteractor(split, multi_samples=0, auto_update=False)
        self.plotter.set_background(BACKGROUND)
        self.plotter.enable_lightkit()
        self.image_label = QtWidgets.QLabel()
        self.image_label.setAlignment(QtCore.Qt.AlignCenter)
        self.image_label.setMinimumSize(64, 64)
        self.image_label.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Ignored)
        self.image_label.setStyleSheet("QLabel { background-color: rgb(41, 43, 48); }")
        split.addWidget(self.plotter.interactor)
        split.addWidget(self.image_label)
        split.setSizes([640, 640])
        self.setCentralWidget(split)
        # our mouse handlers run before the camera style's and stop the events they handle
        iren = self.plotter.iren.interactor
        self._observers = {event: iren.AddObserver(event, handler, 10.0)
                           for event, handler in (("LeftButtonPressEvent", self._on_press),
                                                  ("MouseMoveEvent", self._on_move),
                                                  ("LeftButtonReleaseEvent", self._on_release))}
        self._view = None
        self._camera_observer = self.renderer.GetActiveCamera().AddObserver("ModifiedEvent", self._camera_moved)

    def _build_actions(self) -> None:
        def action(text, slot, keys, checkable=False):
            act = QtGui.QAction(text, self, checkable=checkable)
            act.setShortcuts([QtGui.QKeySequence(k) for k in keys])
            act.setShortcutContext(QtCore.Qt.WindowShortcut)
            act.triggered.connect(slot)
            self.addAction(act)
            return act

        self.act_edit = action("&Edit mode (drag the mesh)", lambda on: self.set_edit_mode(on), ["E"], True)
        self.act_clear = action("Clear &handles", self.clear_handles, ["X"])
        self.act_reset = action("&Reset camera", lambda: self.reset_camera(), ["R"])
        self.act_shot = action("Save scree&nshot…", lambda: self.save_screenshot(None), ["Ctrl+P", "F12"])
        self.act_quit = action("&Quit", self.close, ["Ctrl+Q"])
        self.act_help = action("&Keyboard shortcuts", self._show_shortcuts, ["F1"])
        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addActions([self.act_shot, self.act_quit])
        m = mb.addMenu("&Edit")
        m.addActions([self.act_edit, self.act_clear])
        mb.addMenu("&View").addAction(self.act_reset)
        mb.addMenu("&Help").addAction(self.act_help)
        tb = self.addToolBar("main")
        tb.setMovable(False)
        tb.addActions([self.act_edit, self.act_clear, self.act_reset, self.act_shot])

    def _build_status_bar(self) -> None:
        self.lbl_info = QtWidgets.QLabel()
        self.lbl_render = QtWidgets.QLabel()
        self.statusBar().addWidget(self.lbl_info, 1)
        self.statusBar().addPermanentWidget(self.lbl_render)
        self._update_status()

    @property
    def renderer(self):
        return self.plotter.renderers[0]

    # ================================================================== mesh
    def _draw_mesh(self) -> None:
        """(Re)draw the mesh in the current pose (smooth shading draws a copy with normals, so
        the actor is replaced rather than its points moved)."""
        faces = np.hstack([np.full((len(self.editor.faces), 1), 3), self.editor.faces]).ravel()
        self.mesh = pv.PolyData(self.editor.vertices.copy(), faces)
        self._mesh_actor = self.plotter.add_mesh(self.mesh, color=MESH_COLOR, smooth_shading=True, name="mesh",
                                                 reset_camera=False, pickable=True, render=False)
        self._draw_handles()

    def _draw_handles(self) -> None:
        ed = self.editor
        dragged = np.setdiff1d(np.array(sorted(ed.pinned), dtype=np.int64), np.union1d(ed.fixed, ed.grabbed))
        ids = np.concatenate([ed.fixed, dragged, ed.grabbed])
        colors = np.array([HANDLE_COLORS["fixed"]] * len(ed.fixed) + [HANDLE_COLORS["dragged"]] * len(dragged)
                          + [HANDLE_COLORS["grabbed"]] * len(ed.grabbed))
        self.plotter.remove_actor("handles", render=False)
        if len(ids):
            pts = pv.PolyData(ed.vertices[ids])
            pts.point_data["rgb"] = (255 * colors).astype(np.uint8)
            self.plotter.add_mesh(pts, scalars="rgb", rgb=True, point_size=6, render_points_as_spheres=True,
                                  name="handles", reset_camera=False, pickable=False, render=False)

    def _show_pose(self) -> None:
        self._draw_mesh()
        self.plotter.render()

    def reset_camera(self, render: bool = True) -> None:
        v = self.editor.vertices
        centre = 0.5 * (v.min(0) + v.max(0))
        diag = float(np.linalg.norm(v.max(0) - v.min(0))) or 1.0
        cam = self.renderer.GetActiveCamera()
        cam.SetFocalPoint(*centre)
        cam.SetPosition(*(centre + diag * 1.6 * self._reset_view / np.linalg.norm(self._reset_view)))
        cam.SetViewUp(*self._reset_up)
        self.renderer.ResetCameraClippingRange()
        if render:
            self.plotter.render()

    # ================================================================== splats
    def splat_camera(self, preview: bool):
        """The splat camera of the mesh view's camera at the preview or the full size."""
        cam = self.renderer.GetActiveCamera()
        w, h = self.plotter.ren_win.GetSize()
        width, height = picture_size(max(w, 1) / max(h, 1), self.preview_size if preview else self.full_size)
        return camera_from_view(cam.GetPosition(), cam.GetFocalPoint(), cam.GetViewUp(), cam.GetViewAngle(),
                                width, height)

    def render_splats(self, preview: bool = False) -> SplatPicture:
        """Draw the splats of the current pose from the current camera and show the picture."""
        t0 = time.perf_counter()
        image, alpha = self.editor.render(self.splat_camera(preview))
        self.render_seconds = time.perf_counter() - t0
        self.picture = SplatPicture(image, alpha, preview, self.editor.vertices.copy())
        self._show_picture()
        self._update_status()
        return self.picture

    def _show_picture(self) -> None:
        rgb = np.ascontiguousarray(np.clip(np.round(255 * self.picture.image), 0, 255).astype(np.uint8))
        h, w, _ = rgb.shape
        qimg = QtGui.QImage(rgb.data, w, h, 3 * w, QtGui.QImage.Format_RGB888).copy()
        size = self.image_label.size()
        mode = QtCore.Qt.FastTransformation if self.picture.preview else QtCore.Qt.SmoothTransformation
        self.image_label.setPixmap(QtGui.QPixmap.fromImage(qimg).scaled(size, QtCore.Qt.KeepAspectRatio, mode))

    def set_settle_ms(self, ms: int) -> None:
        """How long after the last change the full picture is drawn."""
        self._full_timer.setInterval(int(ms))

    def _camera_moved(self, *_) -> None:
        cam = self.renderer.GetActiveCamera()
        view = (cam.GetPosition(), cam.GetFocalPoint(), cam.GetViewUp(), cam.GetViewAngle())
        if view != self._view:  # not a change of the clipping range only
            self._view = view
            self._changed()

    def _changed(self) -> None:
        """The pose or the camera changed: a preview soon, the full picture once things settle."""
        if self._closed:
            return
        self._preview_timer.start()
        self._full_timer.start()

    def _preview_tick(self) -> None:
        def step():
            if self._pending_offset is not None and self.editor.dragging:
                offset, self._pending_offset = self._pending_offset, None
                self._apply_drag(offset)
            self.render_splats(preview=True)

        self._guarded(step)

    def _guarded(self, fn, *args) -> None:
        """Run ``fn`` from a timer or an event: an error goes to the status bar, never out."""
        try:
            fn(*args)
        except (ShapecorrError, ValueError, ArithmeticError, RuntimeError) as exc:
            self._error(f"{type(exc).__name__}: {exc}")

    def flush(self) -> SplatPicture:
        """Run what the timers would: the pending drag step and the full picture (for tests and scripts)."""
        self._preview_timer.stop()
        self._full_timer.stop()
        if self._pending_offset is not None and self.editor.dragging:
            offset, self._pending_offset = self._pending_offset, None
            self._apply_drag(offset)
        return self.render_splats(preview=False)

    def resizeEvent(self, event):
        super().resizeEvent(event)
        if self.picture is not None:
            self._show_picture()
            self._full_timer.start()

    # ================================================================== editing
    def set_edit_mode(self, on: bool) -> None:
        self.edit_mode = bool(on)
        self.act_edit.setChecked(self.edit_mode)
        self._update_status()

    def start_drag(self, vertex: int) -> np.ndarray:
        """Grab the region around ``vertex`` (the drag starts)."""
        ids = self.editor.grab(vertex)
        self._show_pose()
        return ids

    def drag(self, offset, *, throttled: bool = False) -> None:
        """Move the grabbed region by ``offset`` from where it was grabbed. ``throttled``: as a
        mouse move does (solved and drawn at the next preview tick)."""
        if throttled:
            self._pending_offset = np.asarray(offset, dtype=np.float64)
            self._changed()
            return
        self._apply_drag(offset)
        self._changed()

    def _apply_drag(self, offset) -> None:
        self.editor.drag(offset)
        self._show_pose()

    def release(self) -> SplatPicture:
        """End the drag: the pose solved to convergence, the full picture at once."""
        offset, self._pending_offset = self._pending_offset, None
        self.editor.end_drag(offset)
        self._show_pose()
        self._preview_timer.stop()
        self._full_timer.stop()
        return self.render_splats(preview=False)

    def fix(self, vertex: int) -> np.ndarray:
        ids = self.editor.fix(vertex)
        self._draw_handles()
        self.plotter.render()
        self._update_status()
        return ids

    def clear_handles(self) -> None:
        self.editor.clear_handles()
        self._show_pose()
        self._update_status()

    def set_pose(self, vertices) -> SplatPicture:
        """Show the mesh at ``vertices`` (same vertex order) and its splats."""
        self.editor.set_pose(vertices)
        self._show_pose()
        return self.render_splats(preview=False)

    # ================================================================== mouse
    def pick_vertex(self, x: int, y: int) -> int | None:
        """The mesh vertex nearest to the surface point under display position ``(x, y)``."""
        picker = vtkCellPicker()
        picker.SetTolerance(0.005)
        picker.PickFromListOn()
        picker.AddPickList(self._mesh_actor)
        if not picker.Pick(int(x), int(y), 0, self.renderer):
            return None
        cell = self.editor.faces[picker.GetCellId()]
        p = np.asarray(picker.GetPickPosition())
        return int(cell[np.argmin(np.linalg.norm(self.editor.vertices[cell] - p, axis=1))])

    def display_position(self, vertex: int) -> tuple[float, float, float]:
        """Display coordinates (and depth) where ``vertex`` is drawn."""
        p = self.editor.vertices[int(vertex)]
        self.renderer.SetWorldPoint(*p, 1.0)
        self.renderer.WorldToDisplay()
        return self.renderer.GetDisplayPoint()

    def _world_at(self, x: float, y: float, depth: float) -> np.ndarray:
        self.renderer.SetDisplayPoint(float(x), float(y), float(depth))
        self.renderer.DisplayToWorld()
        w = np.asarray(self.renderer.GetWorldPoint())
        return w[:3] / w[3]

    def _handled(self, event: str) -> None:
        """Stop ``event`` here: the camera style does not see it."""
        self.plotter.iren.interactor.GetCommand(self._observers[event]).SetAbortFlag(1)

    def _on_press(self, iren, event) -> None:
        x, y = iren.GetEventPosition()
        vertex = self.pick_vertex(x, y) if self.edit_mode else None
        if vertex is None:
            return  # the camera turns
        self._handled(event)
        try:
            if iren.GetShiftKey():
                self.fix(vertex)
                return
            self.start_drag(vertex)
        except (ShapecorrError, ValueError, ArithmeticError) as exc:
            self._error(str(exc))
            return
        depth = self.display_position(vertex)[2]
        self._drag_from = (x, y, depth)

    def _on_move(self, iren, event) -> None:
        if self._drag_from is None:
            return
        self._handled(event)
        x, y = iren.GetEventPosition()
        x0, y0, depth = self._drag_from
        self.drag(self._world_at(x, y, depth) - self._world_at(x0, y0, depth), throttled=True)

    def _on_release(self, iren, event) -> None:
        if self._drag_from is None:
            return
        self._handled(event)
        self._drag_from = None
        if self.editor.dragging:
            self._guarded(self.release)

    # ================================================================== status, saving
    def _error(self, message: str) -> None:
        self.last_error = message
        log.warning("%s", message)
        self.statusBar().showMessage(message, 15000)

    def _update_status(self) -> None:
        ed = self.editor
        mode = "edit mode: drag the mesh, Shift+click fixes a region (E: off)" if self.edit_mode else \
            "E: edit mode"
        self.lbl_info.setText(f"{ed.binding.n_gaussians} Gaussians on {len(ed.faces)} faces · {len(ed.fixed)} fixed, "
                              f"{len(ed.pinned) - len(ed.fixed)} dragged vertices · {mode}")
        if self.picture is not None:
            h, w = self.picture.alpha.shape
            kind = "preview" if self.picture.preview else "full"
            self.lbl_render.setText(f"splats {w}×{h} ({kind}, {ed.device}) {1000 * self.render_seconds:.0f} ms")

    def save_screenshot(self, path=None) -> Path | None:
        if path is None:
            path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save a screenshot", "splats.png", "PNG (*.png)")
            if not path:
                return None
        path = Path(path).with_suffix(".png")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.plotter.render()
        QtWidgets.QApplication.processEvents()
        if not self.grab().save(str(path), "PNG"):
            self._error(f"{path}: Qt could not write the file")
            return None
        return path

    def _show_shortcuts(self) -> None:
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Information, "Keyboard shortcuts",
                                    "\n".join(f"{k:<14} {v}" for k, v in SHORTCUTS), QtWidgets.QMessageBox.Ok, self)
        box.setStyleSheet("QLabel { font-family: monospace; }")
        box.setAttribute(QtCore.Qt.WA_DeleteOnClose)
        box.open()

    def closeEvent(self, event):
        self._closed = True  # the camera may still report changes while the plotter closes
        self._preview_timer.stop()
        self._full_timer.stop()
        self.renderer.GetActiveCamera().RemoveObserver(self._camera_observer)
        self.plotter.close()
        super().closeEvent(event)


def run_splat_viewer(binding, vertices=None, *, device: str = "cpu", screenshot=None, up: str = "y") -> int:
    """Open the splat view of ``binding`` (:class:`shapecorr.splat.SplatBinding`) with the mesh
    at ``vertices`` (default: the binding's pose) and run the event loop. ``screenshot``: save a
    PNG of the window once the full picture is shown, then quit. ``up``: the mesh's up axis."""
    from .app import new_app

    app = new_app()
    win = SplatWindow(binding, vertices, device=device, up=up)
    win.show()
    if screenshot is not None:
        def shoot():
            win.flush()
            win.save_screenshot(screenshot)
            win.close()
            app.quit()

        QtCore.QTimer.singleShot(200, shoot)
    return int(app.exec())
