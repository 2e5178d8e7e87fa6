#!/usr/bin/env python
"""Benchmark: the learned initial map on point clouds, against meshes and the axiomatic init.

FAUST_r shapes are loaded as meshes and also turned into point clouds of the same vertices
(same order, so the ground truth applies unchanged). For each pair (the first ``--limit`` of
all test pairs 080..099 in order), three methods, each from a cold cache (a fresh cache folder
per pair and method, so eigenbases are computed every time):

* ``mesh_learned``: both shapes as meshes, default preset (the reference);
* ``pc_learned``: both as point clouds, default preset with ``init="learned"``;
* ``pc_axiomatic``: both as point clouds, ``init="axiomatic"`` (what point clouds got before).

Measures: mean geodesic error on the source MESH (x100, normalized by sqrt(area), see
../shared/data/README.md), symmetry flips (corres/*.sym.vts, shapecorr.eval's default: more
than 5 % of the points nearer the mirrored truth) and end-to-end time per pair.

    nice -n 10 python scripts/bench_pointcloud.py ../shared/data/FAUST_r/vtx_5k --out docs/bench/pointcloud_cpu
    python scripts/bench_pointcloud.py ../shared/data/FAUST_r/vtx_5k --sweep-k 8 12 16 --limit 4 --out /tmp/sweep

``--sweep-k K...`` instead compares neighbour counts for the point-cloud tangent gradients
(``shapecorr.learn.features.POINT_CLOUD_GRADIENT_K``): per k, the mean cosine between each
vertex's point-cloud features and its mesh features (1 = identical), and the ``pc_learned``
error on the pairs.

Writes OUT/bench.json (rewritten after every pair) and OUT/README.md (tables).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

METHODS = {
    "mesh_learned": ("mesh", "learned"),
    "pc_learned": ("point cloud", "learned"),
    "pc_axiomatic": ("point cloud", "axiomatic"),
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def as_point_cloud(mesh):
    from shapecorr import Shape

    return Shape(mesh.vertices, None, name=f"{mesh.name}_pc")


def machine() -> dict:
    """The machine, as ``bench_match.py`` records it (CPU, cores, versions, commit)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_match import machine_info

    return machine_info("cpu")


def run_method(name: str, m1, m2, preset: str) -> dict:
    import shapecorr

    kind, init = METHODS[name]
    s1, s2 = (m1, m2) if kind == "mesh" else (as_point_cloud(m1), as_point_cloud(m2))
    with tempfile.TemporaryDirectory(prefix="shapecorr-bench-pc-") as tmp:
        shapecorr.set_cache_dir(tmp)  # cold: every eigenbasis computed
        t0 = time.perf_counter()
        m = shapecorr.match(s1, s2, preset, init=init)
        t = time.perf_counter() - t0
    return {"p2p_21": m.p2p_21, "time_s": t, "init": m.info["init"]}


def summary(rows: list[dict]) -> dict:
    if not rows:
        return {"n_pairs": 0}
    err = np.array([r["mean_error_x100"] for r in rows])
    flips = np.array([bool(r["flipped"]) for r in rows])
    t = np.array([r["time_s"] for r in rows])
    return {"n_pairs": len(rows), "mean_error_x100": float(err.mean()), "median_error_x100": float(np.median(err)),
            "mean_error_unflipped_x100": float(err[~flips].mean()) if (~flips).any() else None,
            "flip_rate": float(flips.mean()), "n_flipped": int(flips.sum()),
            "time_mean_s": float(t.mean()), "time_median_s": float(np.median(t))}


def bench(args, ds, pairs, out: Path) -> dict:
    from shapecorr import load, set_cache_dir
    from shapecorr.eval import GeodesicDistances, evaluate_map

    rows = {m: [] for m in args.methods}
    result = {"command": " ".join([Path(sys.executable).name] + sys.argv), "dataset": str(ds.folder.resolve()),
              "preset": args.preset, "machine": machine(), "pairs": [list(p) for p in pairs],
              "methods": {m: f"{METHODS[m][0]}, init={METHODS[m][1]}" for m in args.methods}, "complete": False}
    dists = {}
    for i, (a, b) in enumerate(pairs, 1):
        m1, m2 = load(ds.shape_path(a)), load(ds.shape_path(b))
        if a not in dists:
            set_cache_dir(args.eval_cache)
            dists = {a: GeodesicDistances(m1)}  # geodesics on the source MESH
        gt1, gt2, sym2 = ds.gt(a, n_vertices=m1.n_vertices), ds.gt(b), ds.gt(b, sym=True)
        parts = []
        for method in args.methods:
            res = run_method(method, m1, m2, args.preset)
            set_cache_dir(args.eval_cache)
            r = evaluate_map(None, res["p2p_21"], gt1, gt2, sym_target=sym2, distances=dists[a])
            r.pop("errors")
            rows[method].append({"source": a, "target": b, "mean_error_x100": r["mean_error_x100"],
                                 "median_error_x100": r["median_error_x100"], "flipped": r["flipped"],
                                 "frac_nearer_sym": r["frac_nearer_sym"], "time_s": res["time_s"],
                                 "init": res["init"]})
            parts.append(f"{method} {r['mean_error_x100']:5.2f}{' FLIP' if r['flipped'] else ''} "
                         f"({res['time_s']:.1f}s)")
        log(f"[{i}/{len(pairs)}] {a} -> {b} | " + " | ".join(parts))
        result["rows"] = rows
        result["summary"] = {m: summary(rows[m]) for m in args.methods}
        (out / "bench.json").write_text(json.dumps(result, indent=2))
    result["complete"] = True
    (out / "bench.json").write_text(json.dumps(result, indent=2))
    return result


def sweep(args, ds, pairs, out: Path) -> dict:
    """Neighbour count of the point-cloud gradients: features vs the mesh's, and match error."""
    import shapecorr
    from shapecorr import load, set_cache_dir
    from shapecorr.eval import GeodesicDistances, evaluate_map
    from shapecorr.pipeline import load_preset, prepare
    from shapecorr.learn import features, load_feature_model, surface_operators

    settings = load_preset(args.preset, init="learned")
    model = load_feature_model(settings.feature_model)
    names = sorted({n for p in pairs for n in p})
    set_cache_dir(args.eval_cache)
    meshes = {n: load(ds.shape_path(n)) for n in names}
    prepared = {}
    for n in names:
        pm = prepare(meshes[n], settings)
        pp = prepare(as_point_cloud(meshes[n]), settings)
        fm = model.features(surface_operators(pm.shape, pm.evals, pm.evecs, pm.mass, pm.vertex_normals, model.config))
        prepared[n] = (pp, fm)
    result = {"command": " ".join([Path(sys.executable).name] + sys.argv), "machine": machine(),
              "pairs": [list(p) for p in pairs], "k": {}}
    default_k = features.POINT_CLOUD_GRADIENT_K
    try:
        for k in args.sweep_k:
            features.POINT_CLOUD_GRADIENT_K = k
            cos = []
            for n in names:
                pp, fm = prepared[n]
                fp = model.features(surface_operators(pp.shape, pp.evals, pp.evecs, pp.mass, pp.vertex_normals,
                                                      model.config))
                cos.append(float((fp * fm).sum(1).mean()))
            errs, flips = [], []
            for a, b in pairs:
                set_cache_dir(args.eval_cache)
                dist = GeodesicDistances(meshes[a])
                m = shapecorr.match(as_point_cloud(meshes[a]), as_point_cloud(meshes[b]), args.preset, init="learned")
                r = evaluate_map(None, m.p2p_21, ds.gt(a), ds.gt(b), sym_target=ds.gt(b, sym=True), distances=dist)
                errs.append(r["mean_error_x100"])
                flips.append(bool(r["flipped"]))
            result["k"][str(k)] = {"feature_cosine_to_mesh": float(np.mean(cos)), "mean_error_x100": float(np.mean(errs)),
                                   "errors_x100": errs, "n_flipped": int(sum(flips))}
            log(f"k={k}: cosine to mesh features {np.mean(cos):.3f}, pc_learned error {np.mean(errs):.2f}, "
                f"flips {sum(flips)}/{len(pairs)}")
            (out / "sweep.json").write_text(json.dumps(result, indent=2))
    finally:
        features.POINT_CLOUD_GRADIENT_K = default_k
    return result


def markdown(result: dict) -> str:
    lines = ["# Learned initial map on point clouds (CPU)", "",
             f"Command: `{result['command']}`  ", (f"Machine: {result['machine']['cpu']}, "
             f"{result['machine']['cores']} cores (shared), commit {result['machine']['git_commit']}  "),
             (f"Pairs: the first {len(result['pairs'])} of all FAUST_r test pairs (080..099 choose 2, in order); "
             "point clouds are the meshes' vertices (same order, same ground truth); errors are geodesic on "
             "the source mesh, x100, normalized by sqrt(area); a flip: more than 5 % of the points nearer the "
             "mirrored ground truth; time: end to end per pair from a cold cache."), "",
             "| method | pairs | mean error | median error | error w/o flips | flip rate | mean time / pair |",
             "|---|---|---|---|---|---|---|"]
    for m, s in result["summary"].items():
        if not s.get("n_pairs"):
            continue
        unf = "-" if s["mean_error_unflipped_x100"] is None else f"{s['mean_error_unflipped_x100']:.2f}"
        lines.append(f"| {m} ({result['methods'][m]}) | {s['n_pairs']} | {s['mean_error_x100']:.2f} "
                     f"| {s['median_error_x100']:.2f} | {unf} | {100 * s['flip_rate']:.0f} % ({s['n_flipped']}) "
                     f"| {s['time_mean_s']:.1f} s |")
    lines += ["", "Per pair (error x100, F = flipped):", "", "| pair | " + " | ".join(result["summary"]) + " |",
              "|---|" + "---|" * len(result["summary"])]
    rows = result["rows"]
    first = next(iter(rows.values()))
    for i, r in enumerate(first):
        cells = [f"{rows[m][i]['mean_error_x100']:.2f}{' F' if rows[m][i]['flipped'] else ''}" for m in rows]
        lines.append(f"| {r['source'][-3:]}-{r['target'][-3:]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", help="a FAUST_r-style folder (NAME.off + corres/NAME.vts, corres/NAME.sym.vts)")
    ap.add_argument("--out", default="bench_pointcloud", help="output folder (default: %(default)s)")
    ap.add_argument("--limit", type=int, default=20, help="number of pairs (default: %(default)s)")
    ap.add_argument("--first", type=int, default=80, help="first test shape index (default: %(default)s)")
    ap.add_argument("--last", type=int, default=99, help="last test shape index (default: %(default)s)")
    ap.add_argument("--preset", default="default", help="match preset (default: %(default)s)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--eval-cache", default="default",
                    help="cache folder for the evaluation's geodesic matrices (default: shapecorr's default cache)")
    ap.add_argument("--sweep-k", type=int, nargs="+", metavar="K",
                    help="instead of the benchmark, compare these neighbour counts for point-cloud gradients")
    args = ap.parse_args(argv)

    from shapecorr.eval.datasets import Dataset

    warnings.simplefilter("ignore")  # FAUST_r's duplicate-vertex notes
    ds = Dataset(args.folder)
    names = [f"tr_reg_{i:03d}" for i in range(args.first, args.last + 1)]
    pairs = list(itertools.combinations(names, 2))[: args.limit]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.sweep_k:
        sweep(args, ds, pairs, out)
        return 0
    result = bench(args, ds, pairs, out)
    (out / "README.md").write_text(markdown(result))
    log((out / "README.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
