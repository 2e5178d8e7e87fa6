"""The evaluation loop shared by ``shapecorr eval``, the benchmark scripts and calibration:
ground truth of a dataset's pairs, the source's geodesics kept for the next pairs, one row of
measures per map."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..core import Shape, load
from .datasets import Dataset, DatasetError
from .metrics import DEFAULT_THRESHOLDS, FLIP_FRACTION, GeodesicDistances, evaluate_map


class PairEvaluator:
    """Measures maps between shapes of a :class:`Dataset` against its ground truth.

    Shapes are loaded once and kept (the last ``keep_shapes``, so their derived data is
    reused); geodesic distances of the last ``keep_geodesics`` sources are kept (about 100 MB
    each at 5k vertices): evaluate pairs grouped by source. ``points``: evaluate on this many
    ground-truth points (a seeded random subset; None: all). ``dense_max``: sources up to this
    many vertices get the all-pairs geodesic matrix (cached on disk, cheap per pair when a
    source has many pairs); larger ones, or all with ``dense_max=0``, solve only the rows the
    evaluated points need (cheaper for a few points on a source used once).
    """

    def __init__(self, ds: Dataset, *, thresholds=DEFAULT_THRESHOLDS, flip_fraction: float = FLIP_FRACTION,
                 points: int | None = None, keep_shapes: int = 24, keep_geodesics: int = 2,
                 dense_max: int = 10_000):
        self.ds = ds
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        self.flip_fraction = flip_fraction
        self.points = points
        self._shapes: OrderedDict = OrderedDict()
        self._dists: OrderedDict = OrderedDict()
        self.keep_shapes, self.keep_geodesics = keep_shapes, keep_geodesics
        self.dense_max = dense_max

    def check(self, pairs) -> None:
        """Fail before any work on unknown shapes or missing or garbled ground truth."""
        self.ds.check_pairs(pairs)
        for name in sorted({n for pair in pairs for n in pair}):
            self.ds.gt(name)
            if self.ds.has_sym(name):
                self.ds.gt(name, sym=True)

    def shape(self, name: str) -> Shape:
        return _lru(self._shapes, name, lambda: load(self.ds.shape_path(name), warn=False), self.keep_shapes)

    def distances(self, name: str) -> GeodesicDistances:
        return _lru(self._dists, name, lambda: GeodesicDistances(self.shape(name), dense_max=self.dense_max),
                    self.keep_geodesics)

    def evaluate(self, a: str, b: str, p2p_21, p2p_12=None) -> tuple[dict, np.ndarray]:
        """One row of measures of the map ``a -> b`` (``p2p_21``: vertex of ``a`` for each vertex of
        ``b``) and its per-point errors."""
        dist = self.distances(a)
        n_a, n_b = dist.n, len(p2p_21)
        gt_a = self.ds.gt(a, n_vertices=n_a)
        gt_b = self.ds.gt(b, n_vertices=n_b)
        if len(gt_a) != len(gt_b):
            raise DatasetError(f"ground truths of {a} and {b} differ in length ({len(gt_a)} vs {len(gt_b)}); "
                               "are they from the same template?")
        sym_b = self.ds.gt(b, sym=True, n_vertices=n_b) if self.ds.has_sym(b) else None
        points = None
        if self.points and self.points < len(gt_a):
            points = np.sort(np.random.default_rng(0).choice(len(gt_a), self.points, replace=False))
        r = evaluate_map(None, p2p_21, gt_a, gt_b, sym_target=sym_b, p2p_12=p2p_12, n_target=n_b, distances=dist,
                         points=points, thresholds=self.thresholds, flip_fraction=self.flip_fraction)
        errors = r.pop("errors")
        return {"source": a, "target": b, "n_source": n_a, "n_target": n_b, **r}, errors


def _lru(store: OrderedDict, key, make, keep: int):
    if key not in store:
        store[key] = make()
        while len(store) > keep:
            store.popitem(last=False)
    store.move_to_end(key)
    return store[key]
