"""A computed correspondence, :class:`Match`: its maps, how it was made, and the shapes it is for.

A saved match (``Match.save``) is a folder: ``source_to_target.txt``, ``target_to_source.txt``,
``fmap.npy`` and ``match.json`` (settings, timings, info, shape summaries and both shapes'
content hashes). :meth:`Match.check_shapes` refuses shapes other than the ones the match was
computed for (same vertex count but another vertex order included), since applying a map to
them paints wrong results without any error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .core import MatchFileError, OutputError, Shape, ShapeMismatchError
from .core.jsonio import json_default

MAP_FILES = ("source_to_target.txt", "target_to_source.txt", "fmap.npy")


@dataclass
class Match:
    """A dense correspondence between ``source`` (shape 1) and ``target`` (shape 2).

    ``p2p_21[j]``: source vertex matched to target vertex j; ``p2p_12[i]``: target vertex
    matched to source vertex i; ``fmap_12 (k, k)`` carries source functions to the target.
    ``info["confidence"]`` (in [0, 1]) says how much to trust it (see
    :mod:`shapecorr.fmap.confidence`); ``source_hash``/``target_hash`` identify the shapes.
    """

    p2p_21: np.ndarray
    p2p_12: np.ndarray
    fmap_12: np.ndarray
    settings: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    source_summary: dict = field(default_factory=dict)
    target_summary: dict = field(default_factory=dict)
    source_hash: str | None = None
    target_hash: str | None = None
    # per target vertex, in [0, 1] (None: not computed, e.g. a loaded older match)
    vertex_confidence: np.ndarray | None = None
    # the other feature model's match of the pair when the two disagree on most of the target
    # (info["second_model"]["flagged"]: one of them is wrong, and the confidence cannot say
    # which); not saved with this match (`shapecorr match` writes it to OUT/other_model/)
    alternative: "Match | None" = field(default=None, repr=False, compare=False)

    @property
    def source_to_target(self) -> np.ndarray:
        return self.p2p_12

    @property
    def target_to_source(self) -> np.ndarray:
        return self.p2p_21

    @property
    def confidence(self) -> float | None:
        return self.info.get("confidence")

    def metadata(self) -> dict:
        """What ``match.json`` holds."""
        return {"settings": self.settings, "timings": self.timings, "info": self.info,
                "source": self.source_summary, "target": self.target_summary,
                "source_hash": self.source_hash, "target_hash": self.target_hash}

    def save(self, directory) -> Path:
        """Write the maps, ``fmap.npy``, ``match.json`` (and ``vertex_confidence.npy``) into a folder."""
        d = Path(directory)
        try:
            d.mkdir(parents=True, exist_ok=True)
            np.savetxt(d / "source_to_target.txt", self.p2p_12, fmt="%d")
            np.savetxt(d / "target_to_source.txt", self.p2p_21, fmt="%d")
            np.save(d / "fmap.npy", self.fmap_12)
            if self.vertex_confidence is not None:
                np.save(d / "vertex_confidence.npy", self.vertex_confidence.astype(np.float32))
            (d / "match.json").write_text(json.dumps(self.metadata(), indent=2, default=json_default,
                                                     allow_nan=False))
        except OSError as exc:
            raise OutputError(f"{d}: cannot write the match here ({exc.strerror or exc}); choose another "
                              "folder.") from exc
        return d

    @classmethod
    def load(cls, directory) -> "Match":
        d = Path(directory)
        if not d.is_dir():
            raise MatchFileError(f"{d}: no such folder; give the --out folder of `shapecorr match`.")
        missing = [n for n in MAP_FILES if not (d / n).exists()]
        if missing:
            raise MatchFileError(f"{d}: not a saved match (missing {', '.join(missing)}); "
                                 "create one with `shapecorr match SOURCE TARGET --out DIR`.")
        try:
            p2p_12 = np.atleast_1d(np.loadtxt(d / "source_to_target.txt", dtype=np.int64))
            p2p_21 = np.atleast_1d(np.loadtxt(d / "target_to_source.txt", dtype=np.int64))
            fmap = np.load(d / "fmap.npy")
            conf = np.load(d / "vertex_confidence.npy") if (d / "vertex_confidence.npy").exists() else None
        except ValueError as exc:
            raise MatchFileError(f"{d}: a map file is garbled ({exc}).") from exc
        meta = {}
        for name in ("match.json", "report.json"):
            if (d / name).exists():
                try:
                    meta = json.loads((d / name).read_text())
                except json.JSONDecodeError as exc:
                    raise MatchFileError(f"{d / name}: not valid JSON ({exc}).") from exc
                break
        return cls(p2p_21=p2p_21, p2p_12=p2p_12, fmap_12=fmap, settings=meta.get("settings", {}),
                   timings=meta.get("timings", meta.get("timings_s", {})), info=meta.get("info", {}),
                   source_summary=meta.get("source", {}), target_summary=meta.get("target", {}),
                   source_hash=meta.get("source_hash"), target_hash=meta.get("target_hash"),
                   vertex_confidence=conf)

    def check_shapes(self, source: Shape, target: Shape, *, allow_other: bool = False) -> None:
        """Raise :class:`MatchFileError` if this match cannot apply to the two shapes, and
        :class:`ShapeMismatchError` if they are not the shapes it was computed for (content
        hashes differ) unless ``allow_other``."""
        if len(self.p2p_12) != source.n_vertices or len(self.p2p_21) != target.n_vertices:
            raise ShapeMismatchError(
                f"the match has maps of length {len(self.p2p_12)} (source) and {len(self.p2p_21)} (target) "
                f"but the shapes have {source.n_vertices} and {target.n_vertices} vertices; it was computed "
                "for other shapes: match these shapes instead.")
        if len(self.p2p_12) and (self.p2p_12.max() >= target.n_vertices or self.p2p_12.min() < 0):
            raise MatchFileError("source_to_target refers to target vertices that do not exist.")
        if len(self.p2p_21) and (self.p2p_21.max() >= source.n_vertices or self.p2p_21.min() < 0):
            raise MatchFileError("target_to_source refers to source vertices that do not exist.")
        if allow_other:
            return
        for role, saved, shape in (("source", self.source_hash, source), ("target", self.target_hash, target)):
            if saved is not None and saved != shape.content_hash:
                where = shape.path or shape.name
                raise ShapeMismatchError(
                    f"the saved match was computed for another {role} than {where} (same vertex count, "
                    "different geometry or vertex order); match these shapes instead, or pass "
                    "--allow-other-shapes (allow_other=True) if you really mean to apply it.")
