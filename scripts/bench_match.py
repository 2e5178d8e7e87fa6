#!/usr/bin/env python
"""Benchmark: shapecorr's default preset against pyfmaps (pyFM) on a FAUST_r/TOSCA_r-style folder.

Both methods run in this process on the same pairs. For each pair and method: the vertex maps
both ways, computed from the files with a cold cache (ours: a fresh cache folder per pair; pyfmaps
has no cache) and, for ours, again with the cache populated (warm); then the geodesic error on the
source (x100, normalized by sqrt(area)), symmetry flips (corres/*.sym.vts), PCK/AUC and coverage.

pyfmaps runs with its README quickstart settings: meshes loaded with area_normalize=True,
center=True; preprocess(descr_type="WKS", subsample_step=2); fit(K=30, w_descr=1, w_lap=0.1,
w_dcomm=1, w_orient=1); zoomout_refine(nit=16, step=5); p2p_21 = get_p2p(FM); the reverse map
p2p_12 from FM^T (one nearest-neighbour query).

    python scripts/bench_match.py ../shared/data/FAUST_r/vtx_5k                # 190 test pairs
    python scripts/bench_match.py ../shared/data/FAUST_r/vtx_5k --limit 10 --out bench_smoke
    python scripts/bench_match.py ../shared/data/TOSCA_r/TOSCA_Isometric/vtx_5k  # test_pairs.txt
    python scripts/bench_match.py ../shared/data/FAUST_r/vtx_5k --scale --no-pairs   # 5k/20k/80k, ours

Reference check: `--shuffle 0 --limit 40 --methods pyfmaps` gives the "40 random test pairs" of
../shared/data/README.md (its listed pairs are the first of that order: 092->098 1.13, 082->097
16.69, 085->093 1.86, 092->096 2.03, 094->095 17.50, 090->098 1.09 were reproduced here).

Writes OUT/bench.json (rewritten after every pair, "complete": false until the end),
OUT/bench_results.md (tables), OUT/pairs.csv and OUT/pck.png (+ OUT/scale.* with --scale).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

METHODS = ("ours", "pyfmaps")
LABELS = {"ours": "shapecorr (default)", "pyfmaps": "pyfmaps (README quickstart)"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- the two methods
def run_ours(path1, path2, preset: str, device: str, cache_dir) -> dict:
    """shapecorr from the files to both maps, with ``cache_dir`` as the cache folder."""
    import shapecorr

    shapecorr.set_cache_dir(cache_dir)
    t0 = time.perf_counter()
    m = shapecorr.match(str(path1), str(path2), preset=preset, device=device)
    t = time.perf_counter() - t0
    return {"p2p_21": np.asarray(m.p2p_21), "p2p_12": np.asarray(m.p2p_12), "time_s": t,
            "timings": m.timings, "info": {k: v for k, v in m.info.items() if k != "candidates"}}


def run_pyfmaps(path1, path2) -> dict:
    """pyfmaps with its README quickstart settings, from the files to both maps."""
    from pyFM import spectral
    from pyFM.functional import FunctionalMapping
    from pyFM.mesh import TriMesh

    t0 = time.perf_counter()
    m1 = TriMesh.load(str(path1), area_normalize=True, center=True)
    m2 = TriMesh.load(str(path2), area_normalize=True, center=True)
    model = FunctionalMapping(m1, m2)
    model.preprocess(descr_type="WKS", subsample_step=2)
    model.fit(K=30, w_descr=1e0, w_lap=1e-1, w_dcomm=1e0, w_orient=1e0)
    FM = model.zoomout_refine(nit=16, step=5)
    p2p_21 = model.get_p2p(FM)
    t21 = time.perf_counter() - t0
    p2p_12 = spectral.mesh_FM_to_p2p(FM.T, model.mesh2, model.mesh1)  # reverse map from FM^T
    t = time.perf_counter() - t0
    return {"p2p_21": np.asarray(p2p_21), "p2p_12": np.asarray(p2p_12), "time_s": t,
            "timings": {"to_p2p_21": round(t21, 4), "p2p_12": round(t - t21, 4), "total": round(t, 4)}}


# ----------------------------------------------------------------------------- helpers
def machine_info(device: str) -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "device": device}
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        info["memory_gb"] = round(mem / 2**30, 1)
    except (ValueError, OSError):
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if device == "cuda" and torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    try:
        from importlib.metadata import version

        info["pyfmaps"] = version("pyfmaps")
    except Exception:
        info["pyfmaps"] = None
    try:
        import shapecorr

        info["shapecorr"] = shapecorr.__version__
        info["git_commit"] = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                            capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        info["git_dirty"] = bool(dirty)
    except Exception:
        pass
    return info


def jsonable(o):
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [jsonable(v) for v in o]
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, float) and not np.isfinite(o):
        return None
    return o


def write_json(path: Path, data) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(jsonable(data), indent=1))
    tmp.replace(path)


PAIR_COLUMNS = ["method", "source", "target", "mean_error_x100", "median_error_x100", "mean_error_sym_x100",
                "flipped", "flipped_whole", "frac_nearer_sym", "auc", "coverage_21", "coverage_12", "time_s",
                "time_warm_s"]


def write_pairs_csv(path: Path, rows_by_method: dict[str, list[dict]]) -> None:
    """OUT/pairs.csv: one row per method and pair (:data:`PAIR_COLUMNS`)."""
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=PAIR_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for m, rows in rows_by_method.items():
            for r in rows:
                w.writerow({"method": m, **r})


def fmt(x, nd=2, pct=False):
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "n/a"
    return f"{100 * x:.{max(nd - 1, 0)}f} %" if pct else f"{x:.{nd}f}"


def summarize(rows: list[dict], errors: list[np.ndarray], method: str, thresholds: np.ndarray) -> dict:
    from shapecorr.eval import summarize_pairs

    if not rows:
        return {"n_pairs": 0}
    out = summarize_pairs(rows, errors, thresholds)
    pck = out.pop("pck_values")
    out["auc_0.25"] = out["auc"]
    t = np.array([r["time_s"] for r in rows])
    out.update({
        "time_cold_median_s": float(np.median(t)),
        "time_cold_mean_s": float(t.mean()),
        "pck": {"thresholds": thresholds, "values": pck},
    })
    if method == "ours":
        tw = [r["time_warm_s"] for r in rows if r.get("time_warm_s") is not None]
        out["time_warm_median_s"] = float(np.median(tw)) if tw else None
        stages = {}
        for r in rows:
            for k, v in (r.get("timings") or {}).items():
                stages.setdefault(k, []).append(v)
        out["stage_median_s"] = {k: float(np.median(v)) for k, v in stages.items()}
    return out


# ----------------------------------------------------------------------------- accuracy benchmark
def bench_pairs(args, ds, pairs, out: Path, machine: dict) -> dict:
    from shapecorr import set_cache_dir
    from shapecorr.eval import DEFAULT_THRESHOLDS, PairEvaluator, plot_pck

    methods = args.methods
    eval_cache = Path(args.eval_cache) if args.eval_cache else None
    rows = {m: [] for m in methods}
    errors = {m: [] for m in methods}
    thresholds = DEFAULT_THRESHOLDS
    evaluator = PairEvaluator(ds, thresholds=thresholds, flip_fraction=args.flip_fraction)
    result = {"command": " ".join([Path(sys.executable).name] + sys.argv), "dataset": str(ds.folder.resolve()),
              "pairs_source": args.pairs_source, "n_pairs": len(pairs), "machine": machine,
              "preset": args.preset, "device": args.device, "flip_fraction": args.flip_fraction,
              "methods": {m: LABELS[m] for m in methods}, "complete": False}
    args.partial = result  # what main() reports if the run is interrupted
    t_start = time.perf_counter()
    width = len(str(len(pairs)))
    for i, (a, b) in enumerate(pairs, 1):
        p1, p2 = ds.shape_path(a), ds.shape_path(b)
        parts = []
        for method in methods:
            if method == "ours":
                with tempfile.TemporaryDirectory(prefix="shapecorr-bench-cache-") as tmp:
                    res = run_ours(p1, p2, args.preset, args.device, tmp)  # cold: empty cache folder
                    if not args.no_warm:
                        warm = run_ours(p1, p2, args.preset, args.device, tmp)  # warm: cache populated
                        res["time_warm_s"] = warm["time_s"]
                        res["timings_warm"] = warm["timings"]
            else:
                res = run_pyfmaps(p1, p2)
            set_cache_dir("default" if eval_cache is None else eval_cache)  # geodesics cached apart
            r, errs = evaluator.evaluate(a, b, res["p2p_21"], res["p2p_12"])
            errors[method].append(errs)
            row = {**r, "time_s": res["time_s"],
                   "time_warm_s": res.get("time_warm_s"), "timings": res["timings"]}
            if "info" in res:
                row["info"] = res["info"]
            rows[method].append(row)
            if args.save_maps:
                d = out / "maps" / method
                d.mkdir(parents=True, exist_ok=True)
                np.savetxt(d / f"{a}__{b}.p2p_21.txt", res["p2p_21"], fmt="%d")
            flip = " FLIP" if r["flipped"] else ""
            warm_txt = f", warm {res['time_warm_s']:.1f}s" if res.get("time_warm_s") is not None else ""
            parts.append(f"{method} {r['mean_error_x100']:5.2f}{flip} ({res['time_s']:.1f}s{warm_txt})")
        log(f"[{i:{width}d}/{len(pairs)}] {a} -> {b} | " + " | ".join(parts))
        result["pairs"] = rows
        result["summary"] = {m: summarize(rows[m], errors[m], m, thresholds) for m in methods}
        result["wall_time_s"] = round(time.perf_counter() - t_start, 1)
        write_json(out / "bench.json", result)

    result["complete"] = True
    s = result["summary"]
    if "ours" in s and "pyfmaps" in s and s["pyfmaps"].get("n_pairs"):
        s["time_ratio_ours_over_pyfmaps"] = s["ours"]["time_cold_median_s"] / s["pyfmaps"]["time_cold_median_s"]
    write_json(out / "bench.json", result)
    write_pairs_csv(out / "pairs.csv", {m: rows[m] for m in methods})
    plot_pck({LABELS[m]: (thresholds, s[m]["pck"]["values"]) for m in methods if s[m].get("n_pairs")},
             out / "pck.png", x_max=0.1, title=f"{ds.folder.parent.name}/{ds.folder.name}: {len(pairs)} pairs")
    return result


def markdown(result: dict | None, scale: dict | None, machine: dict, command: str) -> str:
    lines = ["# shapecorr vs pyfmaps", "", f"Command: `{command}`", "",
             f"Machine: {machine.get('cpu')}, {machine.get('cores')} cores, {machine.get('memory_gb')} GB RAM; "
             f"device {machine.get('device')}{' (' + machine['gpu'] + ')' if machine.get('gpu') else ''}; "
             f"torch {machine.get('torch')} ({machine.get('torch_threads')} threads), pyfmaps {machine.get('pyfmaps')}, "
             f"shapecorr {machine.get('shapecorr')} @ {machine.get('git_commit')}"
             f"{' (uncommitted changes)' if machine.get('git_dirty') else ''}.", ""]
    if result:
        s = result["summary"]
        lines += [f"Dataset `{result['dataset']}`, {result['n_pairs']} pairs ({result['pairs_source']}); "
                  "error = geodesic distance on the source / sqrt(source area), x100, map p2p_21 (source = first "
                  "name). Flipped: the map (or more than "
                  f"{100 * result['flip_fraction']:.0f} % of its points) is nearer the left-right mirrored ground "
                  "truth; whole flips: mean error against the mirrored truth is lower. Time: end to end per pair, "
                  "from the files to both maps; cold = empty cache (ours) / always (pyfmaps), warm = cache "
                  "populated.", "",
                  "| method | pairs | mean error | median error | error w/o flips | flip rate | whole flips "
                  "| AUC@0.1 | AUC@0.25 | coverage 2->1 | median time cold | median time warm |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for m, label in result["methods"].items():
            x = s.get(m, {})
            if not x.get("n_pairs"):
                continue
            lines.append(
                f"| {label} | {x['n_pairs']} | {fmt(x['mean_error_x100'])} | {fmt(x['median_error_x100'])} "
                f"| {fmt(x['mean_error_unflipped_x100'])} | {fmt(x['flip_rate'], pct=True)} ({x['n_flipped']}) "
                f"| {fmt(x['whole_flip_rate'], pct=True)} | {fmt(x['auc_0.1'], 3)} | {fmt(x['auc_0.25'], 3)} "
                f"| {fmt(x['coverage_21_mean'], 3)} | {fmt(x['time_cold_median_s'])} s "
                f"| {fmt(x.get('time_warm_median_s'))}{' s' if x.get('time_warm_median_s') else ''} |")
        if "time_ratio_ours_over_pyfmaps" in s:
            lines += ["", f"Median cold time ours / pyfmaps: **{s['time_ratio_ours_over_pyfmaps']:.2f}** "
                          f"(target <= 0.33)."]
        if s.get("ours", {}).get("stage_median_s"):
            st = s["ours"]["stage_median_s"]
            lines += ["", "Ours, median cold time per stage (s): " + ", ".join(f"{k} {v:.2f}" for k, v in st.items())]
        lines.append("")
    if scale:
        lines += [f"## Scale (subdivided {scale['dataset_name']} shapes; midpoint subdivision keeps the original "
                  "vertices first, so the ground truth applies)", "",
                  f"Each match runs in its own process with an empty cache; time = files to both maps inside the "
                  f"process (process wall time includes start-up and imports); peak memory = the process's peak resident memory (VmHWM). "
                  f"Error on {scale['n_points']} ground-truth points, the same at every level and measured with the "
                  f"same geodesics at every level: those of the finest (level {scale.get('eval_level', 0)}) source "
                  "mesh, where a coarser level's vertex keeps its number.", "",
                  "| method | vertices | pairs | median time | median process time | peak memory | mean error | flips |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in scale["summary"]:
            lines.append(f"| {LABELS[r['method']]} | {r['n_vertices']} | {r['n_pairs']} | {fmt(r['time_median_s'])} s "
                         f"| {fmt(r['process_median_s'])} s | {r['peak_rss_mb_max']:.0f} MB "
                         f"| {fmt(r['mean_error_x100'])} | {r['n_flipped']}/{r['n_pairs']} |")
        lines.append("")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- scale benchmark
def peak_rss_kb() -> float:
    """This process's peak resident memory in kB: VmHWM (the high-water mark of its own
    address space) where /proc exists. Not ru_maxrss: across the fork/exec that starts a worker,
    Linux carries the parent's peak into the child's ru_maxrss, so a parent holding large
    geodesic tables would set a floor under every worker's number."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1])
    except OSError:
        pass
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # kilobytes on Linux


def worker(argv) -> int:
    """Child process of --scale: one match from the files, maps saved, time and peak memory printed."""
    ap = argparse.ArgumentParser()
    ap.add_argument("method")
    ap.add_argument("src")
    ap.add_argument("tgt")
    ap.add_argument("out")
    ap.add_argument("--preset", default="default")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory(prefix="shapecorr-scale-cache-") as tmp:
        res = run_ours(a.src, a.tgt, a.preset, a.device, tmp) if a.method == "ours" else run_pyfmaps(a.src, a.tgt)
    np.save(Path(a.out) / "p2p_21.npy", res["p2p_21"])
    np.save(Path(a.out) / "p2p_12.npy", res["p2p_12"])
    rss_kb = peak_rss_kb()
    print(json.dumps({"time_s": res["time_s"], "timings": res["timings"], "peak_rss_mb": rss_kb / 1024}))
    return 0


def bench_scale_impl(args, ds, pairs, out: Path) -> dict:
    from shapecorr import load, set_cache_dir
    from shapecorr.eval import GeodesicDistances, evaluate_map
    from subdivide_faust import subdivide_dataset

    pairs = pairs[: args.scale_pairs]
    names = sorted({n for p in pairs for n in p})
    levels = [lv for lv in args.scale_levels if lv > 0]
    workdir = Path(tempfile.mkdtemp(prefix="shapecorr-scale-"))
    rows = []
    try:
        log(f"scale: subdividing {len(names)} shapes (levels {levels}) into {workdir}")
        folders = {0: ds.folder} if 0 in args.scale_levels else {}
        folders.update(subdivide_dataset(ds.folder, workdir, tuple(levels), names, log=log) if levels else {})
        rng = np.random.default_rng(0)
        n_gt = len(ds.gt(pairs[0][0]))
        points = np.sort(rng.choice(n_gt, size=min(args.scale_points, n_gt), replace=False))
        # every level's maps are measured on the finest level's source mesh: subdivision keeps a
        # coarser level's vertices first, so their numbers are valid there, and the metric (heat
        # method geodesics, which are more accurate on finer meshes) is then the same for all levels
        eval_level = max(folders)
        fine_dist: dict[str, GeodesicDistances] = {}
        for level in sorted(folders):
            folder = folders[level]
            for a, b in pairs:
                p1 = folder / ds.shape_path(a).name
                p2 = folder / ds.shape_path(b).name
                for method in args.scale_methods:
                    with tempfile.TemporaryDirectory(prefix="shapecorr-scale-out-") as tmp:
                        cmd = [sys.executable, str(Path(__file__).resolve()), "--_worker", method, str(p1), str(p2),
                               tmp, "--preset", args.preset, "--device", args.device]
                        t0 = time.perf_counter()
                        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.scale_timeout)
                        wall = time.perf_counter() - t0
                        if proc.returncode != 0:
                            log(f"scale: {method} {a} -> {b} level {level} failed:\n{proc.stderr[-2000:]}")
                            rows.append({"method": method, "level": level, "source": a, "target": b,
                                         "failed": True, "stderr": proc.stderr[-2000:]})
                            continue
                        info = json.loads(proc.stdout.strip().splitlines()[-1])
                        p2p_21 = np.load(Path(tmp) / "p2p_21.npy")
                        p2p_12 = np.load(Path(tmp) / "p2p_12.npy")
                    set_cache_dir("default" if not args.eval_cache else args.eval_cache)
                    if a not in fine_dist:
                        fine_dist[a] = GeodesicDistances(load(folders[eval_level] / ds.shape_path(a).name, warn=False))
                    dist = fine_dist[a]
                    t0 = time.perf_counter()
                    r = evaluate_map(None, p2p_21, ds.gt(a), ds.gt(b), sym_target=ds.gt(b, True) if ds.has_sym(b) else None,
                                     p2p_12=p2p_12, n_target=len(p2p_21), distances=dist, points=points,
                                     flip_fraction=args.flip_fraction)
                    r.pop("errors")
                    n_source = len(p2p_12)
                    row = {"method": method, "level": level, "source": a, "target": b, "n_source": n_source,
                           "n_target": len(p2p_21), **r, "time_s": info["time_s"], "process_s": wall,
                           "peak_rss_mb": info["peak_rss_mb"], "timings": info["timings"],
                           "eval_time_s": time.perf_counter() - t0}
                    rows.append(row)
                    log(f"scale: {method} {a} -> {b}: {n_source} vertices, {info['time_s']:.1f}s "
                        f"(process {wall:.1f}s), peak {info['peak_rss_mb']:.0f} MB, error {r['mean_error_x100']:.2f}"
                        f"{' FLIP' if r['flipped'] else ''} (eval {row['eval_time_s']:.1f}s)")
                    write_json(out / "scale.json", {"rows": rows, "complete": False})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    summary = []
    for method in args.scale_methods:
        for level in sorted({r["level"] for r in rows}):
            rs = [r for r in rows if r["method"] == method and r["level"] == level and not r.get("failed")]
            if not rs:
                continue
            summary.append({
                "method": method, "level": level, "n_vertices": int(np.median([r["n_source"] for r in rs])),
                "n_pairs": len(rs), "time_median_s": float(np.median([r["time_s"] for r in rs])),
                "process_median_s": float(np.median([r["process_s"] for r in rs])),
                "peak_rss_mb_max": float(max(r["peak_rss_mb"] for r in rs)),
                "mean_error_x100": float(np.mean([r["mean_error_x100"] for r in rs])),
                "n_flipped": int(sum(bool(r["flipped"]) for r in rs)),
            })
    scale = {"dataset_name": ds.folder.parent.name, "pairs": pairs, "n_points": int(len(points)),
             "eval_level": max(args.scale_levels),
             "rows": rows, "summary": summary, "complete": True}
    write_json(out / "scale.json", scale)
    return scale


# ----------------------------------------------------------------------------- main
def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--_worker":
        return worker(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", type=Path, help="folder with NAME.off and corres/NAME.vts (+ .sym.vts)")
    ap.add_argument("--pairs", type=Path, help="pairs file (tab- or space-separated names); overrides --split")
    ap.add_argument("--split", default="test", choices=("test", "listed"),
                    help="test: FAUST -> all 190 pairs of tr_reg_080..099, other folders -> test_pairs.txt; "
                         "listed: the test_pairs.txt next to the folder (FAUST: 300 pairs)")
    ap.add_argument("--limit", type=int, help="only the first N pairs (after --shuffle)")
    ap.add_argument("--shuffle", type=int, metavar="SEED", help="shuffle the pairs with this seed first")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="device for ours (pyfmaps: CPU)")
    ap.add_argument("--preset", default="default", help="our preset (default: %(default)s)")
    ap.add_argument("--methods", default="ours,pyfmaps", help="comma-separated subset of ours,pyfmaps")
    ap.add_argument("--out", type=Path, help="output folder (default: bench_out/<dataset>)")
    ap.add_argument("--no-warm", action="store_true", help="skip the warm-cache rerun of ours")
    ap.add_argument("--save-maps", action="store_true", help="also write every p2p_21 to OUT/maps/")
    ap.add_argument("--eval-cache", help="cache folder for the evaluation geodesics (default: shapecorr's)")
    ap.add_argument("--flip-fraction", type=float, default=0.05,
                    help="a map is flipped when more than this fraction of points follows the mirrored truth")
    ap.add_argument("--scale", action="store_true",
                    help="also (or with --no-pairs, only) run subdivided shapes: ~5k, ~20k, ~80k vertices")
    ap.add_argument("--no-pairs", action="store_true", help="skip the accuracy benchmark (with --scale)")
    ap.add_argument("--scale-pairs", type=int, default=3, help="pairs for --scale (default: %(default)s)")
    ap.add_argument("--scale-levels", type=int, nargs="+", default=[0, 1, 2], help="subdivision levels")
    ap.add_argument("--scale-points", type=int, default=1000,
                    help="ground-truth points evaluated in --scale (default: %(default)s)")
    ap.add_argument("--scale-methods", default="ours",
                    help="methods for --scale (default: %(default)s; pyfmaps is slow on 80k vertices)")
    ap.add_argument("--scale-timeout", type=int, default=900, help="seconds per match in --scale")
    args = ap.parse_args(argv)

    for opt in ("methods", "scale_methods"):
        val = [m.strip() for m in getattr(args, opt).split(",") if m.strip()]
        bad = [m for m in val if m not in METHODS]
        if bad or not val:
            ap.error(f"--{opt.replace('_', '-')}: unknown {bad}; choose from {', '.join(METHODS)}")
        setattr(args, opt, val)
    warnings.filterwarnings("ignore", message=".*duplicate vertices.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)

    from shapecorr.eval import Dataset, DatasetError, find_pairs_file, read_pairs

    try:
        ds = Dataset(args.dataset)
        if args.pairs:
            pairs, args.pairs_source = read_pairs(args.pairs), str(args.pairs)
        elif args.split == "listed":
            f = find_pairs_file(ds.folder)
            if f is None:
                ap.error(f"no test_pairs.txt in {ds.folder} or its parent")
            pairs, args.pairs_source = read_pairs(f), str(f)
        else:
            pairs = ds.test_split()
            args.pairs_source = "test split" + (" (all pairs of tr_reg_080..099)" if pairs[0][0].startswith("tr_reg")
                                                else f" ({find_pairs_file(ds.folder)})")
        ds.check_pairs(pairs)
    except DatasetError as exc:
        print(f"bench_match: error: {exc}", file=sys.stderr)
        return 2
    if args.shuffle is not None:
        random.Random(args.shuffle).shuffle(pairs)
        args.pairs_source += f", shuffled (seed {args.shuffle})"
    if args.limit:
        pairs = pairs[: args.limit]
        args.pairs_source += f", first {len(pairs)}"
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("bench_match: error: --device cuda but no CUDA device is available", file=sys.stderr)
            return 2
    out = args.out or ROOT / "bench_out" / ds.folder.parent.name
    out.mkdir(parents=True, exist_ok=True)
    machine = machine_info(args.device)
    command = "python scripts/bench_match.py " + " ".join(map(str, argv))
    log(f"bench: {len(pairs)} pairs, methods {', '.join(args.methods)}, device {args.device}, output {out}")

    result = None
    args.partial = None
    try:
        if not args.no_pairs:
            result = bench_pairs(args, ds, pairs, out, machine)
        scale = bench_scale_impl(args, ds, pairs, out) if args.scale else None
    except (KeyboardInterrupt, SystemExit):
        part = result or args.partial
        if part and part.get("summary"):
            done = min(s["n_pairs"] for s in part["summary"].values())
            (out / "bench_results.md").write_text(
                markdown(part, None, machine, command)
                + f"\n**Interrupted after {done} of {len(pairs)} pairs.**\n")
            log(f"bench: interrupted; partial results in {out}")
        raise
    md = markdown(result, scale, machine, command)
    (out / "bench_results.md").write_text(md)
    print(md)
    log(f"bench: results in {out}")
    return 0


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run `finally` clean-ups on kill/timeout
    sys.exit(main())
