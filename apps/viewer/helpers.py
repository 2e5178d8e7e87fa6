"""Pure NumPy pieces of the viewer (no Qt, no VTK): testable without a screen.

Presentation only: reading a shape with its warnings, display frames, ground-truth files, line
samples. Every algorithm comes from shapecorr's public API (``shapecorr.load``,
``shapecorr.render``, ``shapecorr.transfer``, ``shapecorr.eval``).
"""

from __future__ import annotations

import logging
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shapecorr.eval import GeodesicDistances

log = logging.getLogger(__name__)

# warnings.catch_warnings swaps process-wide state: one recorded read at a time
_RECORD_LOCK = threading.Lock()


# ----------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class LoadedShape:
    """A shape read for one side of the viewer, with what its reading warned about."""

    shape: object  # shapecorr.Shape
    warnings: tuple[str, ...] = ()


def read_shape(item, *, strict: bool = False) -> LoadedShape:
    """Read a shape file with :func:`shapecorr.load` (or take a :class:`shapecorr.Shape` as it is).

    Imperfect meshes load with :class:`shapecorr.core.ShapeWarning` s (one line each: ``FILE: what
    was found; what is done``), returned in ``warnings`` for the status bar instead of printed. ``strict`` refuses them
    (``shapecorr.load(strict=True)`` raises a :class:`shapecorr.ShapeError`).
    """
    import shapecorr
    from shapecorr.core import ShapeWarning

    if isinstance(item, shapecorr.Shape):
        return LoadedShape(item)
    with _RECORD_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # the same file read twice warns twice
        shape = shapecorr.load(item, strict=strict)
    messages = []
    for w in caught:  # only the shape's own: a match finishing in another thread may warn meanwhile
        if issubclass(w.category, ShapeWarning):
            text = str(w.message)
            if text not in messages:
                messages.append(text)
        else:  # a library's own warning (deprecations...): not the user's business
            log.debug("while reading %s: %s", item, w.message)
    return LoadedShape(shape, tuple(messages))


# ----------------------------------------------------------------------------- display frames
@dataclass(frozen=True)
class DisplayFrame:
    """Where a shape is drawn: centred on its bounding box, scaled to unit diagonal."""

    center: np.ndarray
    scale: float

    @classmethod
    def of(cls, vertices: np.ndarray) -> DisplayFrame:
        lo, hi = vertices.min(0), vertices.max(0)
        return cls(center=(lo + hi) / 2, scale=1.0 / max(float(np.linalg.norm(hi - lo)), 1e-12))

    def apply(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, dtype=np.float64) - self.center) * self.scale

    @classmethod
    def between(cls, a: DisplayFrame, b: DisplayFrame, t: float) -> DisplayFrame:
        """The frame a fraction ``t`` of the way from ``a`` to ``b`` (a shape morphing from a
        shape drawn in ``a`` to one drawn in ``b`` keeps its size on the screen)."""
        t = float(t)
        size = (1.0 - t) / a.scale + t / b.scale  # the drawn extent, interpolated in the shapes' units
        return cls(center=(1.0 - t) * a.center + t * b.center, scale=1.0 / size)


def project_to_display(points: np.ndarray, composite: np.ndarray, viewport, window_size) -> np.ndarray:
    """Display pixel coordinates ``(n, 2)`` of world points, given a camera's composite
    projection matrix (4x4), the renderer's normalized viewport and the window size."""
    p = np.c_[points, np.ones(len(points))] @ composite.T
    ndc = p[:, :2] / p[:, 3:4]
    x0, y0, x1, y1 = viewport
    w, h = window_size
    x = (x0 + (ndc[:, 0] + 1) / 2 * (x1 - x0)) * w
    y = (y0 + (ndc[:, 1] + 1) / 2 * (y1 - y0)) * h
    return np.c_[x, y]


def sample_line_pairs(source_vertices: np.ndarray, p2p_12: np.ndarray, k: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """A well-spread sample of source vertices and their matches on the target."""
    from shapecorr.fmap import farthest_point_sampling

    s = farthest_point_sampling(np.asarray(source_vertices, dtype=np.float64), k, seed=1)
    return s, np.asarray(p2p_12)[s]


def shape_vertex_colors(shape) -> np.ndarray | None:
    """The shape's own vertex colours as ``(n, 3) uint8`` (float colours in [0, 1] scaled)."""
    c = shape.vertex_colors
    if c is None:
        return None
    c = np.asarray(c)[:, :3]
    if c.dtype != np.uint8:
        c = np.clip(np.round(c.astype(np.float64) * (255 if c.max() <= 1.0 else 1)), 0, 255).astype(np.uint8)
    return c


def transfer_preview(match, source, target):
    """The target carrying the source's texture or colours: ``(shape or None, note)``.

    A textured source goes through :func:`shapecorr.transfer.transfer_texture`, one with vertex
    colours through :func:`shapecorr.transfer.transfer_colors`; otherwise there is nothing to
    transfer (``None`` and a note saying so).
    """
    from shapecorr.transfer import transfer_colors, transfer_texture

    if source.is_mesh and source.texture is not None and source.has_uv and target.is_mesh:
        return transfer_texture(match, source, target).shape, "texture transfer (shapecorr.transfer.transfer_texture)"
    if source.vertex_colors is None:
        return None, "the source has no texture or colours to transfer"
    colors = transfer_colors(match, source, target)
    shape = target.copy(vertex_colors=np.asarray(colors)[:, :3], uv=None, face_uv=None, texture=None)
    return shape, "vertex-colour transfer (shapecorr.transfer.transfer_colors)"


# ----------------------------------------------------------------------------- ground truth
@dataclass
class GroundTruth:
    """Pairs of corresponding vertices: ``source_idx[i]`` (shape 1) <-> ``target_idx[i]`` (shape 2)."""

    source_idx: np.ndarray
    target_idx: np.ndarray
    label: str

    def true_source_of(self, target_vertex: int) -> int | None:
        hits = np.flatnonzero(self.target_idx == target_vertex)
        return int(self.source_idx[hits[0]]) if hits.size else None

    def true_target_of(self, source_vertex: int) -> int | None:
        hits = np.flatnonzero(self.source_idx == source_vertex)
        return int(self.target_idx[hits[0]]) if hits.size else None


def load_ground_truth(source, target, *, gt_map=None, gt_source=None, gt_target=None) -> GroundTruth:
    """Ground truth from a 0-based map file (line j: source vertex for target vertex j) or
    from a pair of ``.vts`` files (line i: 1-based vertex of each shape for template point i).
    Raises :class:`shapecorr.eval.DatasetError` naming the file."""
    from shapecorr.eval import DatasetError, read_vts
    from shapecorr.eval.datasets import read_indices

    ns, nt = source.n_vertices, target.n_vertices
    if gt_map is not None:
        if Path(gt_map).suffix.lower() == ".vts":
            raise DatasetError(f"{gt_map}: a .vts file lists the vertices of one shape for template points; "
                               "give one per shape (File > Load ground truth .vts pair, or --gt-source and "
                               "--gt-target).")
        m = read_indices(gt_map, one_based=False)
        if len(m) != nt:
            raise DatasetError(f"{gt_map}: a ground-truth map needs one line per target vertex "
                               f"({nt}), it has {len(m)}; is it for other shapes (or the other direction)?")
        if m.max() >= ns:
            raise DatasetError(f"{gt_map}: entries must be 0-based source vertices (0..{ns - 1}); "
                               f"found {m.min()}..{m.max()}.")
        return GroundTruth(m, np.arange(nt), Path(gt_map).name)
    if gt_source is None or gt_target is None:
        raise DatasetError("ground truth needs either a map file or two .vts files (source and target).")
    a, b = read_vts(gt_source, ns), read_vts(gt_target, nt)
    if len(a) != len(b):
        raise DatasetError(f"{gt_source} has {len(a)} lines but {gt_target} has {len(b)}; "
                           ".vts files of a pair list the same template points.")
    return GroundTruth(a, b, f"{Path(gt_source).name} + {Path(gt_target).name}")


def find_ground_truth(source, target) -> dict | None:
    """Ground-truth files that sit beside the shapes, if any: ``<target>_gt.txt`` (a 0-based
    map) or ``corres/<name>.vts`` next to each shape (the FAUST_r / TOSCA_r layout), the latter
    only for shapes of one class (:func:`same_class`: TOSCA_r's cat and dog files each follow
    their own class's template, so their .vts say nothing about a cat-to-dog map; the menu
    loads them all the same)."""
    if target.path is None:
        return None
    cand = target.path.with_name(f"{target.path.stem}_gt.txt")
    if cand.exists():
        return {"gt_map": cand}
    if source.path is not None:
        vs = source.path.parent / "corres" / f"{source.path.stem}.vts"
        vt = target.path.parent / "corres" / f"{target.path.stem}.vts"
        if vs.exists() and vt.exists() and same_class(source.path.stem, target.path.stem):
            return {"gt_source": vs, "gt_target": vt}
    return None


def same_class(name1: str, name2: str) -> bool:
    """Whether two shape names differ only in their trailing number (``cat0``, ``cat7``;
    ``tr_reg_000``, ``tr_reg_091``): the naming of benchmark folders with one template per class."""
    return name1.rstrip("0123456789") == name2.rstrip("0123456789")


# ----------------------------------------------------------------------------- geodesic errors
def other_saved_match(directory):
    """The other feature model's match that ``shapecorr match`` saved beside a match whose two
    models disagreed (``DIR/other_model/``, named in ``DIR/report.json``), or None: none named
    (a folder left from an earlier run is not taken), or unreadable (logged, not the user's
    error: the match itself loaded)."""
    import json

    import shapecorr

    d = Path(directory)
    try:
        named = json.loads((d / "report.json").read_text())["outputs"].get("other_model")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not named:
        return None
    try:
        return shapecorr.Match.load(d / named)
    except (shapecorr.ShapecorrError, OSError) as exc:
        log.info("ignoring the other model's match beside %s: %s", d, exc)
        return None


def distances_for(shape, *, dense_max: int = 10_000):
    """Geodesic distances on ``shape`` (:class:`shapecorr.eval.GeodesicDistances`: the numbers of
    ``shapecorr eval``). A point cloud is normalized by the area its points represent (the
    total of its mass matrix) and never gets an all-pairs matrix."""
    if shape.is_mesh:
        return GeodesicDistances(shape, dense_max=dense_max)
    return _CloudDistances(shape, dense_max=0)


class _CloudDistances(GeodesicDistances):
    """Heat-method distances on a point cloud, normalized by the total of its mass matrix."""

    @property
    def area(self) -> float:
        from shapecorr.spectral import laplacian

        if not hasattr(self, "_area"):
            self._area = float(laplacian(self.shape)[1].sum())
        return self._area


def geodesic_errors(source, p2p_21: np.ndarray, gt: GroundTruth, *, distances=None, max_pairs: int = 20000,
                    progress=None, should_stop=None) -> dict:
    """Normalized geodesic error of each ground-truth pair, with :func:`shapecorr.eval.geodesic_errors`
    (in chunks, for progress and cancel), and per target vertex (mean of its pairs, NaN without
    one). Above ``max_pairs`` distinct source vertices a seeded sample of pairs is used."""
    from shapecorr.eval import geodesic_errors as eval_errors

    src_idx, tgt_idx = gt.source_idx, gt.target_idx
    uniq = np.unique(src_idx)
    sampled = len(uniq) > max_pairs
    if sampled:
        keep = np.sort(np.random.default_rng(0).choice(uniq, max_pairs, replace=False))
        mask = np.isin(src_idx, keep)
        src_idx, tgt_idx = src_idx[mask], tgt_idx[mask]
    dist = distances if distances is not None else distances_for(source)
    if dist.dense:
        dist.matrix()
    order = np.argsort(src_idx, kind="stable")  # rows of one source vertex together
    err = np.empty(len(src_idx), dtype=np.float64)
    chunks = np.array_split(order, max(1, min(50, len(order) // 100)))
    for k, rows in enumerate(chunks):
        if should_stop is not None and should_stop():
            raise InterruptedError("cancelled")
        err[rows] = eval_errors(None, p2p_21, src_idx, tgt_idx, distances=dist, points=rows)
        if progress is not None:
            progress((k + 1) / len(chunks))
    n = len(p2p_21)
    sums = np.bincount(tgt_idx, weights=err, minlength=n)
    counts = np.bincount(tgt_idx, minlength=n)
    per_vertex = np.full(n, np.nan)
    per_vertex[counts > 0] = sums[counts > 0] / counts[counts > 0]
    return {"pairs": err, "per_vertex": per_vertex, "mean": float(err.mean()) if err.size else float("nan"),
            "sampled": sampled, "distances": dist}


def point_error(distances, predicted: int, true: int) -> float:
    """Normalized geodesic distance between a predicted and a true vertex (the error measure:
    the row is the true vertex's, as in shapecorr.eval)."""
    return float(distances.between([int(true)], [int(predicted)])[0] / distances.sqrt_area)
