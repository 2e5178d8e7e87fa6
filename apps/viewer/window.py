"""The viewer's main window: two shapes side by side, their correspondence, picking, errors.

Everything a menu or key does is also a method (``load_shapes``, ``run_match``, ``pick``,
``set_scheme``, ``set_mode``, ``set_lines``, ``save_screenshot`` ...) so that tests and scripts
can drive the window without synthesizing events. Errors never escape a method called from the
GUI: they become a (non-blocking) dialog with the data layer's message, and ``last_error``.
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

from . import helpers
from .worker import Job

log = logging.getLogger(__name__)

SIDES = ("source", "target")
BACKGROUND = (0.16, 0.17, 0.19)
NEUTRAL = (0.78, 0.78, 0.76)
MARKER_COLORS = {"picked": (1.0, 1.0, 1.0), "match": (1.0, 0.1, 0.85), "true": (0.1, 0.95, 0.3)}
MARKER_RADIUS = 0.018  # shapes are drawn with unit bounding-box diagonal
MODES = ("correspondence", "error", "texture")
CLICK_TOLERANCE_PX = 4
N_LINES = 60
BIG_MESH = 50_000  # above this, colour schemes are computed in the background

SHORTCUTS = [
    ("Ctrl+O", "open the source shape"), ("Ctrl+Shift+O", "open the target shape"),
    ("Ctrl+M / F5", "compute the match"), ("Esc", "cancel the running computation"),
    ("Ctrl+L", "load a saved match"), ("Ctrl+G", "load ground truth (map file)"),
    ("Ctrl+S", "save the match"), ("Ctrl+Shift+S", "save the transferred shape"),
    ("Ctrl+P / F12", "save a screenshot (PNG)"), ("C", "next colour scheme"),
    ("1 / E / T", "correspondence colours / error heat map / texture preview"),
    ("L", "lines between matched points"), ("R", "reset the camera"), ("X", "clear markers"),
    ("P or click", "pick the point under the mouse"), ("Ctrl+Q", "quit"),
]


class _ReadError(ValueError):
    """A shape file that cannot be read: ``title`` and the data layer's ``message``."""

    def __init__(self, title: str, message: str):
        super().__init__(f"{title}\x00{message}")
        self.title, self.message = title, message


class ViewerWindow(QtWidgets.QMainWindow):
    """Desktop viewer of a pair of shapes and their correspondence (shapecorr public API only)."""

    shapes_changed = QtCore.Signal()
    match_changed = QtCore.Signal()
    picked = QtCore.Signal(dict)

    def __init__(self, preset: str | None = None, parent=None, device: str = "cpu"):
        super().__init__(parent)
        import shapecorr

        self.setWindowTitle("shapecorr viewer")
        self.resize(1280, 720)
        self.setAcceptDrops(True)

        self.shapes: dict[str, object] = {"source": None, "target": None}
        self.match = None
        self.match_origin = ""
        self.gt: helpers.GroundTruth | None = None
        self.errors: dict | None = None
        self.transfer_note = ""
        self.scheme = helpers.color_schemes()[0]
        self.mode = "correspondence"
        self.show_lines = False
        self.markers: dict[str, dict] = {}
        self.last_pick: dict | None = None
        self.last_error: str | None = None
        self.jobs: dict[str, Job] = {}
        self._abandoned: set[Job] = set()  # cancelled threads still finishing their stage
        self.device = device  # passed to shapecorr.match, as `shapecorr match --device`
        self.presets = shapecorr.available_presets() or ["default"]
        if preset and preset not in self.presets:
            self.presets.append(str(preset))  # a YAML path given on the command line
        self.preset = preset if preset else ("default" if "default" in self.presets else self.presets[0])

        self._frames: dict[str, helpers.DisplayFrame] = {}
        self._display_pts: dict[str, np.ndarray] = {}
        self._trees: dict[str, object] = {}
        self._actors: dict[str, object] = {}
        self._solvers: dict[str, object] = {}
        self._src_colors: dict[str, np.ndarray] = {}
        self._transfer_cache = None
        self._press_pos = None
        self._line_pairs = None
        self._load_times: dict[str, float] = {}

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
        # no MSAA (4x the cost under software OpenGL); FXAA smooths edges almost for free
        self.plotter = QtInteractor(frame, shape=(1, 2), border=True, border_color="gray", multi_samples=0)
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
        self._set_default_view()
        # lines between the two views live in an overlay renderer spanning the whole window
        ren_win = self.plotter.ren_win
        self._overlay = vtkRenderer()
        n_layers = ren_win.GetNumberOfLayers()
        ren_win.SetNumberOfLayers(n_layers + 1)
        self._overlay.SetLayer(n_layers)
        self._overlay.SetViewport(0, 0, 1, 1)
        self._overlay.InteractiveOff()
        self._overlay.UseFXAAOn()  # smooth lines without multisampling
        ren_win.AddRenderer(self._overlay)
        self._line_poly = vtkPolyData()
        mapper = vtkPolyDataMapper2D()
        mapper.SetInputData(self._line_poly)
        mapper.SetColorModeToDirectScalars()
        self._line_actor = vtkActor2D()
        self._line_actor.SetMapper(mapper)
        self._line_actor.GetProperty().SetLineWidth(2.0)
        self._line_actor.GetProperty().SetOpacity(0.7)
        self._overlay.AddActor(self._line_actor)
        ren_win.AddObserver("StartEvent", self._update_lines)
        # click (press + release without a drag) picks; dragging still rotates
        self.plotter.iren.add_observer("LeftButtonPressEvent", self._on_press)
        self.plotter.iren.add_observer("LeftButtonReleaseEvent", self._on_release)

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
        self.act_cancel = a("C&ancel", self.cancel, "Esc")
        self.act_next_scheme = a("&Next colour scheme", self.next_scheme, "C")
        self.act_mode_corr = a("&Correspondence colours", lambda: self.set_mode("correspondence"), "1", True)
        self.act_mode_error = a("&Error heat map", lambda: self.set_mode("error"), "E", True)
        self.act_mode_texture = a("&Texture preview", lambda: self.set_mode("texture"), "T", True)
        self.act_lines = a("&Lines between matched points", lambda c=None: self.set_lines(not self.show_lines),
                           "L", True)
        self.act_reset = a("&Reset camera", self.reset_camera, "R")
        self.act_clear = a("Clear mar&kers", self.clear_markers, "X")
        self.act_pick_here = a("&Pick under mouse", self._pick_under_mouse, "P")
        self.act_shortcuts = a("&Keyboard shortcuts", self._show_shortcuts, "F1")
        self.act_about = a("&About", self._show_about)
        group = QtGui.QActionGroup(self)
        for act in (self.act_mode_corr, self.act_mode_error, self.act_mode_texture):
            group.addAction(act)
        self.act_mode_corr.setChecked(True)

    def _build_menus_and_toolbar(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        for act in (self.act_open_source, self.act_open_target, self.act_open_pair, None, self.act_load_match,
                    self.act_load_gt, self.act_load_vts, None, self.act_save_match, self.act_save_transfer,
                    self.act_screenshot, None, self.act_quit):
            m.addSeparator() if act is None else m.addAction(act)
        m = mb.addMenu("&Match")
        m.addAction(self.act_match)
        m.addAction(self.act_cancel)
        pm = m.addMenu("&Preset")
        self._preset_group = QtGui.QActionGroup(self)
        for name in self.presets:
            act = QtGui.QAction(name, self, checkable=True)
            act.setChecked(name == self.preset)
            act.triggered.connect(lambda _=False, n=name: self.set_preset(n))
            self._preset_group.addAction(act)
            pm.addAction(act)
        m = mb.addMenu("&View")
        for act in (self.act_mode_corr, self.act_mode_error, self.act_mode_texture, None, self.act_next_scheme):
            m.addSeparator() if act is None else m.addAction(act)
        sm = m.addMenu("Colour &scheme")
        self._scheme_group = QtGui.QActionGroup(self)
        self._scheme_actions = {}
        for name in helpers.color_schemes():
            act = QtGui.QAction(name, self, checkable=True)
            act.setChecked(name == self.scheme)
            act.triggered.connect(lambda _=False, n=name: self.set_scheme(n))
            self._scheme_group.addAction(act)
            self._scheme_actions[name] = act
            sm.addAction(act)
        for act in (None, self.act_lines, self.act_reset, self.act_clear, self.act_pick_here):
            m.addSeparator() if act is None else m.addAction(act)
        m = mb.addMenu("&Help")
        m.addAction(self.act_shortcuts)
        m.addAction(self.act_about)

        tb = self.addToolBar("main")
        tb.setMovable(False)
        tb.addAction(self.act_open_source)
        tb.addAction(self.act_open_target)
        tb.addSeparator()
        tb.addWidget(QtWidgets.QLabel(" preset: "))
        self.preset_box = QtWidgets.QComboBox()
        self.preset_box.addItems(self.presets)
        self.preset_box.setCurrentText(self.preset)
        self.preset_box.currentTextChanged.connect(self.set_preset)
        tb.addWidget(self.preset_box)
        tb.addAction(self.act_match)
        tb.addAction(self.act_load_match)
        tb.addSeparator()
        tb.addWidget(QtWidgets.QLabel(" colours: "))
        self.scheme_box = QtWidgets.QComboBox()
        self.scheme_box.addItems(helpers.color_schemes())
        self.scheme_box.setCurrentText(self.scheme)
        self.scheme_box.currentTextChanged.connect(self.set_scheme)
        tb.addWidget(self.scheme_box)
        for act in (self.act_mode_corr, self.act_mode_error, self.act_mode_texture, self.act_lines):
            tb.addAction(act)
        tb.addSeparator()
        tb.addAction(self.act_screenshot)

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.lbl_shapes = QtWidgets.QLabel()
        self.lbl_match = QtWidgets.QLabel()
        self.lbl_error = QtWidgets.QLabel()
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(220)
        self.progress.setFormat("%p%")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        for w in (self.lbl_shapes, self.lbl_match, self.lbl_error):
            sb.addPermanentWidget(w)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)
        self.progress.hide()
        self.cancel_button.hide()
        self._tick = QtCore.QTimer(self)
        self._tick.setInterval(500)
        self._tick.timeout.connect(self._tick_progress)
        self._tick.start()
        self._update_status()

    # ================================================================== properties
    @property
    def source(self):
        return self.shapes["source"]

    @property
    def target(self):
        return self.shapes["target"]

    @property
    def busy(self) -> bool:
        return any(j.isRunning() for j in self.jobs.values()) or bool(self.jobs)

    # ================================================================== errors and notes
    def _error(self, title: str, message: str) -> None:
        """A non-blocking error dialog (never a crash, never a hang in tests)."""
        self.last_error = message
        log.warning("%s: %s", title, message)
        self.statusBar().showMessage(f"{title}: {message}", 15000)
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Warning, title, message,
                                    QtWidgets.QMessageBox.Ok, self)
        box.setAttribute(QtCore.Qt.WA_DeleteOnClose)
        box.setWindowModality(QtCore.Qt.WindowModal)
        box.open()
        self._last_dialog = box

    def _message(self, text: str, ms: int = 8000) -> None:
        self.statusBar().showMessage(text, ms)

    # ================================================================== loading
    def load_shapes(self, source=None, target=None, *, blocking: bool = True, then=None, on_error=None) -> bool:
        """Load the source and/or target (paths or :class:`shapecorr.Shape`); ``None`` keeps the
        current one. A bad file leaves the window as it was and shows the loader's message.

        ``blocking=False`` reads the files in a background thread (the menus, drops and the
        command line do this, so large files never freeze the window) and calls ``then()``
        once the shapes are shown (``on_error()`` if they could not be read). Returns whether the shapes were loaded (blocking) or the
        reading started (non-blocking).
        """
        items = {side: item for side, item in (("source", source), ("target", target)) if item is not None}
        if not items:
            return False
        if "load" in self.jobs:
            self._message("still reading the previous files…")
            return False
        if blocking:
            QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.WaitCursor)
            try:
                new = self._read_shapes(items)
            except _ReadError as exc:
                self._error(exc.title, exc.message)
                if on_error is not None:
                    on_error()
                return False
            finally:
                QtWidgets.QApplication.restoreOverrideCursor()
            self._apply_shapes(new)
            if then is not None:
                then()
            return True

        def work(progress, should_stop):
            return self._read_shapes(items, progress)

        job = Job("load", work, self)
        job.progressed.connect(lambda s, f: self._on_progress("load", s, f))
        job.succeeded.connect(lambda new, j=job: self._on_loaded(j, new, then))
        job.failed.connect(lambda msg, j=job: self._on_load_failed(j, msg, on_error))
        job.cancelled.connect(lambda j=job: self._on_job_cancelled(j))
        self._start_job(job)
        self._message("reading " + ", ".join(str(getattr(i, "name", i)) for i in items.values()) + "…", 0)
        return True

    def _on_loaded(self, job: Job, new: dict, then) -> None:
        self._finish_job(job)
        if job.should_stop():
            return
        self.statusBar().clearMessage()
        self._apply_shapes(new)
        if then is not None:
            then()

    def _on_load_failed(self, job: Job, message: str, on_error=None) -> None:
        self._finish_job(job)
        if job.should_stop():
            return
        title, _, text = message.partition("\x00")
        self._error(title if text else "Cannot open the shape", text or message)
        if on_error is not None:
            on_error()

    def _read_shapes(self, items: dict, progress=None) -> dict:
        """Read the given sides (may run in a worker thread: touches no widget)."""
        import shapecorr

        new = {}
        for k, (side, item) in enumerate(items.items()):
            if progress is not None:
                progress(f"reading the {side}", k / len(items))
            t0 = time.perf_counter()
            try:
                shape = item if isinstance(item, shapecorr.Shape) else shapecorr.load(item, warn=False)
            except (shapecorr.ShapecorrError, OSError, ValueError) as exc:
                raise _ReadError(f"Cannot open the {side}", str(exc)) from exc
            except Exception as exc:  # an unexpected reader failure is still not a crash
                raise _ReadError(f"Cannot open the {side}",
                                 f"{item}: unexpected error ({type(exc).__name__}: {exc})") from exc
            self._load_times[side] = time.perf_counter() - t0
            new[side] = shape
        return new

    def _apply_shapes(self, new: dict) -> None:
        self.cancel()
        for side, shape in new.items():
            self.shapes[side] = shape
            self._frames[side] = helpers.DisplayFrame.of(shape.vertices)
            self._display_pts[side] = self._frames[side].apply(shape.vertices)
            self._trees.pop(side, None)
            self._solvers.pop(side, None)
            self._actors.pop(side, None)
        if "source" in new:
            self._src_colors.clear()
        self.match = None
        self.match_origin = ""
        self.errors = None
        self.gt = None
        self._transfer_cache = None
        self._line_pairs = None
        self.markers.clear()
        self.last_pick = None
        self.last_error = None
        if self.source is not None and self.target is not None:
            found = helpers.find_ground_truth(self.source, self.target)
            if found:
                try:
                    self.gt = helpers.load_ground_truth(self.source, self.target, **found)
                    self._message(f"ground truth found beside the shapes: {self.gt.label}")
                except Exception as exc:  # a neighbouring file that does not fit is just ignored
                    log.info("ignoring ground truth beside the shapes: %s", exc)
        self._redraw(reset_camera=True)
        self.shapes_changed.emit()

    def load_match(self, directory=None) -> bool:
        """Load a match saved by ``shapecorr match --out DIR`` (or ``Match.save``)."""
        import shapecorr

        if directory is None:
            directory = QtWidgets.QFileDialog.getExistingDirectory(self, "Load a saved match")
            if not directory:
                return False
        if self.source is None or self.target is None:
            self._error("Cannot load the match", "open the source and the target shapes first.")
            return False
        try:
            m = shapecorr.Match.load(directory)
            m.check_shapes(self.source, self.target)
        except (shapecorr.ShapecorrError, OSError, ValueError) as exc:
            self._error("Cannot load the match", str(exc))
            return False
        self.set_match(m, origin=f"loaded from {Path(directory).name}")
        return True

    def load_ground_truth(self, gt_map=None, *, gt_source=None, gt_target=None) -> bool:
        """Ground truth from a 0-based map file (line j: source vertex of target vertex j) or a
        pair of ``.vts`` files (1-based); starts the per-vertex error computation."""
        if self.source is None or self.target is None:
            self._error("Cannot load ground truth", "open the source and the target shapes first.")
            return False
        if gt_map is None and gt_source is None:
            path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Ground-truth map (0-based)", "",
                                                            "Maps (*.txt *.map *.vts);;All files (*)")
            if not path:
                return False
            gt_map = path
        try:
            self.gt = helpers.load_ground_truth(self.source, self.target, gt_map=gt_map, gt_source=gt_source,
                                                gt_target=gt_target)
        except Exception as exc:
            self._error("Cannot load ground truth", str(exc))
            return False
        self.errors = None
        self._start_error_job()
        self._update_status()
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
    def dragEnterEvent(self, event):  # noqa: N802 (Qt naming)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragMoveEvent(self, event):  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event):  # noqa: N802
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        x = event.position().x() if hasattr(event, "position") else event.pos().x()
        event.acceptProposedAction()
        self.open_paths(paths, side="source" if x < self.width() / 2 else "target")

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

    # ================================================================== matching
    def set_preset(self, name: str) -> None:
        if name not in self.presets or name == self.preset and self.preset_box.currentText() == name:
            return
        self.preset = name
        if self.preset_box.currentText() != name:
            self.preset_box.setCurrentText(name)
        for act in self._preset_group.actions():
            act.setChecked(act.text() == name)
        self._message(f"preset: {name} (Ctrl+M to compute)")

    def run_match(self, blocking: bool = False, preset: str | None = None, timeout: float = 600.0) -> bool:
        """Compute the match with :func:`shapecorr.match` in a background thread.

        ``blocking=True`` waits (processing Qt events) until the match and any follow-up
        error computation are done; returns whether a match is now shown.
        """
        import shapecorr

        if self.source is None or self.target is None:
            self._error("Cannot compute the match", "open the source and the target shapes first "
                        "(File > Open, drag and drop, or the command line).")
            return False
        if "match" in self.jobs:
            self._message("a match is already being computed")
            return False
        preset = preset or self.preset
        src, tgt, device = self.source, self.target, self.device

        def work(progress, should_stop):
            return shapecorr.match(src, tgt, preset=preset, device=device, progress=progress)

        job = Job("match", work, self)
        job.preset = preset
        job.progressed.connect(lambda s, f: self._on_progress("match", s, f))
        job.succeeded.connect(lambda m, j=job: self._on_match_done(j, m))
        job.failed.connect(lambda msg, j=job: self._on_job_failed(j, "The match failed", msg))
        job.cancelled.connect(lambda j=job: self._on_job_cancelled(j))
        self._start_job(job)
        self._message(f"matching with preset {preset!r} on {device}…", 0)
        if blocking:
            self.wait_idle(timeout)
            return self.match is not None
        return True

    def _start_job(self, job: Job) -> None:
        job.t_start = time.perf_counter()
        self.jobs[job.name] = job
        self.progress.setValue(0)
        self.progress.setFormat(f"{job.name}: %p%")
        self.progress.show()
        self.cancel_button.show()
        if job.name == "match":
            self.act_match.setEnabled(False)
        job.finished.connect(job.deleteLater)
        job.start()

    def _finish_job(self, job: Job) -> None:
        if self.jobs.get(job.name) is job:
            del self.jobs[job.name]
        if "match" not in self.jobs:
            self.act_match.setEnabled(True)
        if not self.jobs:
            self.progress.hide()
            self.cancel_button.hide()

    def _on_progress(self, name: str, stage: str, fraction: float) -> None:
        job = self.jobs.get(name)
        if job is None:
            return
        job.stage = stage
        self.progress.setValue(int(round(100 * fraction)))
        self._tick_progress()

    def _tick_progress(self) -> None:
        """Progress text with the elapsed time (stages can be long: the bar must look alive)."""
        if not self.jobs:
            return
        job = list(self.jobs.values())[-1]
        elapsed = time.perf_counter() - job.t_start
        stage = getattr(job, "stage", "starting")
        self.progress.setFormat(f"{job.name}: {stage} %p% ({elapsed:.0f} s)")

    def _on_match_done(self, job: Job, match) -> None:
        self._finish_job(job)
        if job.should_stop():  # cancelled after its last stage: drop the result
            return
        stale = (match.source_summary.get("n_vertices") != self.source.n_vertices
                 or match.target_summary.get("n_vertices") != self.target.n_vertices)
        if stale:  # the shapes were replaced while it ran
            return
        self.set_match(match, origin=f"preset {job.preset}, {job.elapsed:.1f} s")

    def _on_job_failed(self, job: Job, title: str, message: str) -> None:
        self._finish_job(job)
        if job.should_stop():
            return
        self._error(title, message)
        self._update_status()

    def _on_job_cancelled(self, job: Job) -> None:
        self._finish_job(job)
        self._update_status()

    def cancel(self, wait: bool = False) -> None:
        """Cancel running computations. The window is free at once: a cancelled job is set
        aside, stops at its next progress report and its result is dropped. ``wait`` also
        waits for the set-aside threads to end."""
        jobs = list(self.jobs.values())
        for job in jobs:
            self._abandon(job)
        if jobs:
            self._message(f"cancelled {', '.join(j.name for j in jobs)} (the worker stops at its next stage)")
        self._update_status()
        if wait:
            for job in list(self._abandoned):
                job.wait()
            QtWidgets.QApplication.processEvents()

    def _abandon(self, job: Job) -> None:
        """Stop caring about ``job``: it is told to stop and its result will be ignored."""
        job.cancel()
        if job.isRunning():
            self._abandoned.add(job)
            job.finished.connect(lambda j=job: self._abandoned.discard(j))
        self._finish_job(job)

    def wait_idle(self, timeout: float = 600.0) -> bool:
        """Process Qt events until no background job is left (or ``timeout`` seconds)."""
        app = QtWidgets.QApplication.instance()
        t_end = time.monotonic() + timeout
        while self.jobs and time.monotonic() < t_end:
            app.processEvents(QtCore.QEventLoop.AllEvents, 50)
            for job in list(self.jobs.values()):
                job.wait(20)
        app.processEvents()
        return not self.jobs

    def set_match(self, match, origin: str = "") -> None:
        """Show a :class:`shapecorr.Match` between the current shapes."""
        match.check_shapes(self.source, self.target)
        self.match = match
        self.match_origin = origin
        self.errors = None
        self._transfer_cache = None
        self._line_pairs = None
        self.markers.clear()
        self._start_error_job()
        self._redraw()
        self.match_changed.emit()

    def _start_error_job(self) -> None:
        if self.match is None or self.gt is None:
            return
        old = self.jobs.get("errors")
        if old is not None:
            self._abandon(old)
        src, p2p, gt = self.source, np.asarray(self.match.p2p_21), self.gt

        def work(progress, should_stop):
            return helpers.geodesic_errors(src, p2p, gt, progress=lambda f: progress("geodesic errors", f),
                                           should_stop=should_stop)

        job = Job("errors", work, self)
        job.progressed.connect(lambda s, f: self._on_progress("errors", s, f))
        job.succeeded.connect(lambda r, j=job: self._on_errors_done(j, r))
        job.failed.connect(lambda msg, j=job: self._on_job_failed(j, "Error computation failed", msg))
        job.cancelled.connect(lambda j=job: self._on_job_cancelled(j))
        self._start_job(job)

    def _on_errors_done(self, job: Job, result: dict) -> None:
        self._finish_job(job)
        if job.should_stop():
            return
        if self.match is None or len(result["per_vertex"]) != self.target.n_vertices:
            return
        self.errors = result
        self.errors["seconds"] = job.elapsed
        if self.mode == "error":
            self._redraw()
        else:
            self._update_status()

    def _start_colors_job(self, scheme: str) -> None:
        if "colours" in self.jobs:
            return
        src = self.source

        def work(progress, should_stop):
            progress(f"{scheme} colours", 0.1)
            return helpers.correspondence_colors(src, scheme)

        job = Job("colours", work, self)
        job.progressed.connect(lambda s, f: self._on_progress("colours", s, f))
        job.succeeded.connect(lambda c, j=job: self._on_colors_done(j, src, scheme, c))
        job.failed.connect(lambda msg, j=job: self._on_job_failed(j, "Colour scheme failed", msg))
        job.cancelled.connect(lambda j=job: self._on_job_cancelled(j))
        self._start_job(job)

    def _on_colors_done(self, job: Job, src, scheme: str, colors) -> None:
        self._finish_job(job)
        if job.should_stop():
            return
        if src is self.source:
            self._src_colors[scheme] = colors
            if self.mode == "correspondence":
                self._redraw()

    def _start_transfer_job(self) -> None:
        if "texture" in self.jobs or self.match is None:
            return
        match, src, tgt = self.match, self.source, self.target

        def work(progress, should_stop):
            progress("texture transfer", 0.1)
            return helpers.transfer_preview(match, src, tgt)

        job = Job("texture", work, self)
        job.progressed.connect(lambda s, f: self._on_progress("texture", s, f))
        job.succeeded.connect(lambda r, j=job, m=match: self._on_transfer_done(j, m, r))
        job.failed.connect(lambda msg, j=job: self._on_job_failed(j, "Texture transfer failed", msg))
        job.cancelled.connect(lambda j=job: self._on_job_cancelled(j))
        self._start_job(job)

    def _on_transfer_done(self, job: Job, match, result) -> None:
        self._finish_job(job)
        if job.should_stop():
            return
        if match is not self.match:  # a newer match arrived meanwhile: transfer that one
            if self.mode == "texture":
                self._redraw()
            return
        self._transfer_cache = result
        if self.mode == "texture":
            self._redraw()

    # ================================================================== display settings
    def set_scheme(self, name: str) -> None:
        if name not in helpers.color_schemes():
            self._error("Colour scheme", f"unknown colour scheme {name!r}; available: "
                        f"{', '.join(helpers.color_schemes())}.")
            return
        if name == self.scheme and self.mode == "correspondence":
            return
        self.scheme = name
        if self.scheme_box.currentText() != name:
            self.scheme_box.setCurrentText(name)
        self._scheme_actions[name].setChecked(True)
        self.mode = "correspondence"
        self.act_mode_corr.setChecked(True)
        self._redraw()

    def next_scheme(self) -> None:
        names = helpers.color_schemes()
        self.set_scheme(names[(names.index(self.scheme) + 1) % len(names)])

    def set_mode(self, mode: str) -> None:
        """``correspondence`` colours, ``error`` heat map (needs ground truth) or ``texture``."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if mode == "error" and self.gt is None:
            self._message("load ground truth first (File > Load ground truth, Ctrl+G)")
        self.mode = mode
        {"correspondence": self.act_mode_corr, "error": self.act_mode_error,
         "texture": self.act_mode_texture}[mode].setChecked(True)
        self._redraw()

    def set_lines(self, on: bool) -> None:
        self.show_lines = bool(on)
        self.act_lines.setChecked(self.show_lines)
        self.plotter.render()

    def reset_camera(self) -> None:
        self._set_default_view()
        self.plotter.render()

    def set_view(self, direction=None, up=None, zoom: float = 1.0, render: bool = True) -> None:
        """Look at both shapes from ``direction`` (cameras are linked); the default is the one
        of shapecorr.render's pictures."""
        if direction is None or up is None:
            try:
                from shapecorr.render import DEFAULT_UP, DEFAULT_VIEW
            except ImportError:
                DEFAULT_VIEW, DEFAULT_UP = (1.0, 0.45, -0.9), (0.0, 1.0, 0.0)
            direction = DEFAULT_VIEW if direction is None else direction
            up = DEFAULT_UP if up is None else up
        d = np.asarray(direction, dtype=float)
        d = d / np.linalg.norm(d)
        cam = self.plotter.renderers[0].camera
        cam.focal_point = (0.0, 0.0, 0.0)
        cam.position = tuple(d * 2.2)
        cam.up = tuple(up)
        self.plotter.renderers[0].reset_camera(render=False)
        cam.zoom(zoom)
        if render:
            self.plotter.render()

    def _set_default_view(self) -> None:
        self.set_view(render=False)

    # ================================================================== drawing
    def _shape_poly(self, side: str):
        shape = self.shapes[side]
        pts = self._display_pts[side]
        if shape.is_mesh:
            faces = np.hstack([np.full((shape.n_faces, 1), 3), shape.faces]).astype(np.int64).ravel()
            return pv.PolyData(pts, faces)
        return pv.PolyData(pts)

    def _textured_poly(self, side: str, shape):
        """A copy of a UV-mapped shape split per face corner (OBJ-style UVs need it)."""
        try:
            from shapecorr.render import split_at_uv_seams
        except ImportError:
            split_at_uv_seams = None
        if split_at_uv_seams is not None:
            v, f, tc = split_at_uv_seams(shape)
            faces = np.hstack([np.full((len(f), 1), 3), f]).astype(np.int64).ravel()
            poly = pv.PolyData(self._frames[side].apply(v), faces)
            poly.active_texture_coordinates = np.asarray(tc, dtype=np.float32)
            return poly
        pts = self._frames[side].apply(shape.vertices)
        if shape.face_uv is not None:
            corner_pts = pts[shape.faces].reshape(-1, 3)
            n = len(shape.faces)
            faces = np.hstack([np.full((n, 1), 3), np.arange(3 * n).reshape(n, 3)]).ravel()
            poly = pv.PolyData(corner_pts, faces)
            poly.active_texture_coordinates = shape.uv[shape.face_uv].reshape(-1, 2).astype(np.float32)
        else:
            faces = np.hstack([np.full((shape.n_faces, 1), 3), shape.faces]).ravel()
            poly = pv.PolyData(pts, faces)
            poly.active_texture_coordinates = shape.uv.astype(np.float32)
        return poly

    def source_colors(self) -> np.ndarray:
        """Correspondence colours of the source in the current scheme (cached)."""
        if self.scheme not in self._src_colors:
            self._src_colors[self.scheme] = helpers.correspondence_colors(self.source, self.scheme)
        return self._src_colors[self.scheme]

    def side_colors(self, side: str) -> np.ndarray | None:
        """The per-vertex colours drawn in correspondence mode (``None``: plain grey)."""
        if self.shapes[side] is None or self.source is None:
            return None
        if side == "source":
            return self.source_colors()
        if self.match is None:
            return None
        return self.source_colors()[np.asarray(self.match.p2p_21)]

    def _add_shape_mesh(self, side: str, poly, **kw) -> None:
        shape = self.shapes[side]
        style = {}
        if shape.is_point_cloud:
            style = dict(style="points", point_size=4 if shape.n_vertices < 50000 else 2,
                         render_points_as_spheres=shape.n_vertices < 50000)
        self.plotter.subplot(0, SIDES.index(side))
        kw.setdefault("show_scalar_bar", False)
        actor = self.plotter.add_mesh(poly, name=f"{side}-mesh", reset_camera=False, pickable=True, render=False,
                                      **style, **kw)
        self._actors[side] = actor

    def _redraw(self, reset_camera: bool = False) -> None:
        for side in SIDES:
            self._draw_side(side)
        self._draw_markers()
        self._line_pairs = None
        if reset_camera:
            self._set_default_view()
        self._update_status()
        self.plotter.render()

    def _draw_side(self, side: str) -> None:
        i = SIDES.index(side)
        self.plotter.subplot(0, i)
        for name in (f"{side}-mesh", f"{side}-bar"):
            self.plotter.remove_actor(name, render=False)
        if "geodesic error" in self.plotter.scalar_bars:
            self.plotter.scalar_bars.remove_scalar_bar("geodesic error", render=False)
        shape = self.shapes[side]
        if shape is None:
            self.plotter.add_text(f"{side}: open a shape (Ctrl+{'Shift+' if side == 'target' else ''}O) "
                                  "or drop a file here", position="upper_left", font_size=10,
                                  name=f"{side}-title", color="white", render=False)
            return
        mode = self.mode
        if mode == "texture":
            self._draw_texture(side)
        elif mode == "error" and side == "target" and self.errors is not None:
            poly = self._shape_poly(side)
            poly.point_data["geodesic error"] = self.errors["per_vertex"]
            vmax = float(np.nanpercentile(self.errors["per_vertex"], 98)) or 1e-6
            self._add_shape_mesh(side, poly, scalars="geodesic error", cmap="YlOrRd", clim=[0, vmax],
                                 nan_color=NEUTRAL, show_scalar_bar=True,
                                 scalar_bar_args=dict(title="geodesic error", vertical=False, position_x=0.25,
                                                      position_y=0.04, width=0.5, height=0.06, color="white",
                                                      fmt="%.3f", n_labels=3))
        else:
            colors = None
            if mode == "correspondence":
                if self.scheme not in self._src_colors and self.source.n_vertices > BIG_MESH:
                    self._start_colors_job(self.scheme)  # intrinsic schemes need an eigenbasis: off the GUI thread
                else:
                    colors = self.side_colors(side)
            poly = self._shape_poly(side)
            if colors is not None:
                poly.point_data["rgb"] = colors
                self._add_shape_mesh(side, poly, scalars="rgb", rgb=True)
            else:
                self._add_shape_mesh(side, poly, color=NEUTRAL)
        self.plotter.add_text(self._title(side), position="upper_left", font_size=10, name=f"{side}-title",
                              color="white")

    def _draw_texture(self, side: str) -> None:
        shape = self.shapes[side]
        if side == "target":
            if self.match is None:
                self._add_shape_mesh(side, self._shape_poly(side), color=NEUTRAL)
                return
            if self._transfer_cache is None:
                self._start_transfer_job()
                self.transfer_note = "transferring the texture…"
                self._add_shape_mesh(side, self._shape_poly(side), color=NEUTRAL)
                return
            shape, self.transfer_note = self._transfer_cache
            if shape is None:
                self._add_shape_mesh(side, self._shape_poly(side), color=NEUTRAL)
                return
        if shape.texture is not None and shape.has_uv and Path(shape.texture).exists() and shape.is_mesh:
            self._add_shape_mesh(side, self._textured_poly(side, shape), texture=pv.read_texture(str(shape.texture)))
            return
        colors = helpers.shape_vertex_colors(shape)
        poly = self._shape_poly(side)
        if colors is not None and len(colors) == self.shapes[side].n_vertices:
            poly.point_data["rgb"] = colors
            self._add_shape_mesh(side, poly, scalars="rgb", rgb=True)
        else:
            self._add_shape_mesh(side, poly, color=NEUTRAL)

    def _title(self, side: str) -> str:
        s = self.shapes[side]
        kind = f"{s.n_faces} faces" if s.is_mesh else "point cloud"
        text = f"{side}: {s.name}  ({s.n_vertices} vertices, {kind})"
        if self.mode == "texture" and side == "target" and self.transfer_note and self.match is not None:
            text += f"\n{self.transfer_note}"
        if self.mode == "error" and side == "target":
            if self.gt is None:
                text += "\nno ground truth loaded (Ctrl+G)"
            elif self.errors is None:
                text += "\ncomputing errors…" if self.match is not None else "\ncompute or load a match first"
        return text

    # ================================================================== markers and picking
    def _draw_markers(self) -> None:
        for name in ("picked", "match", "true"):
            for side in SIDES:
                self.plotter.subplot(0, SIDES.index(side))
                self.plotter.remove_actor(f"marker-{name}-{side}", render=False)
        for name, m in self.markers.items():
            side = m["side"]
            self.plotter.subplot(0, SIDES.index(side))
            sphere = pv.Sphere(radius=MARKER_RADIUS, center=m["position"], theta_resolution=16, phi_resolution=16)
            m["actor"] = self.plotter.add_mesh(sphere, color=MARKER_COLORS[name], name=f"marker-{name}-{side}",
                                               reset_camera=False, pickable=False, smooth_shading=True, render=False)

    def _set_marker(self, name: str, side: str, vertex: int) -> None:
        self.markers[name] = {"side": side, "vertex": int(vertex),
                              "position": self._display_pts[side][int(vertex)].copy()}

    def clear_markers(self) -> None:
        self.markers.clear()
        self.last_pick = None
        self._draw_markers()
        self._update_status()
        self.plotter.render()

    def pick(self, side: str, vertex: int) -> dict:
        """Pick ``vertex`` of ``side``: markers there, at its match and (with ground truth) at its
        true match, plus the geodesic error. Returns what was picked."""
        if side not in SIDES:
            raise ValueError(f"side must be 'source' or 'target', not {side!r}")
        shape = self.shapes[side]
        if shape is None:
            return {}
        vertex = int(vertex)
        if not 0 <= vertex < shape.n_vertices:
            raise ValueError(f"vertex {vertex} out of range for the {side} ({shape.n_vertices} vertices)")
        other = "target" if side == "source" else "source"
        info = {"side": side, "vertex": vertex, "match": None, "true": None, "error": None}
        self.markers.clear()
        self._set_marker("picked", side, vertex)
        if self.match is not None:
            m = int((self.match.p2p_12 if side == "source" else self.match.p2p_21)[vertex])
            info["match"] = m
            self._set_marker("match", other, m)
            if self.gt is not None:
                true = self.gt.true_target_of(vertex) if side == "source" else self.gt.true_source_of(vertex)
                if true is not None:
                    info["true"] = true
                    self._set_marker("true", other, true)
                    info["error"] = helpers.point_error(self._distances(other), m, true)
        self.last_pick = info
        self._draw_markers()
        self._update_status()
        self.plotter.render()
        self.picked.emit(info)
        return info

    def _distances(self, side: str):
        """Geodesics for picks: the error job's (same numbers as the heat map) or rows on demand."""
        if side == "source" and self.errors is not None and self.errors.get("distances") is not None:
            return self.errors["distances"]
        if side not in self._solvers:
            self._solvers[side] = helpers.distances_for(self.shapes[side])
        return self._solvers[side]

    def pick_at_display(self, x: int, y: int) -> dict | None:
        """Pick at VTK display coordinates (origin bottom-left), as a click does."""
        ren = self.plotter.iren.interactor.FindPokedRenderer(int(x), int(y))
        side = None
        for i, r in enumerate(self.plotter.renderers):
            if r is ren or (hasattr(r, "__this__") and ren is not None and r.__this__ == ren.__this__):
                side = SIDES[i]
        if side is None or self.shapes[side] is None:
            return None
        actor = self._actors.get(side)
        picker = vtkCellPicker() if self.shapes[side].is_mesh else vtkPointPicker()
        picker.SetTolerance(0.005)
        picker.PickFromListOn()
        if actor is not None:
            picker.AddPickList(actor)
        if not picker.Pick(int(x), int(y), 0, self.plotter.renderers[SIDES.index(side)]):
            return None
        pos = np.asarray(picker.GetPickPosition())
        return self.pick(side, self._nearest_vertex(side, pos))

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
        return int(round(x)), int(round(y))

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
        poly = self._line_poly
        if not self.show_lines or self.match is None or self.source is None or self.target is None:
            if poly.GetNumberOfPoints():
                poly.Initialize()
            return
        if self._line_pairs is None:
            s, t = helpers.sample_line_pairs(self.shapes["source"].vertices, self.match.p2p_12, N_LINES)
            colors = self.source_colors()[s]
            self._line_pairs = (s, t, colors)
        s, t, colors = self._line_pairs
        ren_win = self.plotter.ren_win
        size = ren_win.GetSize()
        pts2 = []
        visible = np.ones(len(s), dtype=bool)
        for side, idx in (("source", s), ("target", t)):
            ren = self.plotter.renderers[SIDES.index(side)]
            cam = ren.GetActiveCamera()
            m = cam.GetCompositeProjectionTransformMatrix(ren.GetTiledAspectRatio(), -1, 1)
            mat = np.array([[m.GetElement(r, c) for c in range(4)] for r in range(4)])
            world = self._display_pts[side][idx]
            pts2.append(helpers.project_to_display(world, mat, ren.GetViewport(), size))
            shape = self.shapes[side]
            if shape.is_mesh:  # skip points on the far side of the surface
                normals = shape.vertex_normals[idx]
                view = np.asarray(cam.GetPosition()) - world
                visible &= (normals * view).sum(1) > 0
        a, b = pts2[0][visible], pts2[1][visible]
        c = colors[visible]
        n = len(a)
        points = vtkPoints()
        points.SetNumberOfPoints(2 * n)
        xyz = np.zeros((2 * n, 3))
        xyz[0::2, :2] = a
        xyz[1::2, :2] = b
        points.SetData(numpy_to_vtk(xyz, deep=True))
        lines = vtkCellArray()
        for k in range(n):
            lines.InsertNextCell(2)
            lines.InsertCellPoint(2 * k)
            lines.InsertCellPoint(2 * k + 1)
        poly.Initialize()
        poly.SetPoints(points)
        poly.SetLines(lines)
        rgb = numpy_to_vtk(np.ascontiguousarray(c, dtype=np.uint8), deep=True)
        rgb.SetName("rgb")
        poly.GetCellData().SetScalars(rgb)

    # ================================================================== status
    def _update_status(self) -> None:
        parts = []
        for side in SIDES:
            s = self.shapes[side]
            if s is not None:
                parts.append(f"{side} {s.name}: {s.n_vertices} v")
        self.lbl_shapes.setText(" · ".join(parts) or "no shapes (Ctrl+O / drop files)")
        self.lbl_shapes.setToolTip("read in " + ", ".join(f"{k} {v:.2f} s" for k, v in self._load_times.items())
                                   if self._load_times else "")
        if self.match is not None:
            t = self.match.timings.get("total")
            tm = f", {t:.1f} s" if isinstance(t, (int, float)) and "loaded" in self.match_origin else ""
            self.lbl_match.setText(f"match: {self.match_origin}{tm}")
            self.lbl_match.setToolTip("timings (s): " + ", ".join(f"{k} {v}" for k, v in self.match.timings.items()))
        else:
            self.lbl_match.setText("no match (Ctrl+M)" if self.source is not None and self.target is not None else "")
        txt = ""
        if self.gt is not None:
            if self.errors is not None:
                txt = f"mean geodesic error: {100 * self.errors['mean']:.2f} ×100"
                if self.errors.get("sampled"):
                    txt += " (sample)"
            else:
                txt = f"ground truth: {self.gt.label}"
        if self.last_pick is not None:
            p = self.last_pick
            pick = f"picked {p['side']} #{p['vertex']}"
            if p["match"] is not None:
                pick += f" → #{p['match']}"
            if p["true"] is not None:
                pick += f" (true #{p['true']}, error {p['error']:.4f})"
            txt = f"{pick} · {txt}" if txt else pick
        self.lbl_error.setText(txt)

    # ================================================================== saving
    def save_match(self, directory=None) -> Path | None:
        if self.match is None:
            self._error("Nothing to save", "compute (Ctrl+M) or load a match first.")
            return None
        if directory is None:
            directory = QtWidgets.QFileDialog.getExistingDirectory(self, "Save the match into a folder")
            if not directory:
                return None
        try:
            out = self.match.save(directory)
        except OSError as exc:
            self._error("Cannot save the match", f"{directory}: {exc}")
            return None
        self._message(f"match saved to {out}")
        return Path(out)

    def transferred_shape(self):
        """The target carrying what the match transfers: the source's texture or colours, else
        the correspondence colours of the current scheme."""
        if self.match is None:
            return None
        if self._transfer_cache is None:
            self._transfer_cache = helpers.transfer_preview(self.match, self.source, self.target)
        shape, note = self._transfer_cache
        if shape is None:
            return self.target.copy(vertex_colors=self.side_colors("target"), uv=None, face_uv=None, texture=None)
        return shape

    def save_transferred(self, path=None) -> Path | None:
        import shapecorr

        shape = self.transferred_shape()
        if shape is None:
            self._error("Nothing to save", "compute (Ctrl+M) or load a match first.")
            return None
        if path is None:
            path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save the transferred shape",
                                                            f"{self.target.name}_transferred.obj",
                                                            "OBJ (*.obj);;PLY (*.ply);;OFF (*.off)")
            if not path:
                return None
        try:
            out = shapecorr.save(shape, path)
        except (shapecorr.ShapecorrError, OSError, ValueError) as exc:
            self._error("Cannot save the shape", str(exc))
            return None
        self._message(f"transferred shape saved to {out}")
        return Path(out)

    def grab_image(self) -> np.ndarray:
        """The rendered views as an ``(h, w, 3)`` uint8 array."""
        self.plotter.render()
        return np.asarray(self.plotter.screenshot(None, return_img=True))

    def save_screenshot(self, path=None) -> Path | None:
        if path is None:
            path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save a screenshot", "viewer.png", "PNG (*.png)")
            if not path:
                return None
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            from PIL import Image

            Image.fromarray(self.grab_image()).save(path)
        except OSError as exc:
            self._error("Cannot save the screenshot", f"{path}: {exc}")
            return None
        self._message(f"screenshot saved to {path}")
        return path

    def save_window_screenshot(self, path) -> Path:
        """A PNG of the whole window (menus, toolbar, status bar included)."""
        self.plotter.render()
        QtWidgets.QApplication.processEvents()
        pix = self.grab()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        pix.save(str(path), "PNG")
        return path

    # ================================================================== help, closing
    def _show_shortcuts(self) -> None:
        text = "\n".join(f"{k:<16} {v}" for k, v in SHORTCUTS)
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Information, "Keyboard shortcuts", text,
                                    QtWidgets.QMessageBox.Ok, self)
        box.setStyleSheet("QLabel { font-family: monospace; }")
        box.open()
        self._last_dialog = box

    def _show_about(self) -> None:
        caps = helpers.capabilities()
        lines = ["shapecorr viewer: shows exactly what shapecorr.match computes.", ""]
        lines.append("colour schemes: " + ("shapecorr.render" if caps["render"] else "viewer fallback"))
        lines.append("texture preview: " + ("shapecorr.transfer.transfer_texture" if caps["transfer_texture"]
                                            else "vertex-colour transfer (shapecorr.transfer not available)"))
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Information, "About", "\n".join(lines),
                                    QtWidgets.QMessageBox.Ok, self)
        box.open()
        self._last_dialog = box

    def closeEvent(self, event):  # noqa: N802
        self._tick.stop()
        self.cancel()
        self.hide()
        for job in list(self._abandoned):  # a QThread must not be destroyed while it runs
            job.wait()
        self.plotter.close()
        super().closeEvent(event)
