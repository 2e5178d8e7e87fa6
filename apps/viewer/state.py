"""What the viewer shows, without Qt: the shapes and their warnings, the match and its
confidence, ground truth and errors, the colour scheme, the mode, the picked point, and the
texts of the status bar. The window draws this state; tests drive it without a screen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from shapecorr.core import ShapecorrError
from shapecorr.render import COLOR_SCHEMES, UP_AXES, camera_direction, correspondence_colors, up_axis_name

from . import helpers

log = logging.getLogger(__name__)

SIDES = ("source", "target")
MODES = ("correspondence", "error", "texture")
POSE_KINDS = ("edit", "transfer", "morph")  # an ARAP edit, an edit carried through the match, a morph frame


def other_side(side: str) -> str:
    return "target" if side == "source" else "source"


@dataclass(frozen=True)
class Pick:
    """A picked vertex, its match on the other side and (with ground truth) its true match and
    the normalized geodesic error between the two."""

    side: str
    vertex: int
    match: int | None = None
    true: int | None = None
    error: float | None = None

    def describe(self) -> str:
        text = f"picked {self.side} #{self.vertex}"
        if self.match is not None:
            text += f" → #{self.match}"
        if self.true is not None:
            text += f" (true #{self.true}, error {self.error:.4f})"
        return text


@dataclass(frozen=True)
class Pose:
    """Where a side's vertices are shown when not where its file puts them: ``vertices (n, 3)``
    in the file's units, ``kind`` (one of :data:`POSE_KINDS`) and a note for the view's title."""

    vertices: np.ndarray
    kind: str
    note: str


@dataclass(frozen=True)
class Confidence:
    """The match's own estimate of how far to trust it (``Match.info``: ``confidence`` in [0, 1],
    ``confidence_low``, ``confidence_advice``)."""

    value: float
    low: bool
    advice: str
    threshold: float | None = None  # the calibrated threshold (None: not recorded)

    @classmethod
    def of(cls, match) -> Confidence | None:
        info = getattr(match, "info", None) or {}
        value = info.get("confidence")
        if value is None:  # saved by a shapecorr that did not estimate it
            return None
        threshold = info.get("confidence_threshold")
        return cls(float(value), bool(info.get("confidence_low", False)), str(info.get("confidence_advice", "")),
                   None if threshold is None else float(threshold))

    @property
    def flagged_above_threshold(self) -> bool:
        """Not trusted although the value is at or above the threshold: flagged by a check the
        value (a map's fit) cannot see, e.g. two feature models that disagree."""
        return self.low and self.threshold is not None and self.value >= self.threshold

    def describe(self) -> str:
        if self.flagged_above_threshold:
            return f"confidence {self.value:.2f} — NOT TRUSTED: see the advice"
        return f"confidence {self.value:.2f}" + (" — LOW: probably wrong in places" if self.low else "")

    def status_message(self) -> str:
        """The status bar's message for a match that is not trusted ('' for a trusted one)."""
        if not self.low:
            return ""
        if self.flagged_above_threshold:
            return f"match not trusted (its confidence, {self.value:.2f}, measures its fit only): {self.advice}"
        return f"low match confidence ({self.value:.2f}): {self.advice}"


class ViewerState:
    """The viewer's model. Every change goes through a method that keeps the parts consistent:
    new shapes drop the match, a new match drops the errors and the pick, and so on."""

    def __init__(self, *, presets=("default",), preset: str | None = None, device: str = "cpu",
                 strict: bool = False, up: str = "y"):
        self.presets = list(presets) or ["default"]
        if preset and preset not in self.presets:
            self.presets.append(str(preset))  # a YAML path given on the command line
        self.preset = preset or ("default" if "default" in self.presets else self.presets[0])
        self.device = device  # where shapecorr.match runs
        self.strict = strict  # refuse imperfect shapes instead of warning
        self.up = "y"  # the shapes' up axis (the camera's up)
        self.set_up(up)
        self.shapes: dict[str, object] = {side: None for side in SIDES}
        self.shape_warnings: dict[str, tuple[str, ...]] = {side: () for side in SIDES}
        self.match = None
        self.match_origin = ""
        self.gt: helpers.GroundTruth | None = None
        self.errors: dict | None = None
        self.transfer: tuple | None = None  # (shape or None, note) of the texture preview
        self.scheme = COLOR_SCHEMES[0]
        self.mode = "correspondence"
        self.show_lines = False
        self.pick_info: Pick | None = None
        # landmark pairs (source vertex, target vertex) the user clicked, and a source vertex waiting for its pair
        self.landmarks: list[tuple[int, int]] = []
        self.pending_landmark: int | None = None
        self.poses: dict[str, Pose | None] = {side: None for side in SIDES}
        self._colors: dict[str, np.ndarray] = {}
        self._distances: dict[str, object] = {}

    # ------------------------------------------------------------------ what is loaded
    @property
    def source(self):
        return self.shapes["source"]

    @property
    def target(self):
        return self.shapes["target"]

    @property
    def has_pair(self) -> bool:
        return self.source is not None and self.target is not None

    def set_shapes(self, loaded: dict) -> str:
        """Show the given sides (``{side: helpers.LoadedShape}``); the other side stays. Drops
        the match and everything derived from it; picks up ground truth found beside the
        shapes. Returns a message for the status bar ('' if none)."""
        for side, item in loaded.items():
            if side not in SIDES:
                raise ValueError(f"side must be 'source' or 'target', not {side!r}")
            self.shapes[side] = item.shape
            self.shape_warnings[side] = tuple(item.warnings)
            self._distances.pop(side, None)
            self.poses[side] = None
        self._drop_poses(("transfer", "morph"))  # they came through the match
        if "source" in loaded:
            self._colors.clear()
        self.match, self.match_origin = None, ""
        self.gt = None
        self.clear_landmarks()  # their vertices were of the shapes before
        self._drop_derived()
        return self._find_ground_truth()

    def _drop_derived(self) -> None:
        self.errors = None
        self.transfer = None
        self.pick_info = None

    def _find_ground_truth(self) -> str:
        if not self.has_pair:
            return ""
        found = helpers.find_ground_truth(self.source, self.target)
        if not found:
            return ""
        try:
            self.gt = helpers.load_ground_truth(self.source, self.target, **found)
        except ShapecorrError as exc:  # a neighbouring file that does not fit: not the user's error
            log.info("ignoring ground truth beside the shapes: %s", exc)
            return ""
        return f"ground truth found beside the shapes: {self.gt.label}"

    @property
    def warnings(self) -> list[str]:
        """Warnings of the shapes shown (reading an imperfect file), source first."""
        return [w for side in SIDES for w in self.shape_warnings[side]]

    # ------------------------------------------------------------------ match, ground truth, errors
    def set_match(self, match, origin: str = "") -> None:
        """Show ``match`` between the current shapes (refused if it does not fit them)."""
        if not self.has_pair:
            raise ValueError("open the source and the target shapes before a match.")
        match.check_shapes(self.source, self.target)
        self.match, self.match_origin = match, origin
        self._drop_derived()
        self._drop_poses(("transfer", "morph"))  # they came through the old match; edits stay

    @property
    def confidence(self) -> Confidence | None:
        return None if self.match is None else Confidence.of(self.match)

    @property
    def has_other_match(self) -> bool:
        """Whether the match has another feature model's match that disagrees with it
        (``Match.alternative``)."""
        return self.match is not None and getattr(self.match, "alternative", None) is not None

    def show_other_match(self) -> str:
        """Show the other feature model's match instead of this one (and back again: each keeps
        the other as its alternative). Returns a message for the status bar."""
        if not self.has_other_match:
            raise ValueError("this match has no other feature model's match to show.")
        shown, other = self.match, self.match.alternative
        other.alternative = shown
        model = other.info.get("feature_model") or "the other model"
        self.set_match(other, origin=f"{model}'s match (the two feature models disagree)")
        return (f"showing {model}'s match: the two feature models disagree on most of the target, so one of "
                "the two maps is wrong; compare them (Match menu, the same action shows the other again)")

    def set_ground_truth(self, gt: helpers.GroundTruth) -> None:
        self.gt = gt
        self.errors = None

    def accept_errors(self, result: dict) -> bool:
        """Keep the errors of a finished computation if they still fit what is shown."""
        if self.match is None or self.gt is None or len(result["per_vertex"]) != self.target.n_vertices:
            return False
        self.errors = result
        return True

    def distances(self, side: str):
        """Geodesics of ``side`` for single picks: the error computation's (same numbers as the
        heat map) when there is one, else rows solved on demand."""
        if side == "source" and self.errors is not None and self.errors.get("distances") is not None:
            return self.errors["distances"]
        if side not in self._distances:
            self._distances[side] = helpers.distances_for(self.shapes[side], dense_max=0)
        return self._distances[side]

    # ------------------------------------------------------------------ poses (edits, transfers, morphs)
    def set_pose(self, side: str, vertices, kind: str, note: str = "") -> Pose:
        """Show ``side`` at ``vertices`` (its vertex order, the file's units)."""
        shape = self.shapes[side] if side in SIDES else None
        if shape is None:
            raise ValueError(f"no {side} shape is open")
        if kind not in POSE_KINDS:
            raise ValueError(f"pose kind must be one of {', '.join(POSE_KINDS)}, not {kind!r}")
        v = np.asarray(vertices, dtype=np.float64)
        if v.shape != shape.vertices.shape:
            raise ValueError(f"a pose of shape {v.shape} for the {side}'s {shape.vertices.shape} vertices")
        if not np.isfinite(v).all():
            raise ValueError("the pose contains NaN or infinite coordinates")
        self.poses[side] = Pose(v, kind, note)
        return self.poses[side]

    def clear_pose(self, side: str) -> None:
        """Show ``side`` as its file has it."""
        self.poses[side] = None

    def restore_pose(self, side: str, pose: Pose | None) -> None:
        """Show ``side`` in a pose it had before (``None``: as its file has it)."""
        if pose is not None and pose.vertices.shape != self.shapes[side].vertices.shape:
            raise ValueError(f"that pose is not one of the {side} shown now")
        self.poses[side] = pose

    def _drop_poses(self, kinds) -> None:
        for side in SIDES:
            if self.poses[side] is not None and self.poses[side].kind in kinds:
                self.poses[side] = None

    def shown_vertices(self, side: str) -> np.ndarray | None:
        """The positions ``side`` is drawn at (its pose, else its file's)."""
        if self.shapes[side] is None:
            return None
        pose = self.poses[side]
        return self.shapes[side].vertices if pose is None else pose.vertices

    def shown_shape(self, side: str):
        """``side``'s shape at the positions it is drawn at (a copy when posed)."""
        shape, pose = self.shapes[side], self.poses[side]
        return shape if shape is None or pose is None else shape.copy(vertices=pose.vertices)

    # ------------------------------------------------------------------ display settings
    def set_scheme(self, name: str) -> None:
        """Colour the correspondence with ``name`` (one of shapecorr.render.COLOR_SCHEMES)."""
        if name not in COLOR_SCHEMES:
            raise ValueError(f"unknown colour scheme {name!r}; available: {', '.join(COLOR_SCHEMES)}.")
        self.scheme = name
        self.mode = "correspondence"

    def set_up(self, axis: str) -> None:
        """The shapes' up axis, one of shapecorr.render.UP_AXES ("z" for TOSCA and many scanners)."""
        try:
            self.up = up_axis_name(axis)
        except ValueError:
            raise ValueError(f"unknown up axis {axis!r}; choose one of {', '.join(UP_AXES)}.") from None

    def camera(self, direction) -> tuple[np.ndarray, np.ndarray]:
        """The camera's direction (object -> camera) and up vector for a view written for y-up
        shapes (``direction``), on shapes whose up axis is :attr:`up`."""
        return camera_direction(direction, self.up)

    def next_scheme(self) -> str:
        self.set_scheme(COLOR_SCHEMES[(COLOR_SCHEMES.index(self.scheme) + 1) % len(COLOR_SCHEMES)])
        return self.scheme

    def set_mode(self, mode: str) -> str:
        """``correspondence`` colours, ``error`` heat map or ``texture`` preview. Returns a hint
        when the mode has nothing to show yet ('' otherwise)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode = mode
        if mode == "error" and self.gt is None:
            return "load ground truth first (File > Load ground truth, Ctrl+G)"
        if mode in ("error", "texture") and self.match is None:
            return "compute (Ctrl+M) or load (Ctrl+L) a match first"
        return ""

    def has_colors(self, scheme: str | None = None) -> bool:
        return (scheme or self.scheme) in self._colors

    def source_colors(self) -> np.ndarray:
        """Correspondence colours of the source in the current scheme (cached)."""
        if self.scheme not in self._colors:
            self._colors[self.scheme] = correspondence_colors(self.source, self.scheme)
        return self._colors[self.scheme]

    def keep_colors(self, source, scheme: str, colors: np.ndarray) -> bool:
        """Cache colours computed elsewhere (in the background) if they are still for this source."""
        if source is not self.source:
            return False
        self._colors[scheme] = colors
        return True

    def side_colors(self, side: str) -> np.ndarray | None:
        """Per-vertex colours of ``side`` in correspondence mode (``None``: plain grey). The
        target's colour at vertex j is the source's at ``p2p_21[j]``."""
        if self.shapes[side] is None or self.source is None:
            return None
        if side == "source":
            return self.source_colors()
        if self.match is None:
            return None
        return self.source_colors()[np.asarray(self.match.p2p_21)]

    # ------------------------------------------------------------------ selection
    def pick(self, side: str, vertex: int) -> Pick | None:
        """Select ``vertex`` of ``side``: its match and, with ground truth, its true match and error."""
        if side not in SIDES:
            raise ValueError(f"side must be 'source' or 'target', not {side!r}")
        shape = self.shapes[side]
        if shape is None:
            return None
        vertex = int(vertex)
        if not 0 <= vertex < shape.n_vertices:
            raise ValueError(f"vertex {vertex} out of range for the {side} ({shape.n_vertices} vertices)")
        match = true = error = None
        if self.match is not None:
            match = int((self.match.p2p_12 if side == "source" else self.match.p2p_21)[vertex])
            if self.gt is not None:
                true = self.gt.true_target_of(vertex) if side == "source" else self.gt.true_source_of(vertex)
                if true is not None:
                    error = helpers.point_error(self.distances(other_side(side)), match, true)
        self.pick_info = Pick(side, vertex, match, true, error)
        return self.pick_info

    def clear_pick(self) -> None:
        self.pick_info = None

    # ------------------------------------------------------------------ landmarks
    def add_landmark(self, side: str, vertex: int) -> str:
        """A click in landmark mode: a source vertex waits for its pair; a target vertex then
        completes it (a pair using either vertex already is replaced). Returns a status message."""
        if side not in SIDES:
            raise ValueError(f"side must be 'source' or 'target', not {side!r}")
        shape = self.shapes[side]
        if shape is None or not 0 <= int(vertex) < shape.n_vertices:
            raise ValueError(f"no vertex {vertex} on the {side}")
        vertex = int(vertex)
        if side == "source":
            self.pending_landmark = vertex
            return f"landmark: source vertex {vertex}; now click its place on the target"
        if self.pending_landmark is None:
            return "landmark: click the source first, then its place on the target"
        i, self.pending_landmark = self.pending_landmark, None
        self.landmarks = [(a, b) for a, b in self.landmarks if a != i and b != vertex] + [(i, vertex)]
        return (f"landmark {len(self.landmarks)}: source {i} - target {vertex}"
                + ("" if len(self.landmarks) >= 3 else " (give at least 3, spread over the shapes)"))

    def clear_landmarks(self) -> None:
        self.landmarks, self.pending_landmark = [], None

    def landmark_pairs(self) -> np.ndarray | None:
        """The pairs as an ``(L, 2)`` array for :func:`shapecorr.match`, or None without any."""
        return np.asarray(self.landmarks, dtype=np.int64).reshape(-1, 2) if self.landmarks else None

    # ------------------------------------------------------------------ texts
    def warnings_text(self) -> str:
        """One line for the status bar: how many warnings (first, as the line may be cut) and the
        first one; all of them are in :attr:`warnings` (the label's tooltip)."""
        w = self.warnings
        if not w:
            return ""
        return f"⚠ {w[0]}" if len(w) == 1 else f"⚠ {len(w)} warnings: {w[0]}"

    def match_text(self) -> str:
        if self.match is None:
            return "no match (Ctrl+M)" if self.has_pair else ""
        text = f"match: {self.match_origin}" if self.match_origin else "match"
        conf = self.confidence
        return f"{text} · {conf.describe() if conf else 'confidence not recorded (older match)'}"

    def match_tooltip(self) -> str:
        if self.match is None:
            return ""
        conf = self.confidence
        lines = [conf.advice] if conf is not None and conf.advice else []
        if self.match.timings:
            lines.append("timings (s): " + ", ".join(f"{k} {v}" for k, v in self.match.timings.items()))
        return "\n".join(lines)

    def errors_text(self) -> str:
        text = ""
        if self.gt is not None:
            if self.errors is not None:
                text = f"mean geodesic error: {100 * self.errors['mean']:.2f} ×100"
                text += " (sample)" if self.errors.get("sampled") else ""
            else:
                text = f"ground truth: {self.gt.label}"
        if self.pick_info is not None:
            text = f"{self.pick_info.describe()} · {text}" if text else self.pick_info.describe()
        return text

    def title(self, side: str) -> str:
        """The heading drawn over one view."""
        s = self.shapes[side]
        if s is None:
            return (f"{side}: open a shape (Ctrl+{'Shift+' if side == 'target' else ''}O) "
                    "or drop a file here")
        kind = f"{s.n_faces} faces" if s.is_mesh else "point cloud"
        text = f"{side}: {s.name}  ({s.n_vertices} vertices, {kind})"
        if self.poses[side] is not None:
            text += f"\n{self.poses[side].note or self.poses[side].kind}"
        if self.shape_warnings[side]:
            n = len(self.shape_warnings[side])
            text += f"\n{n} warning{'s' if n > 1 else ''} on reading (see the status bar)"
        if side == "target" and self.mode == "texture" and self.match is not None:
            text += "\n" + (self.transfer[1] if self.transfer else "transferring the texture…")
        if side == "target" and self.mode == "error":
            if self.gt is None:
                text += "\nno ground truth loaded (Ctrl+G)"
            elif self.errors is None:
                text += "\ncomputing errors…" if self.match is not None else "\ncompute or load a match first"
        return text
