#!/usr/bin/env python
"""Benchmark ARAP editing (``shapecorr.deform.ArapDeformer``): factorization, drag updates, libigl.

    OMP_NUM_THREADS=2 python scripts/bench_arap.py --spot ../shared/data/textured/spot/cow.obj \
        --out docs/bench/arap_cpu

Shapes: Spot (2930 vertices) after one Loop subdivision (11 714 vertices, "10k") and after three
subdivisions decimated to ~100k vertices (``fast_simplification``, "100k"). Handles: the four
hooves fixed (lowest 4 % of the height), the head moved (front 12 % of the length); the drag
lifts and turns the head over ``--frames`` frames.

Measured per size (wall time and this process's CPU time, which is what to trust on a shared
machine; the machine is 2 cores shared with other jobs):

- set-up (cells, operators) and the sparse Cholesky factorization (cholespy and SciPy's SuperLU);
- the first solve from the rest shape (``--first-iterations`` iterations, SVD rotations);
- a drag update: one frame of ``--drag-iterations`` local-global iterations reusing the factor,
  warm-started from the previous frame (median over the frames);
- libigl (``igl.arap_precomputation`` / ``igl.arap_solve``, spokes-and-rims energy) on the same
  input: its precomputation and a solve of ``--drag-iterations`` iterations, and the largest
  vertex difference between both after ``--converge`` iterations each (relative to the shape's
  bounding-box diagonal);
- the bi-Laplacian solution for comparison (pictures and ARAP energies).

Writes OUT/bench_arap.json, OUT/bench_arap.md and OUT/spot_edit_*.png (before / ARAP / bi-Laplacian).

``--devices cpu cuda`` also runs the drag on a GPU (``ArapDeformer(device="cuda")``: factor,
first solve, drag update with the GPU synchronized by each result's copy back, and the largest
vertex difference to the CPU's frames); ``--devices-only`` skips the CPU-only rows (both
backends' factorizations, libigl, the bi-Laplacian, pictures). Size ``187k``: Spot after three
subdivisions, not decimated.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def spot_sizes(path: Path, sizes: list[str]):
    import fast_simplification
    import trimesh

    import shapecorr

    base = shapecorr.load(path)
    v, f = np.asarray(base.vertices), np.asarray(base.faces)
    out = {}
    for k in range(1, 4):
        v, f = trimesh.remesh.subdivide_loop(v, f, iterations=1) if hasattr(trimesh.remesh, "subdivide_loop") \
            else trimesh.remesh.subdivide(v, f)
        v, f = np.asarray(v), np.asarray(f)
        if k == 1 and "10k" in sizes:
            out["10k"] = (v, f)
    if "187k" in sizes:
        out["187k"] = (v, f)
    if "100k" in sizes:
        ratio = 1.0 - 100_000 / len(v)
        v2, f2 = fast_simplification.simplify(v.astype(np.float32), f.astype(np.int32), target_reduction=ratio)
        out["100k"] = (np.asarray(v2, np.float64), np.asarray(f2, np.int64))
    return out


def handles(v: np.ndarray):
    """Spot's frame: y up, head towards -z. Hooves fixed, head moved."""
    y, z = v[:, 1], v[:, 2]
    fixed = np.flatnonzero(y < y.min() + 0.04 * np.ptp(y))
    moved = np.flatnonzero(z < z.min() + 0.12 * np.ptp(z))
    return fixed, moved


def head_pose(v: np.ndarray, moved: np.ndarray, t: float) -> np.ndarray:
    """The head lifted by 15 % of the height and turned by 30 degrees about y at t=1."""
    p = v[moved]
    c = p.mean(0)
    a = np.deg2rad(30.0 * t)
    R = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    return (p - c) @ R.T + c + [0.0, 0.15 * t * np.ptp(v[:, 1]), 0.0]


def bench_size(name, v, f, args) -> dict:
    from shapecorr.deform import ArapDeformer, ArapSettings, arap_energy

    fixed, moved = handles(v)
    row = {"size": name, "vertices": len(v), "faces": len(f), "fixed": len(fixed), "moved": len(moved)}
    for solver in ("cholespy", "scipy"):
        d, w, c = timed(lambda solver=solver: ArapDeformer(v, f, fixed, moved, settings=ArapSettings(solver=solver)))
        row[f"setup_{solver}_s"] = {"wall": round(w, 3), "cpu": round(c, 3)}
        row[f"factor_{solver}_s"] = {"wall": round(d.factor_seconds, 3), "cpu": round(d.factor_cpu_seconds, 3)}
        print(f"{name}: set-up with {solver}: {w:.3f} s wall ({c:.3f} s CPU), factor {d.factor_seconds:.3f} s "
              f"({d.factor_cpu_seconds:.3f} s CPU)", flush=True)
    d = ArapDeformer(v, f, fixed, moved)  # the default (auto) backend
    row["backend"] = d.backend
    res, w, c = timed(lambda: d.solve(head_pose(v, moved, 1.0 / args.frames), iterations=args.first_iterations,
                                      warm_start=False))
    row["first_solve_s"] = {"wall": round(w, 3), "cpu": round(c, 3), "iterations": args.first_iterations}
    walls, cpus, energies = [], [], []
    for k in range(2, args.frames + 1):
        res, w, c = timed(lambda k=k: d.solve(head_pose(v, moved, k / args.frames), iterations=args.drag_iterations))
        walls.append(w)
        cpus.append(c)
        energies.append([float(e) for e in res.energies])
        assert np.all(np.diff(res.energies) <= 1e-9 * res.energies[0]), "energy increased"
    row["drag_update_ms"] = {"iterations": args.drag_iterations, "frames": len(walls),
                             "wall_median": round(1e3 * float(np.median(walls)), 1),
                             "wall_min": round(1e3 * float(np.min(walls)), 1),
                             "cpu_median": round(1e3 * float(np.median(cpus)), 1),
                             "cpu_min": round(1e3 * float(np.min(cpus)), 1)}
    row["drag_energy_last_frame"] = energies[-1]
    print(f"{name}: drag update ({args.drag_iterations} iterations): median {row['drag_update_ms']['wall_median']} ms "
          f"wall, {row['drag_update_ms']['cpu_median']} ms CPU", flush=True)
    target = head_pose(v, moved, 1.0)
    ours = ArapDeformer(v, f, fixed, moved).solve(target, iterations=args.converge, warm_start=False).vertices
    row["arap_energy"] = float(arap_energy(v, ours, f))
    lin = ArapDeformer(v, f, fixed, moved, settings=ArapSettings(energy="bilaplacian")).solve(target).vertices
    row["bilaplacian_arap_energy"] = float(arap_energy(v, lin, f))
    row["libigl"] = bench_igl(v, f, fixed, moved, target, ours, args)
    row["_vertices"] = (ours, lin)
    return row


def bench_devices(name, v, f, args) -> list[dict]:
    """Factor and drag on each of ``args.devices``; every device's frames compared with the CPU's."""
    from shapecorr.deform import ArapDeformer

    fixed, moved = handles(v)
    rows, ref = [], None
    for device in args.devices:
        d, w, c = timed(lambda device=device: ArapDeformer(v, f, fixed, moved, device=device))
        row = {"size": name, "vertices": len(v), "device": device, "backend": d.backend,
               "setup_s": {"wall": round(w, 3), "cpu": round(c, 3)}, "factor_s": round(d.factor_seconds, 3)}
        res, w, c = timed(lambda d=d: d.solve(head_pose(v, moved, 1.0 / args.frames), iterations=args.first_iterations,
                                              warm_start=False))
        row["first_solve_s"] = {"wall": round(w, 3), "cpu": round(c, 3)}
        frames, walls = [res.vertices], []
        for k in range(2, args.frames + 1):
            res, w, c = timed(lambda k=k, d=d: d.solve(head_pose(v, moved, k / args.frames), iterations=args.drag_iterations))
            walls.append(w)
            frames.append(res.vertices)
        row["drag_update_ms"] = {"wall_median": round(1e3 * float(np.median(walls)), 2),
                                 "wall_min": round(1e3 * float(np.min(walls)), 2), "iterations": args.drag_iterations}
        if ref is None:
            ref = frames
        diag = float(np.linalg.norm(np.ptp(v, axis=0)))
        row["max_difference_to_first_device_rel_diag"] = float(max(np.abs(a - b).max() for a, b in zip(frames, ref)) / diag)
        print(f"{name} on {device}: set-up {row['setup_s']['wall']} s (factor {row['factor_s']} s), first solve "
              f"{row['first_solve_s']['wall']} s, drag update median {row['drag_update_ms']['wall_median']} ms, "
              f"max difference to {args.devices[0]} {row['max_difference_to_first_device_rel_diag']:.1e} of the diagonal",
              flush=True)
        rows.append(row)
    return rows


def bench_igl(v, f, fixed, moved, target, ours, args) -> dict | str:
    try:
        import igl
    except ImportError:
        return "libigl not installed"
    b = np.concatenate([fixed, moved]).astype(np.int32)
    bc = np.concatenate([v[fixed], target])
    out = {}

    def pre(iters):
        data = igl.ARAPData()
        data.max_iter = iters
        igl.arap_precomputation(v, f, 3, b, data)
        return data

    data, w, c = timed(lambda: pre(args.drag_iterations))
    out["precomputation_s"] = {"wall": round(w, 3), "cpu": round(c, 3)}
    U = v.copy()
    U[moved] = target
    _, w, c = timed(lambda: igl.arap_solve(bc, data, U.copy()))
    out[f"solve_{args.drag_iterations}_iterations_ms"] = {"wall": round(1e3 * w, 1), "cpu": round(1e3 * c, 1)}
    data = pre(args.converge)
    theirs = igl.arap_solve(bc, data, U.copy())
    diag = float(np.linalg.norm(np.ptp(v, axis=0)))
    out[f"max_difference_after_{args.converge}_iterations_rel_diag"] = float(np.abs(ours - theirs).max() / diag)
    print(f"libigl: precomputation {out['precomputation_s']['wall']} s, max difference "
          f"{out[f'max_difference_after_{args.converge}_iterations_rel_diag']:.2e} of the diagonal", flush=True)
    return out


def pictures(v, f, fixed, moved, ours, lin, out: Path, name: str) -> str:
    from shapecorr import Shape
    from shapecorr.render import render_shapes

    colors = np.full((len(v), 3), 200, dtype=np.uint8)
    colors[fixed] = (40, 90, 220)
    colors[moved] = (220, 40, 40)
    path = out / f"spot_edit_{name}.png"
    shapes = [Shape(v, f, name="before"), Shape(ours, f, name="arap"), Shape(lin, f, name="bilaplacian")]
    render_shapes(shapes, path, colors=[colors] * 3, titles=("before", "ARAP", "bi-Laplacian"),
                  view=(1.0, 0.25, -0.6), window_size=(1200, 440),
                  caption="hooves fixed (blue), head lifted and turned (red)")
    return path.name


def markdown(rows, info, args) -> str:
    lines = ["# ARAP editing benchmark (CPU)", "",
             (f"Command: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '?')} python scripts/bench_arap.py "
              f"{' '.join(args.argv)}`"), "",
             (f"Machine: {info.get('cpu')}, {info.get('cores')} cores shared with other jobs while measured: "
              "wall times are inflated and noisy; CPU times (this process) are the better guide."), "",
             ("| shape | vertices | factor wall / CPU: cholespy; SciPy SuperLU | set-up total wall / CPU | first solve wall / CPU | "
             f"drag update ({args.drag_iterations} it.) wall / CPU (median) | libigl precomp. | libigl {args.drag_iterations} it. | "
             "max diff. to libigl |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ig = r["libigl"]
        if isinstance(ig, dict):
            key = f"max_difference_after_{args.converge}_iterations_rel_diag"
            igs = (f"{ig['precomputation_s']['wall']} s", f"{ig[f'solve_{args.drag_iterations}_iterations_ms']['wall']} ms",
                   f"{ig[key]:.1e} of diag.")
        else:
            igs = (ig, "", "")
        fc, fs = r["factor_cholespy_s"], r["factor_scipy_s"]
        lines.append(f"| Spot {r['size']} | {r['vertices']} | {fc['wall']} / {fc['cpu']} s; {fs['wall']} / {fs['cpu']} s | "
                     f"{r['setup_cholespy_s']['wall']} / {r['setup_cholespy_s']['cpu']} s | {r['first_solve_s']['wall']} / {r['first_solve_s']['cpu']} s "
                     f"({r['first_solve_s']['iterations']} it.) | {r['drag_update_ms']['wall_median']} ms / "
                     f"{r['drag_update_ms']['cpu_median']} ms | {igs[0]} | {igs[1]} | {igs[2]} |")
    lines += ["", "ARAP energy of the converged edit vs the bi-Laplacian solution (same handles): " + ", ".join(
        f"{r['size']}: {r['arap_energy']:.3g} vs {r['bilaplacian_arap_energy']:.3g}" for r in rows), ""]
    for r in rows:
        if r.get("picture"):
            lines.append(f"![{r['size']}]({r['picture']})")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spot", default=str(ROOT.parent / "shared/data/textured/spot/cow.obj"))
    ap.add_argument("--sizes", nargs="+", default=["10k", "100k"], choices=["10k", "100k", "187k"])
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--drag-iterations", type=int, default=3)
    ap.add_argument("--first-iterations", type=int, default=10)
    ap.add_argument("--converge", type=int, default=100, help="iterations of both solvers before comparing them")
    ap.add_argument("--out", default=str(ROOT / "out/bench_arap"))
    ap.add_argument("--devices", nargs="+", default=[], help="also drag on these devices (e.g. cpu cuda; the first is the reference)")
    ap.add_argument("--devices-only", action="store_true", help="only the --devices rows")
    args = ap.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    from bench_match import machine_info

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    info = machine_info("cuda" if any(d.startswith("cuda") for d in args.devices) else "cpu")
    rows, device_rows = [], []
    for name, (v, f) in spot_sizes(Path(args.spot), args.sizes).items():
        if args.devices:
            device_rows += bench_devices(name, v, f, args)
            (out / "bench_arap_devices.json").write_text(json.dumps({"machine": info, "rows": device_rows}, indent=1))
        if args.devices_only:
            continue
        row = bench_size(name, v, f, args)
        ours, lin = row.pop("_vertices")
        fixed, moved = handles(v)
        if len(v) < 30_000:
            row["picture"] = pictures(v, f, fixed, moved, ours, lin, out, name)
        rows.append(row)
        (out / "bench_arap.json").write_text(json.dumps({"machine": info, "rows": rows}, indent=1))
    if rows:
        (out / "bench_arap.md").write_text(markdown(rows, info, args))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
