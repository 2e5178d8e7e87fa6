#!/usr/bin/env python
"""Benchmark: large meshes matched through proxies (``shapecorr.core.proxy`` + ``shapecorr.fmap.lift``).

Each match runs in its own process with an empty cache (time from the files to both full-resolution
vertex maps; peak memory = the process's VmHWM). Methods:

- ``proxy``: ``shapecorr.match`` through proxies of ``--proxy-size`` vertices whatever the size
  (the pipeline decimates both shapes, ``make_proxy``, matches the proxies and lifts the map to
  every full vertex, ``lift_fmap``; by default it does so above 30 000 vertices);
- ``direct``: ``shapecorr.match`` on the shapes themselves (``proxy_above=None``).

Shapes:

- FAUST_r pairs (``--faust DIR``), each shape at ~5k (the file), ~20k and ~80k vertices (one and two
  levels of midpoint subdivision, ``scripts/subdivide_faust.py``) and ~125k vertices (every triangle
  split into 25 by cutting its edges in five); the original vertices come first at every size, so
  the ``.vts`` ground truth applies. Error on 1000 ground-truth points (the same points as
  ``bench_match.py --scale``), measured at every size on the same geodesics: the heat-method
  distances of the ~80k source mesh, interpolated at the matched vertex (which lies on that mesh's
  surface at every size: the surfaces are the same).
- real models (``--realworld DIR --models stanford-bunny igea``): the model and a copy bent by
  ``--bend`` degrees along its longest axis with its vertices randomly permuted (exact ground
  truth); error at 1000 random target vertices on the source's own geodesics. For comparison the
  same pair at ~5k vertices (the model decimated, then bent and permuted the same way), matched
  directly and measured on its own geodesics.

    python scripts/bench_large.py --faust ../shared/data/FAUST_r/vtx_5k --pairs tuning --sizes 5k 125k \
        --proxy-size 10000 --out docs/bench/large_cpu/tuning_p10000
    python scripts/bench_large.py --faust ../shared/data/FAUST_r/vtx_5k --pairs holdout --proxy-size 10000 \
        --out docs/bench/large_cpu/holdout
    python scripts/bench_large.py --realworld ../shared/data/realworld --models stanford-bunny \
        --direct-sizes full --out docs/bench/large_cpu/realworld
    python scripts/bench_large.py --report docs/bench/large_cpu/holdout/large_faust_holdout.json \
        --out docs/bench/large_cpu/holdout          # tables only, from the JSON of a run

Writes OUT/large_<set>.json (rewritten after every match) and OUT/large_<set>.md.
"""

from __future__ import annotations

import argparse
import json
import os
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

from bench_match import jsonable, machine_info, peak_rss_kb, write_json
from subdivide_faust import midpoint_subdivide, write_off

# FAUST_r pairs: the proxy size and threshold were chosen on TUNING (the pairs of
# bench_match.py --scale); HOLDOUT was run once, after the choice
PAIRS = {
    "tuning": [("tr_reg_080", f"tr_reg_08{i}") for i in range(1, 6)],
    "holdout": [("tr_reg_090", "tr_reg_091"), ("tr_reg_090", "tr_reg_093"), ("tr_reg_092", "tr_reg_096"),
                ("tr_reg_094", "tr_reg_098"), ("tr_reg_097", "tr_reg_099")],
}
SIZES = ("5k", "20k", "80k", "125k")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- building shapes
def split_subdivide(vertices: np.ndarray, faces: np.ndarray, s: int) -> tuple[np.ndarray, np.ndarray]:
    """Every triangle cut into ``s * s`` by dividing its edges into ``s`` equal parts (the surface
    is unchanged). Original vertices first, then the points inside edges, then inside faces."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    n, m = len(v), len(f)
    lattice = [(i, j) for j in range(s + 1) for i in range(s + 1 - j)]  # barycentric (i/s on b, j/s on c)
    where = {ij: c for c, ij in enumerate(lattice)}
    ids = np.empty((m, len(lattice)), dtype=np.int64)
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [0, 2]]]), axis=1)
    uniq, inv = np.unique(edges, axis=0, return_inverse=True)
    inv = inv.reshape(3, m)
    new_points = [v]
    # points inside edges: edge e (u < w) holds u + (t / s)(w - u), t = 1..s-1, as n + e (s - 1) + t - 1
    t = np.arange(1, s)
    new_points.append((v[uniq[:, 0], None] + (t[None, :, None] / s) * (v[uniq[:, 1]] - v[uniq[:, 0]])[:, None])
                      .reshape(-1, 3))
    interior = [(i, j) for (i, j) in lattice if i >= 1 and j >= 1 and i + j <= s - 1]
    base_face = n + len(uniq) * (s - 1)
    a, b, c = f[:, 0], f[:, 1], f[:, 2]

    def edge_point(e_idx, start, end, step):
        """Id of the point ``step / s`` of the way from vertex ``start`` to ``end`` on edge ``e_idx``."""
        from_low = np.where(start < end, step, s - step)
        return n + e_idx * (s - 1) + from_low - 1

    for (i, j), col in where.items():
        if (i, j) == (0, 0):
            ids[:, col] = a
        elif (i, j) == (s, 0):
            ids[:, col] = b
        elif (i, j) == (0, s):
            ids[:, col] = c
        elif j == 0:
            ids[:, col] = edge_point(inv[0], a, b, i)
        elif i + j == s:
            ids[:, col] = edge_point(inv[1], b, c, j)
        elif i == 0:
            ids[:, col] = edge_point(inv[2], a, c, j)
    for q, (i, j) in enumerate(interior):
        ids[:, where[(i, j)]] = base_face + np.arange(m) * len(interior) + q
    if interior:
        w = np.array([[(s - i - j) / s, i / s, j / s] for (i, j) in interior])  # (p, 3)
        new_points.append(np.einsum("pc,mcd->mpd", w, v[f]).reshape(-1, 3))
    tris = []
    for j in range(s):
        for i in range(s - j):
            tris.append((where[(i, j)], where[(i + 1, j)], where[(i, j + 1)]))
            if i + j <= s - 2:
                tris.append((where[(i + 1, j)], where[(i + 1, j + 1)], where[(i, j + 1)]))
    tris = np.array(tris)
    new_f = ids[:, tris].reshape(-1, 3)
    return np.vstack(new_points), new_f


def faust_files(folder: Path, names, workdir: Path, sizes) -> dict:
    """``{size: {name: path}}`` with the original vertices first at every size."""
    from shapecorr import load

    out = {size: {} for size in sizes}
    for name in names:
        shape = load(folder / f"{name}.off", warn=False)
        v, f = shape.vertices, shape.faces
        v1, f1 = midpoint_subdivide(v, f)
        v2, f2 = midpoint_subdivide(v1, f1)
        built = {"5k": None, "20k": (v1, f1), "80k": (v2, f2)}
        if "125k" in sizes:
            built["125k"] = split_subdivide(v, f, 5)
        for size in sizes:
            if size == "5k":
                out[size][name] = folder / f"{name}.off"
                continue
            d = workdir / size
            d.mkdir(parents=True, exist_ok=True)
            write_off(d / f"{name}.off", *built[size])
            out[size][name] = d / f"{name}.off"
        log(f"{name}: sizes {', '.join(sizes)} written")
    return out


def read_strip_ply(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A binary little-endian PLY whose faces are one element of triangle strips (igea.ply);
    strips restart at index -1 and alternate their winding. Bench-only reader."""
    data = path.read_bytes()
    end = data.index(b"\n", data.index(b"end_header")) + 1
    header = data[:end].decode("ascii").splitlines()
    if "format binary_little_endian 1.0" not in header or not any(h.startswith("element tristrips") for h in header):
        raise ValueError(f"{path}: not a binary little-endian PLY of triangle strips")
    nv = int(next(h for h in header if h.startswith("element vertex")).split()[-1])
    v = np.frombuffer(data, dtype="<f4", count=3 * nv, offset=end).reshape(nv, 3).astype(np.float64)
    off = end + 12 * nv
    count = int(np.frombuffer(data, dtype="<i4", count=1, offset=off)[0])
    idx = np.frombuffer(data, dtype="<i4", count=count, offset=off + 4).astype(np.int64)
    cuts = np.flatnonzero(idx < 0)
    faces = []
    for a, b in zip(np.r_[0, cuts + 1], np.r_[cuts, len(idx)]):
        strip = idx[a:b]
        if len(strip) < 3:
            continue
        p, q, r = strip[:-2], strip[1:-1], strip[2:]
        odd = np.arange(len(p)) % 2 == 1
        faces.append(np.stack([np.where(odd, q, p), np.where(odd, p, q), r], axis=1))
    f = np.concatenate(faces)
    keep = (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])
    return v, f[keep]


def load_model(path: Path):
    from shapecorr import Shape, load

    if path.suffix.lower() == ".ply" and b"tristrips" in path.read_bytes()[:2000]:
        v, f = read_strip_ply(path)
        return Shape(v, f, name=path.stem)
    return load(path, warn=False)


def bend(vertices: np.ndarray, degrees: float) -> np.ndarray:
    """Bend the shape by ``degrees`` in all along its longest principal axis, towards the second
    (the classic bend deformer: the axis becomes an arc, depth along the second axis is kept)."""
    c = vertices.mean(0)
    _, _, axes = np.linalg.svd(vertices - c, full_matrices=False)
    local = (vertices - c) @ axes.T  # principal coordinates
    x, y = local[:, 0] - local[:, 0].min(), local[:, 1]
    theta = np.radians(degrees)
    radius = np.ptp(local[:, 0]) / theta
    out = local.copy()
    out[:, 0] = (radius - y) * np.sin(x / radius)
    out[:, 1] = radius - (radius - y) * np.cos(x / radius)
    return out @ axes + c


def bent_copy(shape, degrees: float, seed: int):
    """``(target, perm)``: the shape bent and its vertices permuted; target vertex j is source
    vertex ``perm[j]``."""
    from shapecorr import Shape

    perm = np.random.default_rng(seed).permutation(shape.n_vertices)
    inverse = np.empty_like(perm)
    inverse[perm] = np.arange(len(perm))
    v = bend(shape.vertices, degrees)[perm]
    return Shape(v, inverse[shape.faces], name=f"{shape.name}-bent", validate=False), perm


# ----------------------------------------------------------------------------- evaluation
class SurfaceGeodesics:
    """Heat-method distances on one mesh, from its vertices to any point of its surface (a point
    is located on the mesh and the distances of its face's corners interpolated)."""

    def __init__(self, shape):
        from shapecorr.eval import GeodesicDistances

        self.shape = shape
        self.dist = GeodesicDistances(shape, cache=False)
        self.sqrt_area = self.dist.sqrt_area

    def between(self, sources: np.ndarray, points: np.ndarray) -> np.ndarray:
        """``d(vertex sources[i], point points[i])``; ``points (q, 3)`` on the surface."""
        from shapecorr.core.proxy import project_on_mesh

        face, bary, _ = project_on_mesh(points, self.shape.vertices, self.shape.faces)
        corners = self.shape.faces[face]
        d = np.stack([self.dist.between(sources, corners[:, c]) for c in range(3)], axis=1)
        return (d * bary).sum(1)


def faust_error(geo: SurfaceGeodesics, src_vertices: np.ndarray, p2p_21: np.ndarray, gt1, gt2, points) -> float:
    """Mean error x100 at the ground-truth ``points``: geodesic distance on the evaluation mesh from
    the true source vertex to the matched one, over sqrt(area)."""
    matched = src_vertices[p2p_21[gt2[points]]]
    return float(100 * np.mean(geo.between(gt1[points], matched)) / geo.sqrt_area)


# ----------------------------------------------------------------------------- one match (worker)
def worker(argv) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("method", choices=("proxy", "direct"))
    ap.add_argument("src")
    ap.add_argument("tgt")
    ap.add_argument("out")
    ap.add_argument("--proxy-size", type=int, default=10000)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--proxy-large-above", type=int, help="large_above for the proxies' match (default: the preset's)")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    import shapecorr
    from shapecorr import load

    timings = {}
    with tempfile.TemporaryDirectory(prefix="shapecorr-large-cache-") as tmp:
        shapecorr.set_cache_dir(tmp)
        t_all = t0 = time.perf_counter()
        src, tgt = load(a.src, warn=False), load(a.tgt, warn=False)
        timings["load"] = time.perf_counter() - t0
        # the pipeline itself: "proxy" matches through proxies of --proxy-size vertices whatever
        # the size, "direct" at full resolution
        over = {"proxy_above": a.proxy_size + 1, "proxy_size": a.proxy_size} if a.method == "proxy" else \
            {"proxy_above": None}
        if a.proxy_large_above is not None:
            over["large_above"] = a.proxy_large_above
        t0 = time.perf_counter()
        m = shapecorr.match(src, tgt, preset=a.preset, device=a.device, **over)
        timings["match"] = time.perf_counter() - t0
        timings.update({f"match.{k}": v for k, v in m.timings.items()})
        p2p_21, p2p_12 = m.p2p_21, m.p2p_12
        total = time.perf_counter() - t_all
    cpu = time.process_time()  # CPU seconds of all the process's threads, imports included
    np.save(Path(a.out) / "p2p_21.npy", p2p_21)
    np.save(Path(a.out) / "p2p_12.npy", p2p_12)
    print(json.dumps({"time_s": total, "cpu_s": cpu, "timings": {k: round(v, 3) for k, v in timings.items()},
                      "peak_rss_mb": peak_rss_kb() / 1024, "n_source": len(p2p_12), "n_target": len(p2p_21),
                      "confidence": m.info.get("confidence")}))
    return 0


def run_worker(method: str, p1: Path, p2: Path, args) -> dict:
    with tempfile.TemporaryDirectory(prefix="shapecorr-large-out-") as tmp:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--_worker", method, str(p1), str(p2), tmp,
               "--proxy-size", str(args.proxy_size), "--device", args.device]
        if args.proxy_large_above is not None:
            cmd += ["--proxy-large-above", str(args.proxy_large_above)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, check=False)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{method} {p1.name} -> {p2.name} failed:\n{proc.stderr[-3000:]}")
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        info["process_s"] = wall
        info["p2p_21"] = np.load(Path(tmp) / "p2p_21.npy")
        info["p2p_12"] = np.load(Path(tmp) / "p2p_12.npy")
    return info


# ----------------------------------------------------------------------------- the benchmarks
def methods_for(size: str, args) -> list[str]:
    """The proxy for sizes above the threshold; the direct match at 5k (the reference) and where
    asked (``--direct-sizes``)."""
    out = []
    if size == "5k" or size in args.direct_sizes:
        out.append("direct")
    if size != "5k":
        out.append("proxy")
    return out


def bench_faust(args, out: Path) -> dict:
    from shapecorr import load, set_cache_dir
    from shapecorr.eval import Dataset

    ds = Dataset(args.faust)
    pairs = PAIRS[args.pairs][: args.limit]
    names = sorted({n for p in pairs for n in p})
    workdir = Path(tempfile.mkdtemp(prefix="shapecorr-large-"))
    rows = []
    result = {"set": f"faust_{args.pairs}", "pairs": pairs, "rows": rows, "complete": False}
    try:
        files = faust_files(ds.folder, names, workdir, ("5k", "20k", "80k") + (("125k",) if "125k" in args.sizes else ()))
        n_gt = len(ds.gt(pairs[0][0]))
        points = np.sort(np.random.default_rng(0).choice(n_gt, size=min(args.points, n_gt), replace=False))
        geos = {}
        for a, b in pairs:
            for size in args.sizes:
                for method in methods_for(size, args):
                    res = run_worker(method, files[size][a], files[size][b], args)
                    set_cache_dir(None)
                    if a not in geos:
                        geos[a] = SurfaceGeodesics(load(files["80k"][a], warn=False))
                    src_v = load(files[size][a], warn=False).vertices
                    err = faust_error(geos[a], src_v, res["p2p_21"], ds.gt(a), ds.gt(b), points)
                    row = {"source": a, "target": b, "size": size, "method": method, "error_x100": err,
                           **{k: v for k, v in res.items() if not k.startswith("p2p")}}
                    rows.append(row)
                    log(f"{a} -> {b} {size:>4} {method:6}: {res['n_source']} vertices, error {err:.2f}, "
                        f"{res['time_s']:.1f} s (process {res['process_s']:.1f} s), peak {res['peak_rss_mb']:.0f} MB; "
                        + ", ".join(f"{k} {v:.1f}" for k, v in res["timings"].items() if "." not in k))
                    write_json(out / f"large_{result['set']}.json", result)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result["complete"] = True
    return result


def bench_realworld(args, out: Path) -> dict:
    from shapecorr import Shape, set_cache_dir
    from shapecorr.core.proxy import decimate

    rows = []
    result = {"set": "realworld", "models": args.models, "bend_degrees": args.bend, "rows": rows, "complete": False}
    workdir = Path(tempfile.mkdtemp(prefix="shapecorr-large-rw-"))
    try:
        for name in args.models:
            path = next(p for p in sorted(Path(args.realworld).glob(f"{name}.*")))
            full = load_model(path)
            v5, f5 = decimate(full.vertices, full.faces, 5000)
            small = Shape(v5, f5, name=f"{name}-5k")
            for label, src in (("5k", small), ("full", full)):
                tgt, perm = bent_copy(src, args.bend, seed=0)
                p1, p2 = workdir / f"{name}-{label}.off", workdir / f"{name}-{label}-bent.off"
                write_off(p1, src.vertices, src.faces)
                write_off(p2, tgt.vertices, tgt.faces)
                methods = ["direct"] if label == "5k" else (["proxy"] + (["direct"] if "full" in args.direct_sizes else []))
                for method in methods:
                    res = run_worker(method, p1, p2, args)
                    set_cache_dir(None)
                    # geodesics on the source's faces (vertices used by no face left out, renumbered);
                    # ground-truth points: target vertices whose true source vertex lies on a face;
                    # a matched vertex used by no face counts where it projects on the surface
                    used = np.bincount(src.faces.ravel(), minlength=src.n_vertices) > 0
                    renumber = np.cumsum(used) - 1
                    geo = SurfaceGeodesics(Shape(src.vertices[used], renumber[src.faces], validate=False))
                    usable = np.flatnonzero(used[perm])
                    pts = np.sort(np.random.default_rng(1).choice(usable, min(args.points, len(usable)), replace=False))
                    d = geo.between(renumber[perm[pts]], src.vertices[res["p2p_21"][pts]])
                    err = float(100 * d.mean() / geo.sqrt_area)
                    row = {"model": name, "size": label, "method": method, "error_x100": err,
                           **{k: v for k, v in res.items() if not k.startswith("p2p")}}
                    rows.append(row)
                    log(f"{name} {label} {method}: {res['n_source']} vertices, error {err:.2f}, {res['time_s']:.1f} s "
                        f"(process {res['process_s']:.1f} s), peak {res['peak_rss_mb']:.0f} MB; "
                        + ", ".join(f"{k} {v:.1f}" for k, v in res["timings"].items() if "." not in k))
                    write_json(out / "large_realworld.json", result)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result["complete"] = True
    return result


def _median_of(rows: list[dict], key: str) -> str:
    vals = [r[key] for r in rows if r.get(key) is not None]
    return f"{np.median(vals):.1f} s" if vals else "n/a"


def markdown(result: dict, machine: dict, command: str, args) -> str:
    rows = result["rows"]
    lines = [f"# Large meshes through proxies: {result['set']}", "", f"`{command}`", "",
             (f"Machine: {machine.get('cpu')}, {machine.get('cores')} cores, {machine.get('memory_gb')} GB"
             f"{', ' + machine['gpu'] if machine.get('gpu') else ''}; device {machine.get('device', 'cpu')}; "
             f"load average {machine.get('load_avg', 'n/a')} at the start (where other jobs share the cores, "
             "wall times grow; the CPU time of the process, all threads, is the steadier figure), "
             f"proxy size {args.proxy_size}, lift rings {getattr(args, 'rings', 2)}, proxies matched with large_above "
             f"{getattr(args, 'proxy_large_above', None) or 'of the preset (8000)'}."), ""]
    key = "source" if rows and "source" in rows[0] else "model"
    lines += [("| size | method | pairs | vertices (median) | mean error x100 | time median (max) | CPU time median "
               "| peak memory (max) | per-pair errors |"),
              "|---|---|---|---|---|---|---|---|---|"]
    for size in dict.fromkeys(r["size"] for r in rows):
        for method in dict.fromkeys(r["method"] for r in rows if r["size"] == size):
            rs = [r for r in rows if r["size"] == size and r["method"] == method]
            t = [r["time_s"] for r in rs]
            lines.append(f"| {size} | {method} | {len(rs)} | {int(np.median([r['n_source'] for r in rs]))} "
                         f"| {np.mean([r['error_x100'] for r in rs]):.2f} | {np.median(t):.1f} s ({max(t):.1f} s) "
                         f"| {_median_of(rs, 'cpu_s')} "
                         f"| {max(r['peak_rss_mb'] for r in rs):.0f} MB | "
                         + ", ".join(f"{r['error_x100']:.2f}" for r in rs) + " |")
    lines += ["", "Time per stage (median, s):", ""]
    for size in dict.fromkeys(r["size"] for r in rows):
        for method in dict.fromkeys(r["method"] for r in rows if r["size"] == size):
            rs = [r for r in rows if r["size"] == size and r["method"] == method]
            stages = {}
            for r in rs:
                for k, v in r["timings"].items():
                    stages.setdefault(k, []).append(v)
            lines.append(f"- {size} {method}: " + ", ".join(f"{k} {np.median(v):.2f}" for k, v in stages.items()))
    lines += ["", f"Per {key}: see large_{result['set']}.json.", ""]
    return "\n".join(lines)


def report(paths: list[Path], out: Path) -> int:
    """Tables of one or more earlier runs of the same set, merged (rows in file order)."""
    results = [json.loads(Path(p).read_text()) for p in paths]
    first = results[0]
    merged = dict(first, rows=[r for res in results for r in res["rows"]])
    commands = " && ".join(res.get("command", "?") for res in results)
    settings = argparse.Namespace(**{"proxy_size": "?", "rings": "?", **first.get("settings", {})})
    md = markdown(merged, first.get("machine", {}), commands, settings)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"large_{first['set']}.md").write_text(md)
    print(md)
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--_worker":
        return worker(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faust", type=Path, help="FAUST_r folder (NAME.off + corres/NAME.vts)")
    ap.add_argument("--pairs", choices=sorted(PAIRS), default="tuning")
    ap.add_argument("--limit", type=int, help="only the first N pairs of the set")
    ap.add_argument("--sizes", nargs="+", default=list(SIZES), choices=SIZES)
    ap.add_argument("--realworld", type=Path, help="folder of real models (e.g. ../shared/data/realworld)")
    ap.add_argument("--models", nargs="+", default=["stanford-bunny", "igea"])
    ap.add_argument("--bend", type=float, default=30.0, help="bend of the real models' copies, degrees")
    ap.add_argument("--direct-sizes", nargs="*", default=[], help="sizes also matched without a proxy "
                    "(FAUST: 20k 80k 125k; real models: full)")
    ap.add_argument("--proxy-size", type=int, default=10000)
    ap.add_argument("--proxy-large-above", type=int,
                    help="match the proxies with this large_above (e.g. 5000 with --proxy-size 6000: the "
                         "large-pair settings, k_final 130 on 5000 samples, for 6k proxies)")
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="device of the matches (default: cpu)")
    ap.add_argument("--timeout", type=int, default=1200, help="seconds per match")
    ap.add_argument("--out", type=Path, default=ROOT / "bench_out" / "large")
    ap.add_argument("--report", type=Path, nargs="+", metavar="JSON",
                    help="only rewrite the tables of earlier runs (large_*.json; several are merged)")
    args = ap.parse_args(argv)
    if args.report:
        return report(args.report, args.out)
    if not args.faust and not args.realworld:
        ap.error("give --faust DIR and/or --realworld DIR")
    args.out.mkdir(parents=True, exist_ok=True)
    machine = machine_info(args.device)
    machine["load_avg"] = round(os.getloadavg()[0], 2)
    command = "python scripts/bench_large.py " + " ".join(map(str, argv))
    for run in ((bench_faust,) if args.faust else ()) + ((bench_realworld,) if args.realworld else ()):
        result = run(args, args.out)
        result.update(machine=machine, command=command,
                      settings={"proxy_size": args.proxy_size, "rings": 2,
                                "proxy_large_above": args.proxy_large_above})
        write_json(args.out / f"large_{result['set']}.json", jsonable(result))
        md = markdown(result, machine, command, args)
        (args.out / f"large_{result['set']}.md").write_text(md)
        print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
