"""Geodesic error, PCK, symmetry flips and coverage of vertex maps (NumPy in, NumPy out)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..core import DatasetError, Shape

#: default PCK thresholds: normalized geodesic error in [0, 0.25] (the plot shows [0, 0.1] too)
DEFAULT_THRESHOLDS = np.linspace(0.0, 0.25, 251)

#: a map counts as flipped when more than this fraction of its points is nearer the mirrored
#: ground truth. pyfmaps on 10 FAUST_r test pairs: correct maps 0.9-1.7 % (points near the
#: symmetry plane), flipped ones 13-19 % (a pair of limbs swapped; errors 13.7-21.0, none of them
#: a whole-body flip)
FLIP_FRACTION = 0.05


class GeodesicDistances:
    """Geodesic distances on one shape, reusable across many maps (heat method, potpourri3d).

    Small shapes (``n <= dense_max`` vertices) use the all-pairs matrix of
    :func:`shapecorr.geodesic.geodesic_matrix` (float32, cached on disk unless ``cache=False``;
    100 MB for 5k vertices). Larger shapes never build an n x n matrix: distances are solved only
    from the source vertices a query needs, a block of rows at a time (at most ``max_block_bytes``
    in memory), and recently used rows are kept up to ``keep_bytes``.
    """

    def __init__(self, shape: Shape, *, dense_max: int = 10_000, cache: bool | None = None,
                 max_block_bytes: int = 256 * 2**20, keep_bytes: int = 512 * 2**20):
        # a private Shape, so that the (large) matrix does not stay memoized on the caller's shape
        self.shape = Shape(shape.vertices, shape.faces, name=shape.name, path=shape.path, validate=False)
        self.n = self.shape.n_vertices
        self.dense = self.n <= dense_max
        self.cache = cache
        self.max_block_bytes = max_block_bytes
        self.keep_bytes = keep_bytes
        self._D: np.ndarray | None = None
        self._solver = None
        self._rows: OrderedDict[int, np.ndarray] = OrderedDict()
        self.n_solves = 0

    @property
    def area(self) -> float:
        if self.shape.is_mesh:
            return float(self.shape.area)
        raise DatasetError(f"{self.shape.path or self.shape.name}: the geodesic error is measured on the source's "
                           "surface, and this source is a point cloud; evaluate on meshes (the error needs the "
                           "source's area and faces).")

    @property
    def sqrt_area(self) -> float:
        return float(np.sqrt(self.area))

    def matrix(self) -> np.ndarray:
        """The all-pairs matrix (dense mode only)."""
        if not self.dense:
            raise ValueError(f"{self.shape.name}: {self.n} vertices is above dense_max; no all-pairs matrix.")
        if self._D is None:
            from ..geodesic import geodesic_matrix

            self._D = geodesic_matrix(self.shape, cache=self.cache)
        return self._D

    def _row(self, s: int) -> np.ndarray:
        row = self._rows.get(s)
        if row is not None:
            self._rows.move_to_end(s)
            return row
        if self._solver is None:
            from ..geodesic import GeodesicSolver

            self._solver = GeodesicSolver(self.shape)
        row = np.asarray(self._solver.distances_from(int(s)), dtype=np.float32)
        self.n_solves += 1
        self._rows[s] = row
        while len(self._rows) * self.n * 4 > self.keep_bytes and len(self._rows) > 1:
            self._rows.popitem(last=False)
        return row

    def between(self, a, b) -> np.ndarray:
        """``d(a[i], b[i])`` for index arrays ``a``, ``b`` of equal length (float64)."""
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        if a.shape != b.shape:
            raise ValueError(f"index arrays differ in shape: {a.shape} vs {b.shape}.")
        for name, idx in (("a", a), ("b", b)):
            if idx.size and (idx.min() < 0 or idx.max() >= self.n):
                raise ValueError(f"vertex index out of range 0..{self.n - 1} in {name} "
                                 f"(min {idx.min()}, max {idx.max()}).")
        if self.dense:
            D = self.matrix()
            return D[a, b].astype(np.float64)
        out = np.empty(a.shape, dtype=np.float64)
        order = np.argsort(a, kind="stable")
        a_sorted = a[order]
        starts = np.flatnonzero(np.r_[True, a_sorted[1:] != a_sorted[:-1]])
        ends = np.r_[starts[1:], len(a_sorted)]
        for st, en in zip(starts, ends):
            s = int(a_sorted[st])
            row = self._row(s)
            sel = order[st:en]
            out[sel] = row[b[sel]]
        return out


def _distances_for(source, distances) -> GeodesicDistances:
    if distances is not None:
        return distances
    if source is None:
        raise ValueError("give the source shape (a Shape or a path) or its GeodesicDistances.")
    if not isinstance(source, Shape):
        from ..core import load

        source = load(source)
    return GeodesicDistances(source)


def _points(n_gt: int, points) -> np.ndarray:
    if points is None:
        return np.arange(n_gt)
    return np.asarray(points, dtype=np.int64)


def geodesic_errors(source_shape, p2p_21, gt_source, gt_target, *, distances: GeodesicDistances | None = None,
                    points=None, normalize: bool = True) -> np.ndarray:
    """Per-point geodesic error of a vertex map ``p2p_21`` (target vertex -> source vertex).

    ``err_i = d_source(p2p_21[gt_target[i]], gt_source[i]) / sqrt(area_source)`` for each
    ground-truth point ``i`` (or the subset ``points``), geodesics on the source (shape 1) by
    the heat method. Multiply the mean by 100 for the usual figure. Pass ``distances`` (a
    :class:`GeodesicDistances` of the source) to reuse geodesics across maps.
    """
    dist = _distances_for(source_shape, distances)
    p2p_21 = np.asarray(p2p_21, dtype=np.int64)
    gt_source = np.asarray(gt_source, dtype=np.int64)
    gt_target = np.asarray(gt_target, dtype=np.int64)
    if gt_source.shape != gt_target.shape:
        raise ValueError(f"ground truths differ in length: {gt_source.shape} vs {gt_target.shape}.")
    idx = _points(len(gt_source), points)
    tgt = gt_target[idx]
    if tgt.size and (tgt.min() < 0 or tgt.max() >= len(p2p_21)):
        raise ValueError(f"ground-truth target vertex {int(tgt.max())} is outside the map (length {len(p2p_21)}).")
    # the source point is the first argument: its distance rows are shared by every map
    d = dist.between(gt_source[idx], p2p_21[tgt])
    return d / dist.sqrt_area if normalize else d


def symmetric_errors(source_shape, p2p_21, gt_source, gt_target, sym_target, *,
                     distances: GeodesicDistances | None = None, points=None) -> tuple[np.ndarray, np.ndarray]:
    """Errors against the direct and the left-right mirrored ground truth: ``(err, err_sym)``.

    The mirrored ground truth pairs source vertex ``gt_source[i]`` with target vertex
    ``sym_target[i]`` (``corres/TARGET.sym.vts``); a map that swaps left and right has small
    ``err_sym`` and large ``err``.
    """
    dist = _distances_for(source_shape, distances)
    err = geodesic_errors(None, p2p_21, gt_source, gt_target, distances=dist, points=points)
    err_sym = geodesic_errors(None, p2p_21, gt_source, sym_target, distances=dist, points=points)
    return err, err_sym


def flip_stats(err, err_sym, min_fraction: float = FLIP_FRACTION) -> dict:
    """Symmetry-flip measures of one map from its errors against the direct and mirrored truth.

    ``flipped_whole``: the map is nearer the mirrored ground truth on average (lower mean error
    against it). ``frac_nearer_sym``: fraction of points strictly nearer their mirrored match.
    ``flipped``: whole flip, or a partial one, where more than ``min_fraction`` of the points
    are nearer their mirrored match (axiomatic maps often swap only the legs or the arms: e.g.
    pyfmaps on FAUST_r tr_reg_082 -> tr_reg_097 has error 16.7 with 16 % of the points nearer the
    mirrored truth, while its mean error against the mirrored truth is 31.6; correct maps have
    about 1-2 % of such points, those near the symmetry plane).
    """
    err = np.asarray(err, dtype=np.float64)
    err_sym = np.asarray(err_sym, dtype=np.float64)
    whole = bool(err_sym.mean() < err.mean())
    frac = float(np.mean(err_sym < err)) if err.size else float("nan")
    return {
        "flipped": bool(whole or frac > min_fraction),
        "flipped_whole": whole,
        "frac_nearer_sym": frac,
        "mean_error": float(err.mean()),
        "mean_error_sym": float(err_sym.mean()),
    }


def is_flipped(source_shape, p2p_21, gt_source, gt_target, sym_target, *, distances=None, points=None,
               min_fraction: float = FLIP_FRACTION) -> bool:
    """True when the map (or more than ``min_fraction`` of it) follows the left-right mirrored
    ground truth rather than the direct one (see :func:`flip_stats`)."""
    err, err_sym = symmetric_errors(source_shape, p2p_21, gt_source, gt_target, sym_target,
                                    distances=distances, points=points)
    return flip_stats(err, err_sym, min_fraction)["flipped"]


def flip_rate(flags) -> float:
    """Fraction of flipped maps; ``flags`` are booleans or :func:`flip_stats` dicts (None skipped)."""
    vals = [bool(f["flipped"] if isinstance(f, dict) else f) for f in flags if f is not None]
    return float(np.mean(vals)) if vals else float("nan")


def pck_curve(errors, thresholds=None) -> np.ndarray:
    """Fraction of points with ``error <= t`` for each threshold (non-decreasing, in [0, 1])."""
    t = DEFAULT_THRESHOLDS if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    e = np.sort(np.asarray(errors, dtype=np.float64).ravel())
    if e.size == 0:
        return np.full(t.shape, np.nan)
    return np.searchsorted(e, t, side="right") / e.size


def auc(thresholds, values) -> float:
    """Area under a PCK curve divided by the threshold range (1 = every error is 0)."""
    t = np.asarray(thresholds, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    span = t[-1] - t[0]
    if span <= 0:
        raise ValueError("thresholds must span a positive range.")
    return float(np.sum(0.5 * (v[1:] + v[:-1]) * np.diff(t)) / span)


def coverage(p2p, n_vertices: int) -> float:
    """Fraction of the ``n_vertices`` vertices that a vertex map hits (``p2p_21`` -> source)."""
    p2p = np.asarray(p2p, dtype=np.int64)
    if n_vertices <= 0:
        raise ValueError("n_vertices must be positive.")
    if p2p.size and (p2p.min() < 0 or p2p.max() >= n_vertices):
        raise ValueError(f"the map refers to vertex {int(p2p.max())} of a shape with {n_vertices} vertices.")
    return float(np.unique(p2p).size / n_vertices)


def evaluate_map(source_shape, p2p_21, gt_source, gt_target, *, sym_target=None, p2p_12=None,
                 n_target: int | None = None, distances: GeodesicDistances | None = None, points=None,
                 thresholds=None, flip_fraction: float = FLIP_FRACTION) -> dict:
    """Every measure of one map, JSON-friendly; errors are x100 (``*_x100``), ``errors`` raw."""
    dist = _distances_for(source_shape, distances)
    t = DEFAULT_THRESHOLDS if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    err = geodesic_errors(None, p2p_21, gt_source, gt_target, distances=dist, points=points)
    pck = pck_curve(err, t)
    out = {
        "mean_error_x100": 100 * float(err.mean()),
        "median_error_x100": 100 * float(np.median(err)),
        "auc": auc(t, pck),
        "coverage_21": coverage(p2p_21, dist.n),
        "n_points": int(err.size),
    }
    if p2p_12 is not None:
        out["coverage_12"] = coverage(p2p_12, n_target if n_target is not None else len(p2p_21))
    if sym_target is not None:
        err_sym = geodesic_errors(None, p2p_21, gt_source, sym_target, distances=dist, points=points)
        fs = flip_stats(err, err_sym, flip_fraction)
        out.update(flipped=fs["flipped"], flipped_whole=fs["flipped_whole"], frac_nearer_sym=fs["frac_nearer_sym"],
                   mean_error_sym_x100=100 * fs["mean_error_sym"])
    else:
        out.update(flipped=None, flipped_whole=None, frac_nearer_sym=None, mean_error_sym_x100=None)
    out["errors"] = err
    return out


def summarize_pairs(rows: list[dict], errors: list[np.ndarray], thresholds: np.ndarray) -> dict:
    """Dataset-level summary of per-pair results (as made by :func:`evaluate_map`).

    ``rows`` hold ``mean_error_x100``, ``flipped``, ``flipped_whole``, ``frac_nearer_sym``,
    ``coverage_21``, ``coverage_12``; ``errors`` are the per-point errors of each pair. Returns
    mean/median errors (x100), flip rates, PCK over ``thresholds`` with its AUC (whole range and
    up to 0.1) and mean coverages. Used by ``shapecorr eval`` and the benchmark script.
    """
    thresholds = np.asarray(thresholds, dtype=np.float64)
    errs = np.concatenate(errors)
    pck = pck_curve(errs, thresholds)
    return {**summarize_rows(rows, thresholds, pck), "pointwise_median_error_x100": float(100 * np.median(errs)),
            "pck_values": pck}


def summarize_rows(rows: list[dict], thresholds: np.ndarray, pck: np.ndarray) -> dict:
    """The figures of :func:`summarize_pairs` that come from the per-pair ``rows`` alone, with the
    AUCs of a given pointwise ``pck`` curve over ``thresholds`` (e.g. merged from shards whose
    per-point errors were not kept)."""
    thresholds, pck = np.asarray(thresholds, dtype=np.float64), np.asarray(pck, dtype=np.float64)
    means = np.array([r["mean_error_x100"] for r in rows])
    flips = [bool(r["flipped"]) for r in rows if r.get("flipped") is not None]
    whole = [bool(r["flipped_whole"]) for r in rows if r.get("flipped_whole") is not None]
    near = [r["frac_nearer_sym"] for r in rows if r.get("frac_nearer_sym") is not None]
    unflipped = [r["mean_error_x100"] for r in rows if not r.get("flipped")]
    t01 = thresholds <= 0.1 + 1e-12
    return {
        "n_pairs": len(rows),
        "mean_error_x100": float(means.mean()),
        "median_error_x100": float(np.median(means)),
        "mean_error_unflipped_x100": float(np.mean(unflipped)) if unflipped else None,
        "flip_rate": float(np.mean(flips)) if flips else None,
        "n_flipped": int(np.sum(flips)) if flips else None,
        "whole_flip_rate": float(np.mean(whole)) if whole else None,
        "n_flipped_whole": int(np.sum(whole)) if whole else None,
        "frac_nearer_sym_mean": float(np.mean(near)) if near else None,
        "auc": auc(thresholds, pck),
        "auc_0.1": auc(thresholds[t01], pck[t01]),
        "coverage_21_mean": float(np.mean([r["coverage_21"] for r in rows])),
        "coverage_12_mean": float(np.mean([r["coverage_12"] for r in rows])),
    }
