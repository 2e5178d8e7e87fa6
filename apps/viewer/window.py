"""The viewer's main window: draws a :class:`~apps.viewer.state.ViewerState` (two shapes side
by side, their correspondence, picks, errors) and runs the slow work in :class:`~apps.viewer.worker.Jobs`.

Everything a menu or key does is also a method (``load_shapes``, ``run_match``, ``pick``,
``set_scheme``, ``set_mode``, ``set_lines``, ``save_screenshot`` ...) so that tests and scripts
can drive the window without synthesizing events. Errors never escape a method called from the
GUI: they become a (non-blocking) dialog with the library's message, and ``last_error``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pyvista as pv
from PySide6 import QtCore, QtGui, QtWidgets
from pyvistaqt import QtInteractor
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import (
    vtkActor2D,
    vtkCellPicker,
    vtkPointPicker,
    vtkPolyDataMapper2D,
    vtkRenderer,
)

from shapecorr.render import COLOR_SCHEMES, DEFAULT_VIEW, UP_AXES, split_at_uv_seams

from . import helpers, pyside_fix
from .edit_mode import MORPH_STEPS, EditMode
from .state import MODES, SIDES, ViewerState, other_side
from .worker import Jobs, describe_error

log = logging.getLogger(__name__)

BACKGROUND = (0.16, 0.17, 0.19)
NEUTRAL = (0.78, 0.78, 0.76)
MARKER_COLORS = {"picked": (1.0, 1.0, 1.0), "match": (1.0, 0.1, 0.85), "true": (0.1, 0.95, 0.3)}
MARKER_RADIUS = 0.018  # shapes are drawn with unit bounding-box diagonal
LANDMARK_COLORS = {"pair": (1.0, 0.8, 0.1), "pending": (1.0, 0.45, 0.0)}
CLICK_TOLERANCE_PX = 4
N_LINES = 60
BIG_MESH = 50_000  # above this, colour schemes are computed in the background
LOW_CONFIDENCE_STYLE = "QLabel { color: #ff6b5b; font-weight: bold; }"

SHORTCUTS = [
    ("Ctrl+O", "open the source shape"), ("Ctrl+Shift+O", "open the target shape"),
    ("Ctrl+M / F5", "compute the match"), ("Esc", "cancel the running computation"),
    ("Ctrl+L", "load a saved match"), ("Ctrl+G", "load ground truth (map file)"),
    ("Ctrl+S", "save the match"), ("Ctrl+Shift+S", "save the transferred shape"),
    ("Ctrl+P / F12", "save a screenshot (PNG)"), ("C", "next colour scheme"),
    ("1 / E / T", "correspondence colours / error heat map / texture preview"),
    ("L", "lines between matched points"), ("R", "reset the camera"), ("X", "clear markers"),
    ("P or click", "pick the point under the mouse"), ("Ctrl+Q", "quit"),
    ("D", "edit mode: drag a shape (Shift+click fixes a region)"), ("H", "clear the edit's handles"),
    ("A", "apply the edit to the other shape"), ("F", "the other shape follows the drags"),
    ("G", "morph slider"), ("O", "show the other feature model's match (where two models disagree)"),
    ("Shift+R", "show the shapes as their files have them"),
    ("K", "landmark mode: click a source point, then its place on the target"),
    ("Ctrl+K", "compute the match with the landmarks"), ("Shift+K", "clear the landmarks"),
]


class ViewerWindow(EditMode, QtWidgets.QMainWindow):
    """Desktop viewer of a pair of shapes and their correspondence (shapecorr public API only).

    ``auto_match``: start :func:`shapecorr.match` in the background as soon as both shapes are
    open and no match is shown (what ``shapecorr view A B`` does). ``strict``: refuse imperfect
    shapes instead of opening them with warnings.
    """

    def __init__(self, preset: str | None = None, parent=None, device: str = "cpu", *,
                 auto_match: bool = False, strict: bool = False, up: str = "y"):
        super().__init__(parent)
        import shapecorr

        pyside_fix.guard()  # PySide6 6.12 on Python 3.11 takes a reference from None per void call
        self.setWindowTitle("shapecorr viewer")
        self.resize(1280, 720)
        self.setAcceptDrops(True)
        self.state = ViewerState(presets=shapecorr.available_presets(), preset=preset, device=device,
                                 strict=strict, up=up)
        self.auto_match = auto_match
        self.jobs = Jobs(self)
        self.jobs.changed.connect(self._show_progress)
        self.jobs.progressed.connect(lambda name, stage, f: self._show_progress(f))
        self.last_error: str | None = None
        self.markers: dict[str, dict] = {}  # name -> side, vertex, position, actor
        self._display_pts: dict[str, np.ndarray] = {}
        self._trees: dict[str, object] = {}
        self._actors: dict[str, object] = {}
        self._press_pos = None
        self._line_pairs = None
        self._init_edit_mode()
        self._drag_timer = QtCore.QTimer(self, singleShot=True, interval=0)
        self._drag_timer.timeout.connect(self._drag_tick)

        self._build_plotter()
        self._build_actions()
        self._build_menus_and_toolbar()
        self._build_status_bar()
        self._redraw()

    # ================================================================== construction
    def _build_plotter(self) -> None:
        frame = QtWidgets.QFrame()
        layout = QtWidgets.QVBoxLayout(frame)
        layout.setContentsMargins(0, 0, 0, 0)
        # no MSAA (4x the cost under software OpenGL); FXAA smooths edges almost for free. No
        # auto_update: its timer re-renders the scene 5 times a second even when nothing changed
        # (with software OpenGL, a CPU core taken from the match); every change here renders.
        self.plotter = QtInteractor(frame, shape=(1, 2), border=True, border_color="gray", multi_samples=0,
                                    auto_update=False)
        layout.addWidget(self.plotter.interactor)
        self.setCentralWidget(frame)
        self.plotter.set_background(BACKGROUND)
        for i in range(2):
            self.plotter.subplot(0, i)
            self.plotter.enable_lightkit()
        self.plotter.link_views()
        try:
            self.plotter.enable_anti_aliasing("fxaa", all_renderers=True)
        except Exception as exc:  # some OpenGL drivers lack it; plain edges are fine
            log.info("no FXAA: %s", exc)
        self.set_view(render=False)
        self._build_line_overlay()
        # click (press + release without a drag) picks; dragging still rotates
        self.plotter.iren.add_observer("LeftButtonPressEvent", self._on_press)
        self.plotter.iren.add_observer("LeftButtonReleaseEvent", self._on_release)
        # in edit mode these run first and keep the events they handle from the camera and the picks
        iren = self.plotter.iren.interactor
        self._edit_observers = {event: iren.AddObserver(event, handler, 10.0)
                                for event, handler in (("LeftButtonPressEvent", self._on_edit_press),
                                                       ("MouseMoveEvent", self._on_edit_move),
                                                       ("LeftButtonReleaseEvent", self._on_edit_release))}

    def _build_line_overlay(self) -> None:
        """Lines between the two views live in an overlay renderer spanning the whole window."""
        ren_win = self.plotter.ren_win
        overlay = vtkRenderer()
        n_layers = ren_win.GetNumberOfLayers()
        ren_win.SetNumberOfLayers(n_layers + 1)
        overlay.SetLayer(n_layers)
        overlay.SetViewport(0, 0, 1, 1)
        overlay.InteractiveOff()
        overlay.UseFXAAOn()  # smooth lines without multisampling
        ren_win.AddRenderer(overlay)
        self._line_poly = vtkPolyData()
        mapper = vtkPolyDataMapper2D()
        mapper.SetInputData(self._line_poly)
        mapper.SetColorModeToDirectScalars()
        actor = vtkActor2D()
        actor.SetMapper(mapper)
        actor.GetProperty().SetLineWidth(2.0)
        actor.GetProperty().SetOpacity(0.7)
        overlay.AddActor(actor)
        self._overlay = overlay
        ren_win.AddObserver("StartEvent", self._update_lines)

    def _action(self, text, slot, shortcut=None, checkable=False, tip=None) -> QtGui.QAction:
        act = QtGui.QAction(text, self)
        if shortcut:
            keys = shortcut if isinstance(shortcut, (list, tuple)) else [shortcut]
            act.setShortcuts([QtGui.QKeySequence(k) for k in keys])
            act.setShortcutContext(QtCore.Qt.WindowShortcut)
        act.setCheckable(checkable)
        if tip:
            act.setStatusTip(tip)
        act.triggered.connect(slot)
        self.addAction(act)  # shortcuts work even when menus are hidden
        return act

    def _build_actions(self) -> None:
        a = self._action
        self.act_open_source = a("Open &source…", lambda: self._open_dialog("source"), "Ctrl+O")
        self.act_open_target = a("Open &target…", lambda: self._open_dialog("target"), "Ctrl+Shift+O")
        self.act_open_pair = a("Open &pair…", self._open_pair_dialog)
        self.act_load_match = a("&Load match…", lambda: self.load_match(None), "Ctrl+L")
        self.act_load_gt = a("Load ground truth &map…", lambda: self.load_ground_truth(), "Ctrl+G",
                             tip="a 0-based map file: line j = source vertex matched to target vertex j")
        self.act_load_vts = a("Load ground truth .&vts pair…", self._open_vts_dialog,
                              tip="two .vts files (1-based template correspondences), source then target")
        self.act_save_match = a("Save &match…", lambda: self.save_match(None), "Ctrl+S")
        self.act_save_transfer = a("Save trans&ferred shape…", lambda: self.save_transferred(None), "Ctrl+Shift+S")
        self.act_screenshot = a("Save scree&nshot…", lambda: self.save_screenshot(None), ["Ctrl+P", "F12"])
        self.act_quit = a("&Quit", self.close, "Ctrl+Q")
        self.act_match = a("&Compute match", lambda: self.run_match(), ["Ctrl+M", "F5"])
        self.act_landmark_mode = a("&Landmark mode (clicks add pairs)", lambda on: self.set_landmark_mode(on), "K", True,
                                   tip="click a point of the source, then its place on the target: a landmark pair")
        self.act_match_landmarks = a("Compute match with lan&dmarks", lambda: self.run_match(landmarks=True),
                                     "Ctrl+K", tip="the pairs settle the parts the map swaps (a tail for a leg)")
        self.act_clear_landmarks = a("Clear landmar&ks", self.clear_landmarks, "Shift+K")
        self.act_cancel = a("C&ancel", self.cancel, "Esc")
        self.act_other_match = a("Show the other feature &model's match", self.show_other_match, "O",
                                 tip="where two feature models disagree on the pair: one of their maps is wrong")
        self.act_other_match.setEnabled(False)
        self.act_next_scheme = a("&Next colour scheme", self.next_scheme, "C")
        self.mode_actions = {
            "correspondence": a("&Correspondence colours", lambda: self.set_mode("correspondence"), "1", True),
            "error": a("&Error heat map", lambda: self.set_mode("error"), "E", True),
            "texture": a("&Texture preview", lambda: self.set_mode("texture"), "T", True),
        }
        self.act_lines = a("&Lines between matched points", lambda: self.set_lines(not self.state.show_lines),
                           "L", True)
        self.act_reset = a("&Reset camera", self.reset_camera, "R")
        self.act_clear = a("Clear mar&kers", self.clear_markers, "X")
        self.act_pick_here = a("&Pick under mouse", self._pick_under_mouse, "P")
        self.act_shortcuts = a("&Keyboard shortcuts", self._show_shortcuts, "F1")
        self.act_edit = a("&Edit mode (drag a shape)", lambda on: self.set_edit_mode(on), "D", True,
                          tip="drag a region of either shape (ARAP); Shift+click fixes a region")
        self.act_clear_handles = a("Clear &handles", self.clear_handles, "H")
        self.act_carry = a("&Apply the edit to the other shape", lambda: self.apply_edit_to_other(), "A",
                           tip="deformation transfer through the match")
        self.act_follow = a("&Follow live", lambda on: self.set_follow(on), "F", True,
                            tip="the other shape follows each drag through the match (after a first apply)")
        self.act_morph = a("&Morph (slider)", lambda on: self.set_morph_mode(on), "G", True,
                           tip="in-between shapes from the source to the target (ARAP interpolation)")
        self.act_reset_shapes = a("Show the shapes as in their &files", self.reset_shapes, "Shift+R")
        self.act_save_source_shown = a("Save the source as shown…", lambda: self.save_shown("source", None))
        self.act_save_target_shown = a("Save the target as shown…", lambda: self.save_shown("target", None))
        group = QtGui.QActionGroup(self)
        for act in self.mode_actions.values():
            group.addAction(act)
        self.mode_actions["correspondence"].setChecked(True)

    def _choice_menu(self, menu, names, current, slot) -> dict:
        """A submenu of exclusive, checkable choices; returns its actions by name."""
        group = QtGui.QActionGroup(self)
        actions = {}
        for name in names:
            act = QtGui.QAction(name, self, checkable=True)
            act.setChecked(name == current)
            act.triggered.connect(lambda _=False, n=name: slot(n))
            group.addAction(act)
            menu.addAction(act)
            actions[name] = act
        return actions

    def _combo(self, toolbar, label, names, current, slot) -> QtWidgets.QComboBox:
        toolbar.addWidget(QtWidgets.QLabel(f" {label}: "))
        box = QtWidgets.QComboBox()
        box.addItems(list(names))
        box.setCurrentText(current)
        box.currentTextChanged.connect(slot)
        toolbar.addWidget(box)
        return box

    def _build_menus_and_toolbar(self) -> None:
        def fill(menu, actions):
            for act in actions:
                menu.addSeparator() if act is None else menu.addAction(act)

        mb = self.menuBar()
        fill(mb.addMenu("&File"), [self.act_open_source, self.act_open_target, self.act_open_pair, None,
                                   self.act_load_match, self.act_load_gt, self.act_load_vts, None,
                                   self.act_save_match, self.act_save_transfer, self.act_save_source_shown,
                                   self.act_save_target_shown, self.act_screenshot, None, self.act_quit])
        fill(mb.addMenu("&Edit"), [self.act_edit, self.act_clear_handles, self.act_carry, self.act_follow, None,
                                   self.act_morph,
                                   None, self.act_reset_shapes])
        m = mb.addMenu("&Match")
        fill(m, [self.act_match, self.act_cancel, self.act_other_match, None, self.act_landmark_mode,
                 self.act_match_landmarks, self.act_clear_landmarks])
        self.preset_actions = self._choice_menu(m.addMenu("&Preset"), self.state.presets, self.state.preset,
                                                self.set_preset)
        m = mb.addMenu("&View")
        fill(m, [*self.mode_actions.values(), None, self.act_next_scheme])
        self.scheme_actions = self._choice_menu(m.addMenu("Colour &scheme"), COLOR_SCHEMES, self.state.scheme,
                                                self.set_scheme)
        self.up_actions = self._choice_menu(m.addMenu("&Up axis"), UP_AXES, self.state.up, self.set_up)
        fill(m, [None, self.act_lines, self.act_reset, self.act_clear, self.act_pick_here])
        fill(mb.addMenu("&Help"), [self.act_shortcuts])

        tb = self.addToolBar("main")
        tb.setMovable(False)
        fill(tb, [self.act_open_source, self.act_open_target, None])
        self.preset_box = self._combo(tb, "preset", self.state.presets, self.state.preset, self.set_preset)
        fill(tb, [self.act_match, self.act_load_match, None])
        self.scheme_box = self._combo(tb, "colours", COLOR_SCHEMES, self.state.scheme, self.set_scheme)
        fill(tb, [*self.mode_actions.values(), self.act_lines, None, self.act_screenshot])
        self.addToolBarBreak()
        tb = self.addToolBar("edit")
        tb.setMovable(False)
        fill(tb, [self.act_edit, self.act_clear_handles, self.act_carry, self.act_follow, None, self.act_morph])
        self.morph_slider = QtWidgets.QSlider(QtCore.Qt.Horizontal)
        self.morph_slider.setRange(0, MORPH_STEPS)
        self.morph_slider.setMaximumWidth(220)
        self.morph_slider.setToolTip("morph: source (left end) to target (right end)")
        self.morph_slider.valueChanged.connect(lambda v: self.set_morph(v / MORPH_STEPS))
        self.morph_slider_action = tb.addWidget(self.morph_slider)
        self.morph_slider_action.setVisible(False)

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.lbl_warnings = QtWidgets.QLabel()  # cut to the room left; the tooltip has every warning
        self.lbl_warnings.setStyleSheet("QLabel { color: #e0a030; }")
        self.lbl_warnings.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Preferred)
        self.lbl_match = QtWidgets.QLabel()
        self.lbl_error = QtWidgets.QLabel()
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(260)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        sb.addWidget(self.lbl_warnings, 1)
        for w in (self.lbl_match, self.lbl_error, self.progress, self.cancel_button):
            sb.addPermanentWidget(w)
        self.progress.hide()
        self.cancel_button.hide()
        self._tick = QtCore.QTimer(self)
        self._tick.setInterval(500)  # stages can be long: the elapsed time shows the bar is alive
        self._tick.timeout.connect(self._show_progress)
        self._tick.start()
        self._update_status()

    # ================================================================== shorthands
    @property
    def source(self):
        return self.state.source

    @property
    def target(self):
        return self.state.target

    @property
    def match(self):
        return self.state.match

    def _error(self, title: str, message: str) -> None:
        """A non-blocking error dialog (never a crash, never a hang in tests)."""
        self.last_error = message
        log.warning("%s: %s", title, message)
        self._message(f"{title}: {message}", 15000)
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Warning, title, message, QtWidgets.QMessageBox.Ok, self)
        box.setAttribute(QtCore.Qt.WA_DeleteOnClose)
        box.setWindowModality(QtCore.Qt.WindowModal)
        box.open()

    def _message(self, text: str, ms: int = 8000) -> None:
        if text:
            self.statusBar().showMessage(text, ms)

    def _info_box(self, title: str, text: str, monospace: bool = False) -> None:
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Information, title, text, QtWidgets.QMessageBox.Ok, self)
        if monospace:
            box.setStyleSheet("QLabel { font-family: monospace; }")
        box.setAttribute(QtCore.Qt.WA_DeleteOnClose)
        box.open()

    # ================================================================== loading
    def load_shapes(self, source=None, target=None, *, blocking: bool = True, then=None) -> bool:
        """Open the source and/or target (paths or :class:`shapecorr.Shape`); ``None`` keeps the
        current one. Imperfect meshes open with their warnings in the status bar; a file that
        cannot be read gives a dialog and leaves its side as it was (the other side still opens).

        ``blocking=False`` reads in a background thread (menus, drops and the command line do,
        so large files never freeze the window) and calls ``then()`` once done. Returns
        whether every given shape was opened (blocking) or the reading started (non-blocking).
        """
        items = {side: item for side, item in (("source", source), ("target", target)) if item is not None}
        if not items:
            return False
        strict = self.state.strict

        def work(progress, should_stop):
            out = {}
            for k, (side, item) in enumerate(items.items()):
                progress(f"reading the {side}", k / len(items))
                try:
                    out[side] = helpers.read_shape(item, strict=strict)
                except Exception as exc:  # the message goes to a dialog, the other side still opens
                    out[side] = describe_error(exc)
            return out

        def done(out):
            ok = self._apply_read(out)
            if then is not None:
                then()
            return ok

        if blocking:
            QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.WaitCursor)
            try:
                out = work(lambda *_: None, lambda: False)
            finally:
                QtWidgets.QApplication.restoreOverrideCursor()
            return done(out)
        def failed(message):
            self._error("Cannot open the shapes", message)
            if then is not None:
                then()

        self.jobs.start("load", work, done, failed)
        self._message("reading " + ", ".join(str(getattr(i, "name", i)) for i in items.values()) + "…", 0)
        return True

    def _apply_read(self, out: dict) -> bool:
        """Show the shapes that were read, a dialog for each that was not."""
        loaded = {side: r for side, r in out.items() if isinstance(r, helpers.LoadedShape)}
        failed = {side: r for side, r in out.items() if side not in loaded}
        if loaded:
            self.jobs.cancel()  # a match or errors of the previous shapes are no longer wanted
            note = self.state.set_shapes(loaded)
            self.last_error = None
            self.statusBar().clearMessage()
            self._drop_edits(tuple(loaded))
            for side, item in loaded.items():
                self._frames[side] = helpers.DisplayFrame.of(item.shape.vertices)
                self._actors.pop(side, None)
            for side in SIDES:
                if self.state.shapes[side] is not None:
                    self._update_display(side)
            self.markers.clear()
            self._redraw(reset_camera=True)
            self._message(note)
        for side, message in failed.items():
            self._error(f"Cannot open the {side}", message)
        if loaded and self.auto_match and self.state.has_pair and self.match is None:
            self.run_match()
        return not failed

    def load_match(self, directory=None) -> bool:
        """Show a match saved by ``shapecorr match --out DIR`` (or ``Match.save``)."""
        import shapecorr

        if directory is None:
            directory = QtWidgets.QFileDialog.getExistingDirectory(self, "Load a saved match")
            if not directory:
                return False
        if not self.state.has_pair:
            self._error("Cannot load the match", "open the source and the target shapes first.")
            return False
        try:
            m = shapecorr.Match.load(directory)
            m.alternative = helpers.other_saved_match(directory)
            self.jobs.cancel("match")  # a loaded match replaces the one being computed
            self.set_match(m, origin=f"loaded from {Path(directory).name}")
        except (shapecorr.ShapecorrError, OSError) as exc:
            self._error("Cannot load the match", str(exc))
            return False
        return True

    def load_ground_truth(self, gt_map=None, *, gt_source=None, gt_target=None) -> bool:
        """Ground truth from a 0-based map file (line j: source vertex of target vertex j) or a
        pair of ``.vts`` files (1-based); starts the per-vertex error computation."""
        import shapecorr

        if not self.state.has_pair:
            self._error("Cannot load ground truth", "open the source and the target shapes first.")
            return False
        if gt_map is None and gt_source is None:
            gt_map, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Ground-truth map (0-based)", "",
                                                              "Maps (*.txt *.map *.vts);;All files (*)")
            if not gt_map:
                return False
        try:
            gt = helpers.load_ground_truth(self.source, self.target, gt_map=gt_map, gt_source=gt_source,
                                           gt_target=gt_target)
        except shapecorr.ShapecorrError as exc:
            self._error("Cannot load ground truth", str(exc))
            return False
        self.state.set_ground_truth(gt)
        self._start_error_job()
        self._redraw()
        return True

    def _open_dialog(self, side: str) -> None:
        from shapecorr.core import READ_FORMATS

        pattern = " ".join(f"*{e}" for e in READ_FORMATS)
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, f"Open the {side} shape", "",
                                                        f"Shapes ({pattern});;All files (*)")
        if path:
            self.load_shapes(**{side: path}, blocking=False)

    def _open_pair_dialog(self) -> None:
        paths, _ = QtWidgets.QFileDialog.getOpenFileNames(self, "Open two shapes (source first)")
        if len(paths) == 2:
            self.load_shapes(paths[0], paths[1], blocking=False)
        elif paths:
            self._error("Open pair", f"select exactly two shape files ({len(paths)} selected).")

    def _open_vts_dialog(self) -> None:
        a, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Source .vts", "", "VTS (*.vts);;All files (*)")
        if not a:
            return
        b, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Target .vts", str(Path(a).parent),
                                                     "VTS (*.vts);;All files (*)")
        if b:
            self.load_ground_truth(gt_source=a, gt_target=b)

    # drag and drop: shape files (one on a half of the window, or two), a match folder, a map
    def dragEnterEvent(self, event):
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    dragMoveEvent = dragEnterEvent

    def dropEvent(self, event):
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        event.acceptProposedAction()
        self.open_paths(paths, side="source" if event.position().x() < self.width() / 2 else "target")

    def open_paths(self, paths, side: str = "source", blocking: bool = False) -> None:
        """What a drop does: folders are saved matches, ``.vts``/``*_gt.txt`` are ground truth,
        other files are shapes (two: source and target; one: the side it was dropped on)."""
        paths = [Path(p) for p in paths]
        folders = [p for p in paths if p.is_dir()]
        gts = [p for p in paths if p.suffix.lower() == ".vts" or p.name.endswith("_gt.txt")]
        shapes = [p for p in paths if p not in folders and p not in gts]

        def rest():
            for f in folders:
                self.load_match(f)
            if len(gts) == 2 and all(g.suffix.lower() == ".vts" for g in gts):
                a, b = gts
                if self.source is not None and (b.stem == self.source.name or a.stem == getattr(self.target, "name", "")):
                    a, b = b, a  # the names say which is which
                self.load_ground_truth(gt_source=a, gt_target=b)
            elif len(gts) == 1 and gts[0].suffix.lower() != ".vts":
                self.load_ground_truth(gts[0])

        if len(shapes) >= 2:
            self.load_shapes(shapes[0], shapes[1], blocking=blocking, then=rest)
        elif shapes:
            self.load_shapes(**{side: shapes[0]}, blocking=blocking, then=rest)
        else:
            rest()

    # ================================================================== background work
    def set_preset(self, name: str) -> None:
        if name not in self.state.presets:
            return
        self.state.preset = name
        self.preset_box.setCurrentText(name)
        self.preset_actions[name].setChecked(True)

    def run_match(self, blocking: bool = False, preset: str | None = None, timeout: float = 600.0,
                  landmarks: bool = False) -> bool:
        """Compute the match with :func:`shapecorr.match` in a background thread (progress in
        the status bar, Esc cancels); ``landmarks``: with the landmark pairs clicked in landmark
        mode. ``blocking=True`` waits (processing Qt events) until the match and its error
        computation are done; returns whether a match is then shown (or, non-blocking, whether
        it started)."""
        import shapecorr

        if not self.state.has_pair:
            self._error("Cannot compute the match", "open the source and the target shapes first "
                        "(File > Open, drag and drop, or the command line).")
            return False
        if "match" in self.jobs:
            self._message("a match is already being computed")
            return False
        pairs = self.state.landmark_pairs() if landmarks else None
        if landmarks and pairs is None:
            self._error("No landmarks", "turn on landmark mode (K), click a point of the source and then its "
                        "place on the target, for three or more pairs spread over the shapes.")
            return False
        preset = preset or self.state.preset
        src, tgt, device = self.source, self.target, self.state.device
        t0 = time.perf_counter()
        what = f"preset {preset}" + ("" if pairs is None else f" and {len(pairs)} landmarks")

        def work(progress, should_stop):
            return shapecorr.match(src, tgt, preset=preset, device=device, progress=progress, landmarks=pairs)

        def done(m):
            self.set_match(m, origin=f"{what}, {time.perf_counter() - t0:.1f} s")

        self.jobs.start("match", work, done, lambda msg: self._error("The match failed", msg))
        self._message(f"matching with {what} on {device}…", 0)
        if blocking:
            self.wait_idle(timeout)
            return self.match is not None
        return True

    def set_match(self, match, origin: str = "") -> None:
        """Show a :class:`shapecorr.Match` between the current shapes (with its confidence)."""
        self.state.set_match(match, origin)
        self._match_shown()

    def _match_shown(self) -> None:
        """What follows a new match in the state: edits and markers dropped, its confidence said,
        its errors computed, the picture redrawn."""
        self.act_other_match.setEnabled(self.state.has_other_match)
        self._drop_edits(())
        self.markers.clear()
        conf = self.state.confidence
        if conf is not None and conf.low:
            self._message(conf.status_message(), 30000)
        else:
            self.statusBar().clearMessage()
        self._start_error_job()
        self._redraw()

    def show_other_match(self) -> bool:
        """Show the other feature model's match of a pair the two models disagree on (and back)."""
        if not self.state.has_other_match:
            self._message("this match has no other feature model's match (only where two models disagree)")
            return False
        message = self.state.show_other_match()
        self._match_shown()
        self._message(message, 30000)
        return True

    def _start_error_job(self) -> None:
        if self.match is None or self.state.gt is None:
            return
        src, p2p, gt = self.source, np.asarray(self.match.p2p_21), self.state.gt

        def work(progress, should_stop):
            return helpers.geodesic_errors(src, p2p, gt, progress=lambda f: progress("geodesic errors", f),
                                           should_stop=should_stop)

        def done(result):
            if self.state.accept_errors(result):
                self._redraw() if self.state.mode == "error" else self._update_status()

        self.jobs.start("errors", work, done, lambda msg: self._error("Error computation failed", msg))

    def _start_colors_job(self) -> None:
        if "colours" in self.jobs:
            return
        src, scheme = self.source, self.state.scheme

        def work(progress, should_stop):
            progress(f"{scheme} colours", 0.1)
            from shapecorr.render import correspondence_colors

            return correspondence_colors(src, scheme)

        def done(colors):
            if self.state.keep_colors(src, scheme, colors) and self.state.mode == "correspondence":
                self._redraw()

        self.jobs.start("colours", work, done, lambda msg: self._error("Colour scheme failed", msg))

    def _start_transfer_job(self) -> None:
        if "texture" in self.jobs:
            return
        match, src, tgt = self.match, self.source, self.target

        def work(progress, should_stop):
            progress("texture transfer", 0.1)
            return helpers.transfer_preview(match, src, tgt)

        def done(result):
            if match is self.match:
                self.state.transfer = result
            if self.state.mode == "texture":
                self._redraw()  # a newer match starts its own transfer

        self.jobs.start("texture", work, done, lambda msg: self._error("Texture transfer failed", msg))

    def cancel(self) -> None:
        """Cancel running computations. The window is free at once: a cancelled job stops at its
        next progress report and its result is dropped."""
        names = self.jobs.cancel()
        if names:
            self._message(f"cancelled {', '.join(names)} (the worker stops at its next stage)")
        self._update_status()

    def wait_idle(self, timeout: float = 600.0) -> bool:
        """Process Qt events until no background job is left (or ``timeout`` seconds)."""
        return self.jobs.wait_idle(timeout)

    def _show_progress(self, fraction: float | None = None) -> None:
        busy = bool(self.jobs)
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.act_match.setEnabled("match" not in self.jobs)
        if not busy:
            return
        job = list(self.jobs.running.values())[-1]
        if isinstance(fraction, float):
            self.progress.setValue(round(100 * fraction))
        elapsed = time.perf_counter() - job.t_start
        self.progress.setFormat(f"{job.name}: {job.stage} %p% ({elapsed:.0f} s)")

    # ================================================================== display settings
    def set_scheme(self, name: str) -> None:
        try:
            self.state.set_scheme(name)
        except ValueError as exc:
            self._error("Colour scheme", str(exc))
            return
        self.scheme_box.setCurrentText(name)
        self.scheme_actions[name].setChecked(True)
        self.mode_actions["correspondence"].setChecked(True)
        self._redraw()

    def next_scheme(self) -> None:
        names = list(COLOR_SCHEMES)
        self.set_scheme(names[(names.index(self.state.scheme) + 1) % len(names)])

    def set_mode(self, mode: str) -> None:
        """``correspondence`` colours, ``error`` heat map (needs ground truth) or ``texture``."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self._message(self.state.set_mode(mode))
        self.mode_actions[mode].setChecked(True)
        self._redraw()

    def set_lines(self, on: bool) -> None:
        self.state.show_lines = bool(on)
        self.act_lines.setChecked(self.state.show_lines)
        self.plotter.render()

    def reset_camera(self) -> None:
        self.set_view()

    def set_up(self, axis: str) -> None:
        """Take ``axis`` (one of shapecorr.render.UP_AXES) as the shapes' up axis and look again."""
        try:
            self.state.set_up(axis)
        except ValueError as exc:
            self._error("Up axis", str(exc))
            return
        self.up_actions[self.state.up].setChecked(True)
        self.set_view()

    def set_view(self, direction=DEFAULT_VIEW, up=None, zoom: float = 1.0, render: bool = True) -> None:
        """Look at both shapes from ``direction`` (cameras are linked); the default is the one
        of shapecorr.render's pictures. ``direction`` is written for y-up shapes and turned to
        the shapes' up axis (``state.up``); ``up``: an explicit up vector instead (``direction``
        then taken as it is)."""
        d, up = self.state.camera(direction) if up is None else (np.asarray(direction, dtype=float), up)
        cam = self.plotter.renderers[0].camera
        cam.focal_point = (0.0, 0.0, 0.0)
        cam.position = tuple(d / np.linalg.norm(d) * 2.2)
        cam.up = tuple(up)
        self.plotter.renderers[0].reset_camera(render=False)
        cam.zoom(zoom)
        if render:
            self.plotter.render()

    # ================================================================== drawing
    def _poly(self, side: str):
        shape = self.state.shapes[side]
        if shape.is_mesh:
            return pv.PolyData(self._display_pts[side], _vtk_faces(shape.faces))
        return pv.PolyData(self._display_pts[side])

    def _textured_poly(self, side: str, shape):
        """A copy of a UV-mapped shape split at its UV seams (OBJ-style UVs need it)."""
        v, f, tc = split_at_uv_seams(shape)
        poly = pv.PolyData(self._frame(side).apply(v), _vtk_faces(f))
        poly.active_texture_coordinates = np.asarray(tc, dtype=np.float32)
        return poly

    def _add_mesh(self, side: str, poly=None, **kw) -> None:
        shape = self.state.shapes[side]
        style = {}
        if shape.is_point_cloud:
            small = shape.n_vertices < 50000
            style = {"style": "points", "point_size": 4 if small else 2, "render_points_as_spheres": small}
        if "scalars" not in kw and "texture" not in kw:
            kw["color"] = NEUTRAL
        kw.setdefault("show_scalar_bar", False)
        self.plotter.subplot(0, SIDES.index(side))
        self._actors[side] = self.plotter.add_mesh(self._poly(side) if poly is None else poly, name=f"{side}-mesh",
                                                   reset_camera=False, pickable=True, render=False, **style, **kw)

    def _add_colored(self, side: str, colors) -> None:
        if colors is None:
            self._add_mesh(side)
            return
        poly = self._poly(side)
        poly.point_data["rgb"] = colors
        self._add_mesh(side, poly, scalars="rgb", rgb=True)

    def _redraw(self, reset_camera: bool = False) -> None:
        for side in SIDES:
            self._draw_side(side)
        self._draw_markers()
        self._draw_landmarks()
        self._line_pairs = None
        if reset_camera:
            self.set_view(render=False)
        self._update_status()
        self.plotter.render()

    def _draw_side(self, side: str) -> None:
        self.plotter.subplot(0, SIDES.index(side))
        self.plotter.remove_actor(f"{side}-mesh", render=False)
        if "geodesic error" in self.plotter.scalar_bars:
            self.plotter.scalar_bars.remove_scalar_bar("geodesic error", render=False)
        st = self.state
        if st.shapes[side] is not None:
            if st.mode == "texture":
                self._draw_texture(side)
            elif st.mode == "error" and side == "target" and st.errors is not None:
                self._draw_errors(side)
            elif st.mode == "correspondence" and not st.has_colors() and st.source.n_vertices > BIG_MESH:
                self._start_colors_job()  # intrinsic schemes need an eigenbasis: off the GUI thread
                self._add_mesh(side)
            else:
                self._add_colored(side, st.side_colors(side) if st.mode == "correspondence" else None)
        self._draw_handles(side)
        self.plotter.add_text(st.title(side), position="upper_left", font_size=10, name=f"{side}-title",
                              color="white", render=False)

    def _draw_errors(self, side: str) -> None:
        per_vertex = self.state.errors["per_vertex"]
        poly = self._poly(side)
        poly.point_data["geodesic error"] = per_vertex
        vmax = float(np.nanpercentile(per_vertex, 98)) or 1e-6
        self._add_mesh(side, poly, scalars="geodesic error", cmap="YlOrRd", clim=[0, vmax], nan_color=NEUTRAL,
                       show_scalar_bar=True,
                       scalar_bar_args={"title": "geodesic error", "vertical": False, "position_x": 0.25,
                                        "position_y": 0.04, "width": 0.5, "height": 0.06, "color": "white",
                                        "fmt": "%.3f", "n_labels": 3})

    def _draw_texture(self, side: str) -> None:
        shape = self.state.shapes[side]
        if side == "target":
            if self.match is None:
                self._add_mesh(side)
                return
            if self.state.transfer is None:
                self._start_transfer_job()
                self._add_mesh(side)
                return
            shape = self.state.transfer[0]
            if shape is None:
                self._add_mesh(side)
                return
        pose = self.state.poses[side]
        if pose is not None:
            shape = shape.copy(vertices=pose.vertices)
        if shape.is_mesh and shape.texture is not None and shape.has_uv and Path(shape.texture).exists():
            self._add_mesh(side, self._textured_poly(side, shape), texture=pv.read_texture(str(shape.texture)))
        else:
            self._add_colored(side, helpers.shape_vertex_colors(shape))

    # ================================================================== markers and picking
    def _draw_markers(self) -> None:
        for name in MARKER_COLORS:
            for side in SIDES:
                self.plotter.subplot(0, SIDES.index(side))
                self.plotter.remove_actor(f"marker-{name}-{side}", render=False)
        for name, m in self.markers.items():
            self.plotter.subplot(0, SIDES.index(m["side"]))
            sphere = pv.Sphere(radius=MARKER_RADIUS, center=m["position"], theta_resolution=16, phi_resolution=16)
            m["actor"] = self.plotter.add_mesh(sphere, color=MARKER_COLORS[name], name=f"marker-{name}-{m['side']}",
                                               reset_camera=False, pickable=False, smooth_shading=True, render=False)

    def _set_marker(self, name: str, side: str, vertex: int | None) -> None:
        if vertex is not None:
            self.markers[name] = {"side": side, "vertex": int(vertex),
                                  "position": self._display_pts[side][int(vertex)].copy()}

    def clear_markers(self) -> None:
        self.markers.clear()
        self.state.clear_pick()
        self._draw_markers()
        self._update_status()
        self.plotter.render()

    def pick(self, side: str, vertex: int):
        """Pick ``vertex`` of ``side``: markers there, at its match and (with ground truth) at its
        true match; the geodesic error in the status bar. Returns the :class:`~apps.viewer.state.Pick`."""
        info = self.state.pick(side, vertex)
        self.markers.clear()
        if info is not None:
            self._set_marker("picked", side, info.vertex)
            self._set_marker("match", other_side(side), info.match)
            self._set_marker("true", other_side(side), info.true)
        self._draw_markers()
        self._update_status()
        self.plotter.render()
        return info

    def pick_at_display(self, x: int, y: int):
        """Pick at VTK display coordinates (origin bottom-left), as a click does (in landmark
        mode the click adds to a landmark pair instead)."""
        hit = self.vertex_at_display(x, y)
        if hit is None:
            return None
        return self.add_landmark(*hit) if self.act_landmark_mode.isChecked() else self.pick(*hit)

    # ================================================================== landmarks
    def set_landmark_mode(self, on: bool) -> None:
        """Landmark mode: clicks add landmark pairs (a source point, then its place on the target)."""
        self.act_landmark_mode.setChecked(bool(on))
        self._message("landmark mode: click a point of the source, then its place on the target; Ctrl+K "
                      "computes the match with them" if on else "landmark mode off", 10000)

    def add_landmark(self, side: str, vertex: int) -> str:
        """Add ``vertex`` of ``side`` to the landmark pairs (see :meth:`ViewerState.add_landmark`)."""
        message = self.state.add_landmark(side, vertex)
        self._draw_landmarks()
        self._message(message, 10000)
        self.plotter.render()
        return message

    def clear_landmarks(self) -> None:
        self.state.clear_landmarks()
        self._draw_landmarks()
        self.plotter.render()

    def _draw_landmarks(self) -> None:
        st = self.state
        for k, side in enumerate(SIDES):
            self.plotter.subplot(0, k)
            for kind in LANDMARK_COLORS:
                self.plotter.remove_actor(f"landmarks-{kind}-{side}", render=False)
            if st.shapes[side] is None or side not in self._display_pts:
                continue
            ids = {"pair": [pair[k] for pair in st.landmarks],
                   "pending": [st.pending_landmark] if side == "source" and st.pending_landmark is not None else []}
            for kind, vertices in ids.items():
                if not vertices:
                    continue
                dots = pv.PolyData(self._display_pts[side][np.asarray(vertices)]).glyph(
                    geom=pv.Sphere(radius=1.3 * MARKER_RADIUS, theta_resolution=12, phi_resolution=12),
                    scale=False, orient=False)
                self.plotter.add_mesh(dots, color=LANDMARK_COLORS[kind], name=f"landmarks-{kind}-{side}",
                                      reset_camera=False, pickable=False, smooth_shading=True, render=False)

    def vertex_at_display(self, x: int, y: int) -> tuple[str, int] | None:
        """The side and the vertex drawn under VTK display coordinates ``(x, y)``, if any."""
        ren = self.plotter.iren.interactor.FindPokedRenderer(int(x), int(y))
        sides = [SIDES[i] for i, r in enumerate(self.plotter.renderers) if ren is not None and _same_vtk(r, ren)]
        if not sides or self.state.shapes[sides[0]] is None:
            return None
        side = sides[0]
        picker = vtkCellPicker() if self.state.shapes[side].is_mesh else vtkPointPicker()
        picker.SetTolerance(0.005)
        picker.PickFromListOn()
        if self._actors.get(side) is not None:
            picker.AddPickList(self._actors[side])
        if not picker.Pick(int(x), int(y), 0, self.plotter.renderers[SIDES.index(side)]):
            return None
        return side, self._nearest_vertex(side, np.asarray(picker.GetPickPosition()))

    def _nearest_vertex(self, side: str, pos: np.ndarray) -> int:
        if side not in self._trees:
            from scipy.spatial import cKDTree

            self._trees[side] = cKDTree(self._display_pts[side])
        return int(self._trees[side].query(pos)[1])

    def display_position(self, side: str, vertex: int) -> tuple[int, int]:
        """VTK display coordinates where ``vertex`` of ``side`` is drawn (for tests, overlays)."""
        ren = self.plotter.renderers[SIDES.index(side)]
        p = self._display_pts[side][int(vertex)]
        ren.SetWorldPoint(float(p[0]), float(p[1]), float(p[2]), 1.0)
        ren.WorldToDisplay()
        x, y, _ = ren.GetDisplayPoint()
        return round(x), round(y)

    def _on_press(self, *_):
        self._press_pos = self.plotter.iren.interactor.GetEventPosition()

    def _on_release(self, *_):
        pos = self.plotter.iren.interactor.GetEventPosition()
        start, self._press_pos = self._press_pos, None
        if start is None or abs(pos[0] - start[0]) + abs(pos[1] - start[1]) > CLICK_TOLERANCE_PX:
            return
        try:
            self.pick_at_display(*pos)
        except Exception as exc:  # never let a click crash the window
            self._error("Pick failed", str(exc))

    def _pick_under_mouse(self) -> None:
        widget = self.plotter.interactor
        p = widget.mapFromGlobal(QtGui.QCursor.pos())
        ratio = widget.devicePixelRatioF()
        self.pick_at_display(int(p.x() * ratio), int((widget.height() - p.y() - 1) * ratio))

    # ================================================================== lines overlay
    def _update_lines(self, *_):
        st, poly = self.state, self._line_poly
        if not st.show_lines or self.match is None or not st.has_pair:
            if poly.GetNumberOfPoints():
                poly.Initialize()
            return
        if self._line_pairs is None:
            s, t = helpers.sample_line_pairs(self.source.vertices, self.match.p2p_12, N_LINES)
            self._line_pairs = (s, t, st.source_colors()[s])
        s, t, colors = self._line_pairs
        ends, visible = [], np.ones(len(s), dtype=bool)
        for side, idx in (("source", s), ("target", t)):
            xy, facing = self._project(side, idx)
            ends.append(xy)
            visible &= facing
        n = int(visible.sum())
        xyz = np.zeros((2 * n, 3))
        xyz[0::2, :2], xyz[1::2, :2] = ends[0][visible], ends[1][visible]
        points = vtkPoints()
        points.SetData(numpy_to_vtk(xyz, deep=True))
        lines = vtkCellArray()
        for k in range(n):
            lines.InsertNextCell(2)
            lines.InsertCellPoint(2 * k)
            lines.InsertCellPoint(2 * k + 1)
        poly.Initialize()
        poly.SetPoints(points)
        poly.SetLines(lines)
        rgb = numpy_to_vtk(np.ascontiguousarray(colors[visible], dtype=np.uint8), deep=True)
        rgb.SetName("rgb")
        poly.GetCellData().SetScalars(rgb)

    def _project(self, side: str, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Display coordinates of vertices of ``side`` and whether they face the camera."""
        ren = self.plotter.renderers[SIDES.index(side)]
        cam = ren.GetActiveCamera()
        m = cam.GetCompositeProjectionTransformMatrix(ren.GetTiledAspectRatio(), -1, 1)
        mat = np.array([[m.GetElement(r, c) for c in range(4)] for r in range(4)])
        world = self._display_pts[side][idx]
        xy = helpers.project_to_display(world, mat, ren.GetViewport(), self.plotter.ren_win.GetSize())
        shape = self.state.shapes[side]
        if not shape.is_mesh:
            return xy, np.ones(len(idx), dtype=bool)
        view = np.asarray(cam.GetPosition()) - world  # points on the far side of the surface are hidden
        return xy, (shape.vertex_normals[idx] * view).sum(1) > 0

    # ================================================================== status
    def _update_status(self) -> None:
        st = self.state
        self.lbl_warnings.setText(st.warnings_text())
        self.lbl_warnings.setToolTip("\n".join(st.warnings))
        self.lbl_match.setText(st.match_text())
        self.lbl_match.setToolTip(st.match_tooltip())
        conf = st.confidence
        self.lbl_match.setStyleSheet(LOW_CONFIDENCE_STYLE if conf is not None and conf.low else "")
        self.lbl_error.setText(st.errors_text())

    # ================================================================== saving
    def save_match(self, directory=None) -> Path | None:
        import shapecorr

        if self.match is None:
            self._error("Nothing to save", "compute (Ctrl+M) or load a match first.")
            return None
        if directory is None:
            directory = QtWidgets.QFileDialog.getExistingDirectory(self, "Save the match into a folder")
            if not directory:
                return None
        try:
            out = Path(self.match.save(directory))
        except (shapecorr.ShapecorrError, OSError) as exc:
            self._error("Cannot save the match", f"{directory}: {exc}")
            return None
        self._message(f"match saved to {out}")
        return out

    def transferred_shape(self):
        """The target carrying what the match transfers: the source's texture or colours, else
        the correspondence colours of the current scheme."""
        if self.match is None:
            return None
        if self.state.transfer is None:
            self.state.transfer = helpers.transfer_preview(self.match, self.source, self.target)
        shape = self.state.transfer[0]
        if shape is None:
            return self.target.copy(vertex_colors=self.state.side_colors("target"), uv=None, face_uv=None,
                                    texture=None)
        return shape

    def save_transferred(self, path=None) -> Path | None:
        import shapecorr

        if self.match is None:
            self._error("Nothing to save", "compute (Ctrl+M) or load a match first.")
            return None
        if path is None:
            path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save the transferred shape",
                                                            f"{self.target.name}_transferred.obj",
                                                            "OBJ (*.obj);;PLY (*.ply);;OFF (*.off)")
            if not path:
                return None
        try:
            out = Path(shapecorr.save(self.transferred_shape(), path))
        except (shapecorr.ShapecorrError, OSError) as exc:
            self._error("Cannot save the shape", str(exc))
            return None
        self._message(f"transferred shape saved to {out}")
        return out

    def grab_image(self) -> np.ndarray:
        """The rendered views as an ``(h, w, 3)`` uint8 array."""
        self.plotter.render()
        return np.asarray(self.plotter.screenshot(None, return_img=True))

    def save_screenshot(self, path=None, *, whole_window: bool = False) -> Path | None:
        """A PNG of the views (``whole_window``: with menus, toolbar and status bar)."""
        if path is None:
            path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save a screenshot", "viewer.png", "PNG (*.png)")
            if not path:
                return None
        path = Path(path).with_suffix(".png")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if whole_window:
                self.plotter.render()
                QtWidgets.QApplication.processEvents()
                if not self.grab().save(str(path), "PNG"):
                    raise OSError("Qt could not write the file")
            else:
                from PIL import Image

                Image.fromarray(self.grab_image()).save(path)
        except OSError as exc:
            self._error("Cannot save the screenshot", f"{path}: {exc}")
            return None
        self._message(f"screenshot saved to {path}")
        return path

    # ================================================================== help, closing
    def _show_shortcuts(self) -> None:
        self._info_box("Keyboard shortcuts", "\n".join(f"{k:<16} {v}" for k, v in SHORTCUTS), monospace=True)

    def closeEvent(self, event):
        self._tick.stop()
        self._drag_timer.stop()
        self.jobs.cancel()
        self.hide()
        self.jobs.wait_abandoned()  # a QThread must not be destroyed while it runs
        self.plotter.close()
        super().closeEvent(event)


def _vtk_faces(faces: np.ndarray) -> np.ndarray:
    """Triangles in VTK's flat cell layout ``[3, a, b, c, 3, ...]``."""
    return np.hstack([np.full((len(faces), 1), 3), faces]).astype(np.int64).ravel()


def _same_vtk(a, b) -> bool:
    """Whether two VTK Python wrappers hold the same C++ object."""
    return a is b or getattr(a, "__this__", None) == getattr(b, "__this__", 0)
