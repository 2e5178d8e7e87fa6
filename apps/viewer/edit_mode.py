"""The main window's edit mode, as a mixin of :class:`~apps.viewer.window.ViewerWindow`: ARAP
drags on either shape (:class:`~apps.viewer.mesh_edit.MeshEditor`), the edit carried to the other
shape through the match (:class:`~apps.viewer.mesh_edit.EditCarrier`, once or following each
drag), the morph slider (:func:`~apps.viewer.mesh_edit.morph_of`), and saving a shape as shown.

What is shown lives in the window's :class:`~apps.viewer.state.ViewerState` (``state.poses``);
these methods change it and redraw through the window's own drawing methods.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyvista as pv
from PySide6 import QtWidgets

from shapecorr.core import ShapecorrError

from . import helpers
from .mesh_edit import EditCarrier, MeshEditor, morph_of
from .state import SIDES, other_side

HANDLE_COLORS = {"fixed": (0.2, 0.55, 1.0), "dragged": (1.0, 0.6, 0.1), "grabbed": (1.0, 0.95, 0.2)}
MORPH_STEPS = 100  # slider positions from the source (0) to the target (MORPH_STEPS)


class EditMode:
    """Edit mode, carried edits, the morph slider (mixed into the viewer's main window)."""

    def _init_edit_mode(self) -> None:
        self._frames: dict[str, helpers.DisplayFrame] = {}  # where each side's file is drawn
        self.edit_mode = False
        self.follow = False  # the other shape follows each drag (once the carrier's plan is made)
        self.editors: dict[str, MeshEditor] = {}  # per side, while its edit goes on
        self.edited_side: str | None = None  # the side whose edit "apply" carries
        self._carrier: EditCarrier | None = None  # for the shown match
        self.morpher = None  # shapecorr.deform.Morph of the shown match
        self.morph_t = 0.0
        self._before_morph = None  # (pose, editor) of the source when the morph took its place
        self._drag_from = None  # (side, display x, y, depth) where an edit drag started
        self._drag_side: str | None = None  # the side being dragged
        self._pending_offset = None

    def _frame(self, side: str) -> helpers.DisplayFrame:
        """Where ``side`` is drawn: its file's frame; a morph frame between the two files' frames."""
        pose = self.state.poses[side]
        if side == "source" and pose is not None and pose.kind == "morph" and "target" in self._frames:
            return helpers.DisplayFrame.between(self._frames["source"], self._frames["target"], self.morph_t)
        return self._frames[side]

    def _update_display(self, side: str) -> None:
        self._display_pts[side] = self._frame(side).apply(self.state.shown_vertices(side))
        self._trees.pop(side, None)

    def _drop_edits(self, sides) -> None:
        """Forget the editors of ``sides`` and what came from the match (the carrier, the morph)."""
        for side in sides:
            self.editors.pop(side, None)
        if self.edited_side in sides:
            self.edited_side = None
        self._drag_from, self._pending_offset = None, None
        self._carrier, self.morpher, self._before_morph = None, None, None
        self.jobs.cancel("carry")
        self.jobs.cancel("morph")
        if self.act_morph.isChecked():
            self.act_morph.setChecked(False)
            self.morph_slider_action.setVisible(False)

    def _show_pose(self, side: str, render: bool = True) -> None:
        self._update_display(side)
        self.markers = {k: m for k, m in self.markers.items() if m["side"] != side}
        self._draw_side(side)
        self._draw_markers()
        self._update_status()
        if render:
            self.plotter.render()

    def set_edit_mode(self, on: bool) -> None:
        """Edit mode: a left-drag on either shape moves the region around the grabbed point
        (ARAP), Shift+click fixes a region; outside it the mouse turns the camera and picks."""
        self.edit_mode = bool(on)
        self.act_edit.setChecked(self.edit_mode)
        if self.edit_mode and self.act_morph.isChecked():
            self.set_morph_mode(False)
        self._message("edit mode: drag a region of either shape (Shift+click fixes one); A applies the edit to "
                      "the other shape; D ends it" if self.edit_mode else "edit mode off")

    def editor(self, side: str) -> MeshEditor:
        """The ARAP editor of ``side``, started from the pose it is shown in (whatever replaces
        that pose otherwise, a carried edit, a morph frame or new shapes, drops the editor)."""
        shape = self.state.shapes[side] if side in SIDES else None
        if shape is None:
            raise ValueError(f"open the {side} shape first")
        if side not in self.editors:
            self.editors[side] = MeshEditor(self.state.shown_vertices(side), shape.faces if shape.is_mesh else None,
                                            size_of=shape.vertices, device=self.state.device)
        return self.editors[side]

    def _edit_note(self, side: str) -> str:
        ed = self.editors[side]
        return (f"edited: {len(ed.fixed)} fixed, {ed.n_dragged} dragged vertices "
                f"(A: apply to the {other_side(side)})")

    def _show_edit(self, side: str) -> None:
        ed = self.editors[side]
        self.state.set_pose(side, ed.vertices, "edit", self._edit_note(side))
        self.edited_side = side
        self._show_pose(side, render=False)
        if self.follow and self._carrier is not None and self._carrier.match is self.match \
                and self._carrier.ready(side) and "carry" not in self.jobs:
            other = other_side(side)
            self.editors.pop(other, None)
            self.state.set_pose(other, self._carrier.carry(side, ed.vertices), "transfer",
                                f"the {side}'s edit, followed live through the match ({self._carrier.method} points)")
            self._show_pose(other, render=False)
        self.plotter.render()

    def set_follow(self, on: bool) -> None:
        """The other shape follows each drag through the match (deformation transfer with a plan
        made once: the first apply, started here if none was made, is the slow one)."""
        self.follow = bool(on)
        self.act_follow.setChecked(self.follow)
        side = self.edited_side
        pose = self.state.poses[side] if side is not None else None
        ready = self._carrier is not None and self._carrier.match is self.match and side is not None \
            and self._carrier.ready(side)
        if self.follow and pose is not None and pose.kind == "edit" and not ready and self.match is not None:
            self.apply_edit_to_other()

    def start_edit(self, side: str, vertex: int) -> np.ndarray:
        """Grab the region around ``vertex`` of ``side`` (a drag starts); returns its vertices."""
        ed = self.editor(side)
        ids = ed.grab(vertex)
        self._drag_side = side
        self._show_edit(side)
        return ids

    def edit_drag(self, offset, *, throttled: bool = False) -> None:
        """Move the grabbed region by ``offset (3,)`` (the shape's units) from where it was
        grabbed. ``throttled``: as a mouse move does (solved and drawn at the next event-loop turn)."""
        if throttled:
            self._pending_offset = np.asarray(offset, dtype=np.float64)
            self._drag_timer.start()
            return
        self.editors[self._drag_side].drag(offset)
        self._show_edit(self._drag_side)

    def _drag_tick(self) -> None:
        offset, self._pending_offset = self._pending_offset, None
        side = self._drag_side
        if offset is None or side not in self.editors or not self.editors[side].dragging:
            return
        try:
            self.edit_drag(offset)
        except (ShapecorrError, ValueError, ArithmeticError) as exc:
            self._error("Edit failed", str(exc))

    def end_edit(self) -> None:
        """End the drag: the pose is solved to convergence and the region stays where it was left."""
        side = self._drag_side
        if side not in self.editors or not self.editors[side].dragging:
            return
        offset, self._pending_offset = self._pending_offset, None
        self.editors[side].end_drag(offset)
        self._show_edit(side)
        if self.follow and self.match is not None and not (
                self._carrier is not None and self._carrier.match is self.match and self._carrier.ready(side)):
            self.apply_edit_to_other()  # makes the plan; the next drags follow

    def fix_region(self, side: str, vertex: int) -> np.ndarray:
        """Hold the region around ``vertex`` of ``side`` where it is shown."""
        ids = self.editor(side).fix(vertex)
        self._draw_side(side)
        self._update_status()
        self.plotter.render()
        return ids

    def clear_handles(self) -> None:
        """Forget the handles of every edit (the poses stay)."""
        for ed in self.editors.values():
            ed.clear_handles()
        for side in SIDES:
            if side in self.editors and self.state.poses[side] is not None and self.state.poses[side].kind == "edit":
                self.state.set_pose(side, self.editors[side].vertices, "edit", self._edit_note(side))
        self._redraw()

    def reset_shapes(self) -> None:
        """Show both shapes as their files have them (edits, carried edits and the morph dropped)."""
        self.set_morph_mode(False)
        self.editors.clear()
        self.edited_side = None
        for side in SIDES:
            self.state.clear_pose(side)
            if self.state.shapes[side] is not None:
                self._update_display(side)
        self.markers.clear()
        self._redraw()

    def apply_edit_to_other(self, blocking: bool = False, timeout: float = 600.0) -> bool:
        """Carry the last edit to the other shape through the match (deformation transfer, the
        registration's surface points, computed once per match and direction; in the background).
        Returns whether the other shape is shown carrying it (blocking) or the work started."""
        side = self.edited_side
        pose = self.state.poses[side] if side is not None else None
        if pose is None or pose.kind != "edit":
            self._error("Nothing to apply", "edit a shape first (D: edit mode, then drag a region of it).")
            return False
        if self.match is None:
            self._error("Cannot apply the edit", "compute (Ctrl+M) or load (Ctrl+L) a match first.")
            return False
        match, other = self.match, other_side(side)
        try:
            if self._carrier is None or self._carrier.match is not match:
                self._carrier = EditCarrier(match, self.source, self.target, device=self.state.device)
        except ValueError as exc:
            self._error("Cannot apply the edit", str(exc))
            return False
        carrier, edited = self._carrier, pose.vertices.copy()

        def work(progress, should_stop):
            progress(f"surface points ({carrier.method})", 0.05)
            return carrier.carry(side, edited, progress=progress)

        def done(vertices):
            if match is not self.match:
                return
            self.editors.pop(other, None)
            self.state.set_pose(other, vertices, "transfer",
                                f"the {side}'s edit, carried through the match ({carrier.method} points)")
            self.statusBar().clearMessage()
            self._show_pose(other)

        self.jobs.start("carry", work, done, lambda msg: self._error("Applying the edit failed", msg))
        self._message(f"applying the {side}'s edit to the {other}…", 0)
        if blocking:
            self.wait_idle(timeout)
            carried = self.state.poses[other]
            return carried is not None and carried.kind == "transfer"
        return True

    def set_morph_mode(self, on: bool, blocking: bool = False, timeout: float = 600.0) -> bool:
        """Show the morph slider (the in-between shapes of the match are prepared in the
        background, once per match) or hide it and show the source as it was."""
        on = bool(on)
        self.act_morph.setChecked(on)
        if not on:
            self.morph_slider_action.setVisible(False)
            self.jobs.cancel("morph")
            pose = self.state.poses["source"]
            if pose is not None and pose.kind == "morph":  # the source as it was before the morph
                before, editor = self._before_morph or (None, None)
                self.state.restore_pose("source", before)
                if editor is not None:
                    self.editors["source"] = editor
                self._show_pose("source")
            self._before_morph = None
            return True
        if self.match is None:
            self.act_morph.setChecked(False)
            self._error("Cannot morph", "compute (Ctrl+M) or load (Ctrl+L) a match first.")
            return False
        if self.edit_mode:
            self.set_edit_mode(False)
        if self.morpher is not None:
            self.morph_slider_action.setVisible(True)
            self.set_morph(self.morph_t)
            return True
        match, src, tgt, device = self.match, self.source, self.target, self.state.device

        def work(progress, should_stop):
            progress("morph: where the source lands on the target", 0.1)
            return morph_of(match, src, tgt, device=device)

        def done(morpher):
            if match is not self.match:
                return
            self.morpher = morpher
            self.statusBar().clearMessage()
            if self.act_morph.isChecked():
                self.morph_slider_action.setVisible(True)
                self.set_morph(self.morph_t)

        def failed(message):
            self.act_morph.setChecked(False)
            self._error("The morph failed", message)

        self.jobs.start("morph", work, done, failed)
        self._message("preparing the morph…", 0)
        if blocking:
            self.wait_idle(timeout)
            return self.morpher is not None
        return True

    def set_morph(self, t: float) -> np.ndarray | None:
        """Show the source a fraction ``t`` of the way to the target (0: the source, 1: where the
        match puts its vertices on the target); returns the vertices shown."""
        if self.morpher is None:
            return None
        self.morph_t = float(np.clip(t, 0.0, 1.0))
        vertices = self.morpher.frame(self.morph_t)
        pose = self.state.poses["source"]
        if pose is None or pose.kind != "morph":  # the morph takes the source's place until it ends
            self._before_morph = (pose, self.editors.pop("source", None))
        self.state.set_pose("source", vertices, "morph", f"morph t = {self.morph_t:.2f} (G: back to the source)")
        self.morph_slider.blockSignals(True)
        self.morph_slider.setValue(round(self.morph_t * MORPH_STEPS))
        self.morph_slider.blockSignals(False)
        self._show_pose("source")
        return vertices

    def save_shown(self, side: str, path=None) -> Path | None:
        """Save ``side`` as it is shown (edited, carrying an edit, or a morph frame); its vertex
        order and faces are the file's. An input file is never written over."""
        import shapecorr

        shape = self.state.shown_shape(side)
        if shape is None:
            self._error("Nothing to save", f"open the {side} shape first.")
            return None
        if path is None:
            pose = self.state.poses[side]
            suggestion = f"{shape.name}_{'shown' if pose is None else pose.kind}.ply"
            path, _ = QtWidgets.QFileDialog.getSaveFileName(self, f"Save the {side} as shown", suggestion,
                                                            "PLY (*.ply);;OBJ (*.obj);;OFF (*.off)")
            if not path:
                return None
        path = Path(path)
        inputs = {Path(s.path).resolve() for s in (self.source, self.target) if s is not None and s.path}
        if path.resolve() in inputs:
            self._error("Cannot save the shape", f"{path}: that is an input file; choose another name.")
            return None
        try:
            out = Path(shapecorr.save(shape, path))
        except (shapecorr.ShapecorrError, OSError) as exc:
            self._error("Cannot save the shape", f"{path}: {exc}")
            return None
        self._message(f"{side} saved to {out}")
        return out

    def _draw_handles(self, side: str) -> None:
        self.plotter.remove_actor(f"handles-{side}", render=False)
        ed = self.editors.get(side)
        pose = self.state.poses[side]
        if ed is None or pose is None or pose.kind != "edit" or not (ed.pinned or ed.dragging):
            return
        dragged = np.setdiff1d(np.array(sorted(ed.pinned), dtype=np.int64), np.union1d(ed.fixed, ed.grabbed))
        ids = np.concatenate([ed.fixed, dragged, ed.grabbed]).astype(np.int64)
        colors = np.array([HANDLE_COLORS["fixed"]] * len(ed.fixed) + [HANDLE_COLORS["dragged"]] * len(dragged)
                          + [HANDLE_COLORS["grabbed"]] * len(ed.grabbed))
        pts = pv.PolyData(self._display_pts[side][ids])
        pts.point_data["rgb"] = (255 * colors).astype(np.uint8)
        self.plotter.add_mesh(pts, scalars="rgb", rgb=True, point_size=6, render_points_as_spheres=True,
                              name=f"handles-{side}", reset_camera=False, pickable=False, render=False)

    # edit mode: a drag on a shape moves the region under the mouse (these run before the camera)
    def _handled(self, event: str) -> None:
        self.plotter.iren.interactor.GetCommand(self._edit_observers[event]).SetAbortFlag(1)

    def _world_at(self, side: str, x: float, y: float, depth: float) -> np.ndarray:
        ren = self.plotter.renderers[SIDES.index(side)]
        ren.SetDisplayPoint(float(x), float(y), float(depth))
        ren.DisplayToWorld()
        w = np.asarray(ren.GetWorldPoint())
        return w[:3] / w[3]

    def _on_edit_press(self, iren, event) -> None:
        if not self.edit_mode:
            return
        x, y = iren.GetEventPosition()
        hit = self.vertex_at_display(x, y)
        if hit is None:
            return  # the camera turns
        self._handled(event)
        side, vertex = hit
        try:
            if iren.GetShiftKey():
                self.fix_region(side, vertex)
                return
            self.start_edit(side, vertex)
        except (ShapecorrError, ValueError, ArithmeticError) as exc:
            self._error("Edit failed", str(exc))
            return
        ren = self.plotter.renderers[SIDES.index(side)]
        p = self._display_pts[side][vertex]
        ren.SetWorldPoint(float(p[0]), float(p[1]), float(p[2]), 1.0)
        ren.WorldToDisplay()
        self._drag_from = (side, x, y, ren.GetDisplayPoint()[2])

    def _on_edit_move(self, iren, event) -> None:
        if self._drag_from is None:
            return
        self._handled(event)
        side, x0, y0, depth = self._drag_from
        x, y = iren.GetEventPosition()
        shift = self._world_at(side, x, y, depth) - self._world_at(side, x0, y0, depth)
        self.edit_drag(shift / self._frame(side).scale, throttled=True)  # drawn units -> the shape's

    def _on_edit_release(self, iren, event) -> None:
        if self._drag_from is None:
            return
        self._handled(event)
        self._drag_from = None
        try:
            self.end_edit()
        except (ShapecorrError, ValueError, ArithmeticError) as exc:
            self._error("Edit failed", str(exc))
