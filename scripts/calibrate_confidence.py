#!/usr/bin/env python
"""Calibrate the match confidence (shapecorr.fmap.confidence) on FAUST_r and TOSCA_r.

For every test pair of each dataset (FAUST_r: all 190 pairs of tr_reg_080..099; TOSCA_r: its
test_pairs.txt, 284 within-class pairs) and each preset (default, and axiomatic, which gives
many more flipped and otherwise wrong maps), the script

1. runs ``shapecorr.match`` (the maps are cached as ``CACHE/DATASET/PRESET/A__B.npz``);
2. measures the geodesic error on the source at a fixed, seeded subset of the ground-truth
   points (shapecorr.eval, x100; ``--points 0``: all of them) and the symmetric (mirrored) error;
3. computes the ground-truth-free signals of the map (shapecorr.fmap.confidence.match_signals)
   from the prepared shapes (``shapecorr.pipeline.prepare``, as the match used them) and the
   within-pair ROC AUC of the per-vertex confidence against vertex errors above 0.1;
4. appends the row to ``OUT/pairs.csv``: a rerun skips rows already there (same signals
   version), so an interrupted run resumes and a finished one refits in seconds.

Then it fits logistic models P(good | signals), good = mean error x100 <= 5, for each
feature set (meshes with descriptors; without descriptors; point clouds: without the
orientation signals; both missing), with honest held-out numbers:

* TOSCA_r classes in two groups (A: cat, horse, michael, wolf; B: centaur, david, dog, victoria):
  fit on FAUST_r + A, predict B; fit on FAUST_r + B, predict A;
* FAUST_r: fit on TOSCA_r only, predict FAUST_r.

The threshold of each held-out fit is chosen on its own training rows (the value below which
90 % of the bad training maps fall) and applied to the held-out rows. The final models are
fitted on every row; their coefficients and thresholds go to
``shapecorr/fmap/confidence_model.json`` (with the command), the numbers to
``OUT/summary.json`` and ``OUT/summary.md``, the picture (ROC curves and score histograms) to
``OUT/confidence.png``.

    nice -n 5 python scripts/calibrate_confidence.py                  # everything (~1 h on 2 cores)
    python scripts/calibrate_confidence.py --limit 10 --out /tmp/conf  # a smoke run
    python scripts/calibrate_confidence.py --no-run                    # refit on the maps there are
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import sys
import time
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
DEFAULT_DATASETS = {"FAUST_r": DATA / "FAUST_r" / "vtx_5k", "TOSCA_r": DATA / "TOSCA_r" / "TOSCA_Isometric" / "vtx_5k"}
PRESETS = ("default", "axiomatic")
BAD_ABOVE = 5.0  # mean geodesic error x100 above which a map is bad
TARGET_CATCH = 0.9  # the threshold catches this fraction of the bad training maps
TOSCA_GROUPS = {"A": ("cat", "horse", "michael", "wolf"), "B": ("centaur", "david", "dog", "victoria")}
#: the orientation gate: no trust at this smooth orientation score (as many faces reversed as kept)
GATE_FEATURE, GATE_LOW = "orientation_smooth", 0.0
VERTEX_BAD_ABOVE = 0.1
#: maps clearly good (error x100 below this) and clearly bad (above this), whose rates are also
#: reported: maps near the label's boundary (5) are ambiguous by construction
CLEAR_GOOD_BELOW, CLEAR_BAD_ABOVE = 4.0, 6.0
#: mean-error bands (x100) whose flag rates are reported
ERROR_BANDS = ((0, 3), (3, 5), (5, 8), (8, 15), (15, 1000))  # a vertex is wrong when its geodesic error is above 0.1 sqrt(area)
#: bumped when the signals change: rows of an older version are recomputed from the cached maps
SIGNALS_VERSION = 7

ID_COLS = ["dataset", "group", "preset", "source", "target"]
EVAL_COLS = ["error_x100", "median_error_x100", "error_sym_x100", "frac_nearer_sym", "flipped", "n_points",
             "time_s", "init", "axiomatic_fallback", "pipeline_orientation_score"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- pairs
def shape_class(name: str) -> str:
    """TOSCA class of a shape name (``cat10`` -> ``cat``); FAUST shapes are all ``human``."""
    if name.startswith("tr_reg_"):
        return "human"
    return name.rstrip("0123456789")


def group_of(dataset: str, name: str) -> str:
    if dataset == "FAUST_r":
        return "FAUST"
    cls = shape_class(name)
    for g, classes in TOSCA_GROUPS.items():
        if cls in classes:
            return g
    return "other"


def task_list(datasets: dict, presets, limit: int | None, seed: int | None = 0) -> list[tuple]:
    """(dataset name, Dataset, source, target, preset): each dataset's test pairs in a seeded
    random order (``seed`` None: the listed order), the datasets interleaved pair by pair, so
    that a partial run (or ``limit``) is a random sample of both."""
    import random

    from shapecorr.eval import Dataset

    per = []
    for name, folder in datasets.items():
        ds = Dataset(folder)
        pairs = ds.test_split()
        ds.check_pairs(pairs)
        if seed is not None:
            random.Random(seed).shuffle(pairs)
        per.append([(name, ds, a, b) for a, b in pairs[:limit]])
    tasks = []
    for i in range(max(len(p) for p in per)):
        for p in per:
            if i < len(p):
                tasks += [(*p[i], preset) for preset in presets]
    return tasks


# ----------------------------------------------------------------------------- matching and errors
class Evaluator:
    """Geodesic errors at a fixed subset of ground-truth points; the distance rows of up to
    ``keep`` sources are kept (20 MB each for 1000 points of a 5k shape), so that pairs in any
    order solve each source's rows once."""

    def __init__(self, n_points: int, keep: int = 200):
        self.n_points = n_points
        self.keep = keep
        self._dist: OrderedDict = OrderedDict()

    def distances(self, ds, name: str):
        from shapecorr import load
        from shapecorr.eval import GeodesicDistances

        key = (str(ds.folder), name)
        if key not in self._dist:
            self._dist[key] = GeodesicDistances(load(ds.shape_path(name)), dense_max=0)
            while len(self._dist) > self.keep:
                self._dist.popitem(last=False)
        self._dist.move_to_end(key)
        return self._dist[key]

    def points(self, n_gt: int) -> np.ndarray | None:
        if not self.n_points or self.n_points >= n_gt:
            return None
        return np.sort(np.random.default_rng(0).choice(n_gt, self.n_points, replace=False))

    def errors(self, ds, a: str, b: str, p2p_21: np.ndarray) -> dict:
        from shapecorr.eval import flip_stats, symmetric_errors

        dist = self.distances(ds, a)
        gt1, gt2 = ds.gt(a, n_vertices=dist.n), ds.gt(b)
        pts = self.points(len(gt1))
        sym2 = ds.gt(b, sym=True)
        err, err_sym = symmetric_errors(None, p2p_21, gt1, gt2, sym2, distances=dist, points=pts)
        idx = np.arange(len(gt1)) if pts is None else pts
        return {"errors": err, "errors_sym": err_sym, "gt_target_vertices": gt2[idx], **flip_stats(err, err_sym)}


def run_match(ds, a: str, b: str, preset: str) -> dict:
    import shapecorr

    t0 = time.perf_counter()
    m = shapecorr.match(str(ds.shape_path(a)), str(ds.shape_path(b)), preset=preset)
    info = {k: v for k, v in m.info.items() if k != "candidates"}
    return {"p2p_21": np.asarray(m.p2p_21), "p2p_12": np.asarray(m.p2p_12), "fmap_12": np.asarray(m.fmap_12),
            "time_s": time.perf_counter() - t0, "info": json.dumps(info)}


def cached_match(cache: Path, evaluator: Evaluator, dataset: str, ds, a: str, b: str, preset: str) -> dict:
    """The maps and errors of one pair and preset, from ``cache`` or computed (and saved)."""
    path = cache / dataset / preset / f"{a}__{b}.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    res = run_match(ds, a, b, preset)
    ev = evaluator.errors(ds, a, b, res["p2p_21"])
    res.update(errors=ev["errors"], errors_sym=ev["errors_sym"], gt_target_vertices=ev["gt_target_vertices"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **res)
    tmp.replace(path)
    return res


# ----------------------------------------------------------------------------- signals
class Preparer:
    """``shapecorr.pipeline.prepare`` of the shapes, as each preset's match prepared them (cached)."""

    def __init__(self, keep: int = 6):
        self.keep = keep
        self._prep: OrderedDict = OrderedDict()

    def __call__(self, ds, name: str, preset: str):
        from shapecorr import load
        from shapecorr.pipeline import load_preset, prepare

        key = (str(ds.folder), name, preset)
        if key not in self._prep:
            self._prep[key] = prepare(load(ds.shape_path(name)), load_preset(preset))
            while len(self._prep) > self.keep:
                self._prep.popitem(last=False)
        return self._prep[key]


def roc_auc(scores, labels) -> float:
    """Probability that a random positive (label 1) scores above a random negative (ties: 1/2)."""
    from scipy.stats import rankdata

    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    r = rankdata(s)
    return float((r[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def signal_row(P1, P2, res: dict) -> dict:
    from shapecorr.fmap.confidence import match_signals, per_vertex_confidence
    from shapecorr.pipeline import confidence_descriptors

    sig = match_signals(P1.shape, P2.shape, P1.evecs, P1.mass, P2.evecs, P2.mass, res["fmap_12"],
                        res["p2p_21"].astype(np.int64), res["p2p_12"].astype(np.int64), confidence_descriptors(P1),
                        confidence_descriptors(P2),
                        sign1=P1.sign, sign2=P2.sign)
    row = dict(sig.values)
    pv = per_vertex_confidence(sig)[res["gt_target_vertices"]]
    wrong = res["errors"] > VERTEX_BAD_ABOVE
    row["pv_auc"] = roc_auc(pv, ~wrong)  # right vertices should score higher
    row["pv_frac_wrong"] = float(wrong.mean())
    row["pv_mean_wrong"] = float(pv[wrong].mean()) if wrong.any() else float("nan")
    row["pv_mean_right"] = float(pv[~wrong].mean()) if (~wrong).any() else float("nan")
    row["signals_version"] = SIGNALS_VERSION
    return row


def eval_row(res: dict) -> dict:
    info = json.loads(str(res["info"]))
    err, err_sym = res["errors"], res["errors_sym"]
    from shapecorr.eval import flip_stats

    fs = flip_stats(err, err_sym)
    return {"error_x100": 100 * float(err.mean()), "median_error_x100": 100 * float(np.median(err)),
            "error_sym_x100": 100 * float(err_sym.mean()), "frac_nearer_sym": fs["frac_nearer_sym"],
            "flipped": fs["flipped"], "n_points": int(err.size), "time_s": float(res["time_s"]),
            "init": info.get("init"), "axiomatic_fallback": info.get("axiomatic_fallback"),
            "pipeline_orientation_score": info.get("orientation_score")}


# ----------------------------------------------------------------------------- CSV
def read_rows(path: Path) -> dict:
    if not path.exists():
        return {}
    rows = {}
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            rows[tuple(r[c] for c in ("dataset", "preset", "source", "target"))] = r
    return rows


def write_rows(path: Path, rows: dict) -> None:
    from shapecorr.fmap.confidence import SIGNAL_NAMES

    cols = ID_COLS + EVAL_COLS + list(SIGNAL_NAMES) + ["pv_auc", "pv_frac_wrong", "pv_mean_wrong", "pv_mean_right",
                                                        "signals_version"]
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for key in sorted(rows):
            w.writerow({c: _fmt(rows[key].get(c)) for c in cols})
    tmp.replace(path)


def _fmt(x):
    if x is None:
        return ""
    if isinstance(x, (float, np.floating)):
        return "" if not np.isfinite(x) else f"{float(x):.6g}"
    return x


def _num(x) -> float | None:
    return None if x in (None, "") else float(x)


# ----------------------------------------------------------------------------- fitting
def feature_sets() -> dict:
    """The models, richest first: what is measured on meshes with descriptors, without
    descriptors, on point clouds (no orientation), on point clouds without descriptors."""
    from shapecorr.fmap.confidence import MODEL_SIGNALS

    no_orient = tuple(s for s in MODEL_SIGNALS if not s.startswith("orientation"))
    return {
        "mesh": MODEL_SIGNALS,
        "mesh_no_descriptors": tuple(s for s in MODEL_SIGNALS if s != "descriptor_residual"),
        "point_cloud": no_orient,
        "point_cloud_no_descriptors": tuple(s for s in no_orient if s != "descriptor_residual"),
    }


def design(rows: list[dict], features) -> tuple[np.ndarray, np.ndarray]:
    from shapecorr.fmap.confidence import feature_vector

    X = np.array([feature_vector({k: _num(r.get(k)) for k in features}, features) for r in rows])
    y = np.array([float(r["error_x100"]) <= BAD_ABOVE for r in rows], dtype=np.float64)  # 1 = good
    return X, y


def mirrored(row: dict) -> dict:
    """A whole left-right flip of the map: the map composed with the target's left-right symmetry.

    That symmetry is (nearly) an isometry that reverses orientation, so the flipped map has
    the map's signals except the two orientation scores, which change sign (exactly so for the
    same map onto the target's mirror image, whose intrinsic geometry is the target's), and its
    error is the map's error against the mirrored ground truth. The pipeline's candidates
    rarely leave a whole flip; these rows check that the confidence catches one (they are not
    used for fitting).
    """
    out = dict(row, kind="mirrored", error_x100=row["error_sym_x100"], error_sym_x100=row["error_x100"])
    for name in ("orientation", "orientation_smooth"):
        x = _num(row.get(name))
        out[name] = "" if x is None else -x
    return out


def is_real(rows) -> np.ndarray:
    return np.array([r.get("kind", "map") == "map" for r in rows])


def fit_model(name: str, features, rows: list[dict], l2: float):
    """A logistic model fitted on the matched maps among ``rows``, with the orientation gate
    (see :class:`shapecorr.fmap.confidence.LogisticModel`) when it uses ``orientation_smooth``:
    full trust from the lowest smooth orientation score of a good map, none at
    :data:`GATE_LOW`. Its threshold catches :data:`TARGET_CATCH` of the bad maps."""
    from shapecorr.fmap.confidence import LogisticModel

    rows = [r for r, real in zip(rows, is_real(rows)) if real]
    X, y = design(rows, features)
    coef, b, mean, scale = fit_monotone(X, y, features, l2)
    lo, hi = X.min(0), X.max(0)  # the range seen (see LogisticModel)
    gate = None
    if GATE_FEATURE in features:
        good = X[y == 1, list(features).index(GATE_FEATURE)]
        gate = (GATE_FEATURE, GATE_LOW, float(good.min()))
    model = LogisticModel(name, tuple(features), mean, scale, coef, b, 0.5, lo, hi, gate)
    return dataclasses.replace(model, threshold=choose_threshold(model.predict(X), y))


def fit_monotone(X: np.ndarray, y: np.ndarray, features, l2: float):
    """:func:`~shapecorr.fmap.confidence.fit_logistic` whose coefficients all have the sign of
    :func:`~shapecorr.fmap.confidence.trust_direction` (a worse signal never raises the
    confidence): while one has the other sign, the most contrary one is set to 0 (its feature
    left out of the fit) and the others refitted. Returns ``(coef, intercept, mean, scale)``
    over all ``features``."""
    from shapecorr.fmap.confidence import fit_logistic, trust_direction

    sign = np.array([trust_direction(f) for f in features], dtype=np.float64)
    active = np.ones(len(features), dtype=bool)
    mean, scale = X.mean(0), X.std(0)
    scale[scale == 0] = 1.0
    while True:
        c, b, mean_a, scale_a = fit_logistic(X[:, active], y, l2=l2)
        coef = np.zeros(len(features))
        coef[active] = c
        contrary = coef * sign < 0
        if not contrary.any():
            mean[active], scale[active] = mean_a, scale_a
            return coef, b, mean, scale
        active[np.argmax(np.where(contrary, np.abs(coef), -1.0))] = False


def choose_threshold(p: np.ndarray, y: np.ndarray, catch: float = TARGET_CATCH) -> float:
    """The smallest threshold below which at least ``catch`` of the bad maps (y = 0) fall: just
    above the ``catch``-quantile of their confidences."""
    bad = np.sort(p[y == 0])
    if bad.size == 0:
        return 0.5
    i = min(int(np.ceil(catch * bad.size)) - 1, bad.size - 1)
    above = p[p > bad[i]]
    return float(0.5 * (bad[i] + above.min())) if above.size else float(bad[i] + 1e-6)


def rates(p: np.ndarray, y: np.ndarray, threshold: float) -> dict:
    """ROC AUC, catch rate (bad maps flagged) and false-flag rate (good maps flagged)."""
    flagged = p < threshold
    bad = y == 0
    return {"n": len(y), "n_bad": int(bad.sum()), "auc": roc_auc(p, y),
            "catch_rate": float(flagged[bad].mean()) if bad.any() else None,
            "false_flag_rate": float(flagged[~bad].mean()) if (~bad).any() else None}


def held_out_predictions(rows: list[dict], name: str, features, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """Each row's confidence and threshold from a model fitted without its group (see module doc)."""
    groups = np.array([r["group"] for r in rows])
    p = np.full(len(rows), np.nan)
    thr = np.full(len(rows), np.nan)
    folds = {"A": groups != "A", "B": groups != "B", "FAUST": groups != "FAUST"}
    for held, train in folds.items():
        test = groups == held
        if not test.any() or not train.any():
            continue
        train_rows = [r for r, t in zip(rows, train) if t]
        if len({float(r["error_x100"]) <= BAD_ABOVE for r in train_rows}) < 2:
            continue
        m = fit_model(name, features, train_rows, l2)
        X, _ = design([r for r, t in zip(rows, test) if t], features)
        p[test] = m.predict(X)
        thr[test] = m.threshold
    return p, thr


def breakdown(rows, p, thr, y) -> dict:
    """Rates per dataset, per preset and overall (``thr``: one threshold per row)."""
    out = {}
    real = is_real(rows)
    keys = {"all": real.copy()}
    for ds in sorted({r["dataset"] for r in rows}):
        keys[ds] = real & np.array([r["dataset"] == ds for r in rows])
        for pr in sorted({r["preset"] for r in rows}):
            keys[f"{ds} / {pr}"] = keys[ds] & np.array([r["preset"] == pr for r in rows])
    keys["mirrored maps (whole flips)"] = ~real
    for k, sel in keys.items():
        sel = sel & np.isfinite(p)
        if sel.any():
            flagged = p[sel] < thr[sel]
            r = rates(p[sel], y[sel], 0.0)
            bad = y[sel] == 0
            r["catch_rate"] = float(flagged[bad].mean()) if bad.any() else None
            r["false_flag_rate"] = float(flagged[~bad].mean()) if (~bad).any() else None
            # away from the label's boundary (extra information, not another target)
            err = np.array([float(x["error_x100"]) for x, s in zip(rows, sel) if s])
            clear_good, clear_bad = (err < CLEAR_GOOD_BELOW) & ~bad, err > CLEAR_BAD_ABOVE
            r["false_flag_rate_clear"] = float(flagged[clear_good].mean()) if clear_good.any() else None
            r["catch_rate_clear"] = float(flagged[clear_bad].mean()) if clear_bad.any() else None
            out[k] = r
    return out


def calibrate(rows: list[dict], l2: float) -> dict:
    """Final models (all rows) and held-out numbers for each feature set."""
    result = {"models": [], "held_out": {}, "in_sample": {}, "single_signals": {}}
    y = np.array([float(r["error_x100"]) <= BAD_ABOVE for r in rows], dtype=np.float64)
    for name, feats in feature_sets().items():
        m = fit_model(name, feats, rows, l2)
        result["models"].append(m)
        X, _ = design(rows, feats)
        p = m.predict(X)
        result["in_sample"][name] = breakdown(rows, p, np.full(len(rows), m.threshold), y)
        ph, th = held_out_predictions(rows, name, feats, l2)
        result["held_out"][name] = breakdown(rows, ph, th, y)
        if name == "mesh":
            real = is_real(rows)
            result["_pred"] = {"in_sample": p[real], "held_out": ph[real], "y": y[real], "threshold": m.threshold}
            err = np.array([float(r["error_x100"]) for r in rows])
            result["by_error"] = {
                f"{lo:g}-{hi:g}": {"n": int((sel := real & (err > lo) & (err <= hi)).sum()),
                                   "flagged_in_sample": float((p[sel] < m.threshold).mean()) if sel.any() else None,
                                   "flagged_held_out": float((ph[sel] < th[sel]).mean()) if sel.any() else None}
                for lo, hi in ERROR_BANDS}
    from shapecorr.fmap.confidence import SIGNAL_NAMES

    real = is_real(rows)
    for s in SIGNAL_NAMES:  # each signal alone, on the matched maps
        v = np.array([_num(r.get(s)) for r in rows], dtype=np.float64)
        ok = np.isfinite(v) & real
        result["single_signals"][s] = roc_auc(v[ok], y[ok])
    return result


# ----------------------------------------------------------------------------- outputs
def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pr = result["_pred"]
    y = pr["y"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    ax = axes[0]
    for key, label in (("in_sample", "fitted on all pairs"), ("held_out", "held out (group not seen)")):
        p = pr[key]
        ok = np.isfinite(p)
        ts = np.r_[-np.inf, np.unique(p[ok]), np.inf]
        bad = (y == 0) & ok
        good = (y == 1) & ok
        tpr = [(p[bad] < t).mean() for t in ts]
        fpr = [(p[good] < t).mean() for t in ts]
        ax.plot(fpr, tpr, label=f"{label}, AUC {roc_auc(p[ok], y[ok]):.3f}")
    thr = pr["threshold"]
    ax.plot([(pr["in_sample"][y == 1] < thr).mean()], [(pr["in_sample"][y == 0] < thr).mean()], "ko",
            label=f"threshold {thr:.2f}")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xlabel("good maps flagged (false-flag rate)")
    ax.set_ylabel(f"bad maps flagged (catch rate; bad = error x100 > {BAD_ABOVE:g})")
    ax.set_title("ROC: confidence below threshold flags a map")
    ax.legend(loc="lower right", fontsize=8)
    ax = axes[1]
    bins = np.linspace(0, 1, 41)
    p = pr["in_sample"]
    ax.hist(p[y == 1], bins=bins, alpha=0.6, label=f"good maps ({int((y == 1).sum())})", color="tab:green")
    ax.hist(p[y == 0], bins=bins, alpha=0.6, label=f"bad maps ({int((y == 0).sum())})", color="tab:red")
    ax.axvline(thr, color="k", ls="--", label=f"threshold {thr:.2f}")
    ax.set_xlabel("confidence (mesh model, all pairs)")
    ax.set_ylabel("maps")
    ax.legend(fontsize=8)
    ax.set_title("FAUST_r + TOSCA_r, default and axiomatic presets")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(summary: dict) -> str:
    lines = ["# Match confidence: calibration", "", f"Command: `{summary['command']}`", "",
             (f"{summary['n_rows']} matched maps ({summary['n_bad']} bad: mean geodesic error x100 > {BAD_ABOVE:g}), "
             f"and, to check, each of them flipped left-right as a whole ({summary['n_mirrored']} maps, see "
             "`mirrored` in the script; not used for fitting). "
             f"shapecorr maps from commit {summary['maps_commit']}; errors at {summary['points']} ground-truth points "
             "per pair. A map is flagged when its confidence is below the threshold; catch rate = bad maps "
             "flagged, false-flag rate = good maps flagged."), ""]

    def table(title, block):
        out = [f"## {title}", "",
               (f"| feature set | rows | n | bad | ROC AUC | catch | false flags | catch, error > {CLEAR_BAD_ABOVE:g} "
                f"| false flags, error < {CLEAR_GOOD_BELOW:g} |"),
               "|---|---|---|---|---|---|---|---|---|"]
        for name, per in block.items():
            for k, r in per.items():
                if " / " in k and name != "mesh":  # per-preset detail for the main model only
                    continue
                c = "n/a" if r["catch_rate"] is None else f"{100 * r['catch_rate']:.1f} %"
                f = "n/a" if r["false_flag_rate"] is None else f"{100 * r['false_flag_rate']:.1f} %"
                a = "n/a" if not np.isfinite(r["auc"]) else f"{r['auc']:.3f}"
                c6, f4 = (("n/a" if r.get(x) is None else f"{100 * r[x]:.1f} %")
                          for x in ("catch_rate_clear", "false_flag_rate_clear"))
                out.append(f"| {name} | {k} | {r['n']} | {r['n_bad']} | {a} | {c} | {f} | {c6} | {f4} |")
        return out + [""]

    lines += table("Held out (TOSCA_r class groups fitted without them, FAUST_r fitted on TOSCA_r only; "
                   "thresholds chosen on the training rows)", summary["held_out"])
    lines += table("Fitted on all maps (the shipped models, thresholds "
                   + ", ".join(f"{m['name']} {m['threshold']:.3f}" for m in summary["models"]) + ")",
                   summary["in_sample"])
    from shapecorr.fmap.confidence import LOG_SIGNALS, trust_direction

    mesh = summary["models"][0]
    lines += [f"## The shipped `{mesh['name']}` model", "",
              ("Logistic, on standardized features (log(x + 0.001) where marked), monotone: each coefficient has "
               "the sign of its signal's direction or is 0 (left out of the fit because, given the others, it "
               "pointed the wrong way)" + (f"; times the orientation gate: no trust at {mesh['gate'][0]} "
                                           f"<= {mesh['gate'][1]:g}, full from {mesh['gate'][2]:.3f}"
                                           if mesh.get("gate") else "") + "."), "",
              "| feature | better when | coefficient (per standard deviation) |", "|---|---|---|"]
    for f, c in zip(mesh["features"], mesh["coef"]):
        shown = f"log {f}" if f in LOG_SIGNALS else f
        lines.append(f"| {shown} | {'higher' if trust_direction(f) > 0 else 'lower'} | {c:+.3f} |")
    lines += [""]
    lines += ["## Maps flagged by the mesh model, by mean error x100", "",
              "| error | maps | flagged (fitted on all) | flagged (held out) |", "|---|---|---|---|"]
    for band, r in summary["flagged_by_error_x100"].items():
        if r["n"]:
            lines.append(f"| {band} | {r['n']} | {100 * r['flagged_in_sample']:.0f} % | {100 * r['flagged_held_out']:.0f} % |")
    lines += ["", "## Each signal alone (ROC AUC for separating good from bad; < 0.5: lower is better)", "",
              "| signal | AUC |", "|---|---|"]
    lines += [f"| {k} | {v:.3f} |" for k, v in summary["single_signals"].items()]
    pv = summary.get("per_vertex")
    if pv:
        lines += ["", (f"Per-vertex confidence vs vertex error > {VERTEX_BAD_ABOVE:g}: mean within-pair ROC AUC "
                       f"{pv['mean_within_pair_auc']:.3f} over {pv['n_pairs']} maps with both kinds of vertices.")]
    return "\n".join(lines) + "\n"


def write_outputs(rows: list[dict], args, command: str) -> dict:
    res = calibrate(rows, args.l2)
    models, pred = res["models"], res["_pred"]
    commit = (Path(args.maps_commit_file).read_text().strip() if args.maps_commit_file
              and Path(args.maps_commit_file).exists() else os.environ.get("SHAPECORR_MAPS_COMMIT", "working tree"))
    pv = np.array([_num(r.get("pv_auc")) for r, real in zip(rows, is_real(rows)) if real], dtype=np.float64)
    summary = {"command": command, "n_rows": int(is_real(rows).sum()), "n_bad": int((pred["y"] == 0).sum()),
               "n_mirrored": int((~is_real(rows)).sum()),
               "bad_above_x100": BAD_ABOVE, "target_catch": TARGET_CATCH, "maps_commit": commit,
               "points": "/".join(sorted({str(r.get("n_points")) for r in rows})), "tosca_groups": TOSCA_GROUPS,
               "models": [m.to_dict() for m in models], "held_out": res["held_out"], "in_sample": res["in_sample"],
               "single_signals": res["single_signals"], "flagged_by_error_x100": res["by_error"],
               "per_vertex": {"mean_within_pair_auc": float(np.nanmean(pv)) if np.isfinite(pv).any() else None,
                              "n_pairs": int(np.isfinite(pv).sum())}}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1, default=_json))
    (args.out / "summary.md").write_text(markdown(summary))
    plot(res, args.out / "confidence.png")
    if args.write_model:
        model = {"command": command, "label": f"good = mean geodesic error x100 <= {BAD_ABOVE:g}",
                 "target_catch": TARGET_CATCH, "maps_commit": commit, "n_maps": summary["n_rows"],
                 "n_mirrored": summary["n_mirrored"],
                 "models": [m.to_dict() for m in models]}
        Path(args.write_model).write_text(json.dumps(model, indent=1) + "\n")
    return summary


def _json(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))


# ----------------------------------------------------------------------------- main
def gather(args, tasks, rows: dict, csv_path: Path) -> None:
    evaluator = Evaluator(args.points)
    preparer = Preparer(keep=64)
    todo = [t for t in tasks if _stale(rows.get((t[0], t[4], t[2], t[3])))]
    done = len(tasks) - len(todo)
    if args.no_run:  # only the maps already cached (their signals recomputed), grouped by shape
        todo = sorted((t for t in todo if (args.cache / t[0] / t[4] / f"{t[2]}__{t[3]}.npz").exists()),
                      key=lambda t: (t[0], t[4], t[2], t[3]))
    log(f"calibrate: {len(tasks)} maps, {done} already in {csv_path}, {len(todo)} to do"
        + (" (cached maps whose signals are out of date)" if args.no_run else ""))
    t_start = time.perf_counter()
    for i, (dataset, ds, a, b, preset) in enumerate(todo, 1):
        res = cached_match(args.cache, evaluator, dataset, ds, a, b, preset)
        row = {"dataset": dataset, "group": group_of(dataset, a), "preset": preset, "source": a, "target": b,
               **eval_row(res), **signal_row(preparer(ds, a, preset), preparer(ds, b, preset), res)}
        rows[(dataset, preset, a, b)] = {k: _fmt(v) if not isinstance(v, str) else v for k, v in row.items()}
        if i % 5 == 0 or i == len(todo):
            write_rows(csv_path, rows)
        el = time.perf_counter() - t_start
        log(f"[{i}/{len(todo)}] {dataset} {preset:9s} {a} -> {b}: error {row['error_x100']:6.2f}"
            f"{' FLIP' if row['flipped'] else '     '} orient {_fmt(row['orientation_smooth'])!s:>8} "
            f"cycle {row['cycle_error']:.4f} | {el:.0f}s, ~{el / i * (len(todo) - i) / 60:.0f} min left")
    write_rows(csv_path, rows)


def _stale(row) -> bool:
    return row is None or str(row.get("signals_version")) != str(SIGNALS_VERSION)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faust", type=Path, default=DEFAULT_DATASETS["FAUST_r"], help="FAUST_r folder (%(default)s)")
    ap.add_argument("--tosca", type=Path, default=DEFAULT_DATASETS["TOSCA_r"], help="TOSCA_r folder (%(default)s)")
    ap.add_argument("--presets", default=",".join(PRESETS), help="presets to match with (%(default)s)")
    ap.add_argument("--limit", type=int, default=None, help="first N test pairs of each dataset (in --seed order)")
    ap.add_argument("--seed", type=int, default=0, help="order of the pairs (-1: as listed; default %(default)s)")
    ap.add_argument("--points", type=int, default=1000,
                    help="ground-truth points per pair for the error, seeded (0: all; default %(default)s)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "bench" / "confidence", help="results folder")
    ap.add_argument("--cache", type=Path, default=ROOT / "out" / "confidence_cache",
                    help="cached maps and errors per pair (%(default)s)")
    ap.add_argument("--no-run", action="store_true",
                    help="run no new match: refit on the rows in OUT/pairs.csv (stale signals recomputed from "
                         "the cached maps)")
    ap.add_argument("--no-fit", action="store_true", help="only gather rows")
    ap.add_argument("--l2", type=float, default=1.0, help="L2 penalty of the logistic fits (%(default)s)")
    ap.add_argument("--write-model", metavar="JSON", default=None,
                    help="write the fitted models here (the shipped file: shapecorr/fmap/confidence_model.json)")
    ap.add_argument("--maps-commit-file", default=None, help="file holding the commit the maps were made with")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    command = "python scripts/calibrate_confidence.py " + " ".join(argv if argv is not None else sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path = args.out / "pairs.csv"
    rows = read_rows(csv_path)
    datasets = {k: v for k, v in (("FAUST_r", args.faust), ("TOSCA_r", args.tosca)) if v}
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    tasks = task_list(datasets, presets, args.limit, None if args.seed < 0 else args.seed)
    try:
        gather(args, tasks, rows, csv_path)
    except KeyboardInterrupt:
        write_rows(csv_path, rows)
        log(f"calibrate: interrupted; {len(rows)} rows kept in {csv_path} (rerun to resume)")
        return 130
    if not args.no_run:  # the rows of this run's pairs (--limit)
        keys = {(t[0], t[4], t[2], t[3]) for t in tasks}
        rows = {k: r for k, r in rows.items() if k in keys}
    if args.no_fit:
        return 0
    use = [r for r in rows.values() if not _stale(r)]
    use += [mirrored(r) for r in use]
    if len({float(r["error_x100"]) <= BAD_ABOVE for r in use}) < 2:
        log("calibrate: need both good and bad maps to fit; run more pairs")
        return 1
    summary = write_outputs(use, args, command)
    print(markdown(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
