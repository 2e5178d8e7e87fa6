#!/usr/bin/env python
"""Benchmark: mesh-bound Gaussian splats on CPU (shapecorr.splat).

1. Static quality: splats fitted to Spot (its UV texture) and to realworld models (no texture:
   a synthetic solid colour pattern on the rest surface, :class:`SolidAppearance`), PSNR on 8
   held-out views (cameras between the training ones) against the mesh's own unlit, anti-aliased
   render; whole image (black background) and over the pixels the mesh covers.
2. Deformed quality: Spot's head bent 45 degrees by an ARAP edit (rear half fixed, head turned
   about the neck), the fitted splats deformed through their binding, compared with the textured
   mesh deformed the same way (8 views around the deformed mesh); with a picture.
3. Rasterizer speed: 100k Gaussians on Spot at 512x512, forward (no gradient) and forward +
   backward (gradients of every parameter), median of 3 (21 on CUDA, where gsplat draws them: `--speed-device cuda`), with ``--speed-threads`` torch threads;
   the load average is recorded (others may share the machine).

Results: ``OUT/results.json``, ``OUT/results.md`` and pictures in OUT.

    nice -n 5 env OMP_NUM_THREADS=1 python scripts/bench_splat.py ../shared/data --out docs/bench/splat_cpu \\
        --steps 300 --size 192
    python scripts/bench_splat.py ../shared/data --out docs/bench/splat_cpu --only speed --speed-threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from shapecorr.core import load
from shapecorr.deform import ArapSettings, arap_deform
from shapecorr.splat import (
    Camera,
    FitSettings,
    SolidAppearance,
    appearance_of,
    evaluate,
    fit_splats,
    initial_binding,
    intrinsics,
    load_binding,
    look_at,
    orbit_cameras,
    rasterize,
    rasterize_gsplat,
    save_splats,
)
from shapecorr.splat.binding import covariance_to_quat_scale, params_to_torch, world_gaussians

MODELS = {"spot": "textured/spot/cow.obj", "cow": "realworld/cow.obj", "homer": "realworld/homer.obj"}


def _png(image, path: Path) -> None:
    Image.fromarray(np.clip(np.round(255 * np.asarray(image)), 0, 255).astype(np.uint8)).save(path)


def _grid(top, bottom, n=4):
    return np.concatenate([np.concatenate(top[:n], 1), np.concatenate(bottom[:n], 1)], 0)


def _load_avg() -> float:
    return round(os.getloadavg()[0], 2)


def static(data: Path, name: str, args, out: Path) -> dict:
    shape = load(data / MODELS[name])
    app = appearance_of(shape)
    s = FitSettings(steps=args.steps, n_gaussians=args.gaussians, max_gaussians=args.max_gaussians,
                    image_size=args.size, n_views=args.views, densify_every=args.densify_every,
                    split_fraction=args.split_fraction, offset_weight=args.offset_weight,
                    close_views=args.close_views, close_margin=args.close_margin, rasterize_mode=args.rasterize_mode,
                    eps2d=args.eps2d,
                    seed=0)
    t0, c0 = time.perf_counter(), time.process_time()
    res = fit_splats(shape.vertices, shape.faces, app, s, progress=not args.quiet)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    held = orbit_cameras(shape.vertices, 8, size=args.size, offset=0.5)
    whole, covered, sp, gt = evaluate(res.binding, shape.vertices, app, held)
    _png(_grid(sp, gt), out / f"{name}_heldout.png")
    near = orbit_cameras(shape.vertices, 4, size=args.size, offset=0.75, margin=0.5)  # held-out, half distance
    cwhole, ccovered, csp, cgt = evaluate(res.binding, shape.vertices, app, near)
    _png(_grid(csp, cgt), out / f"{name}_heldout_close.png")
    if args.keep:
        save_splats(Path(args.keep) / name, res.binding)
    row = {"model": name, "file": MODELS[name], "vertices": shape.n_vertices, "faces": shape.n_faces,
           "appearance": "synthetic solid pattern" if isinstance(app, SolidAppearance) else "UV texture",
           "n_gaussians": res.binding.n_gaussians, "initial_gaussians": args.gaussians, "steps": args.steps,
           "densify_every": args.densify_every, "split_fraction": args.split_fraction,
           "offset_weight": args.offset_weight, "mean_abs_offset_edges": _mean_offset(res.binding),
           "carrier_faces": len(res.binding.bound_faces), "image_size": args.size,
           "train_views": args.views, "train_close_views": s.close_views, "close_margin": s.close_margin,
           "rasterize_mode": s.rasterize_mode, "eps2d": s.eps2d, "heldout_views": 8,
           "psnr_db": round(float(np.mean(whole)), 2), "psnr_covered_db": round(float(np.mean(covered)), 2),
           "psnr_min_view_db": round(float(np.min(whole)), 2),
           "close_psnr_db": round(float(np.mean(cwhole)), 2), "close_psnr_covered_db": round(float(np.mean(ccovered)), 2),
           "fit_wall_s": round(wall, 1),
           "fit_cpu_s": round(cpu, 1), "load_avg": _load_avg()}
    print(json.dumps(row), flush=True)
    return row, res.binding, shape, app


def _mean_offset(b) -> float:
    """Mean |normal offset| of the Gaussians in mean edge lengths (how far they sank or rose)."""
    v, f = b.rest_vertices, b.faces
    edge = float(np.mean(np.linalg.norm(v[f[:, [1, 2, 0]]] - v[f], axis=2)))
    return round(float(np.mean(np.abs(b.offset))) / edge, 3)


def spot_head_edit(vertices: np.ndarray, degrees: float = 45.0):
    """Spot's rear half fixed, its head (z < -0.25) turned ``degrees`` about a vertical axis
    through the neck: ``(fixed ids, moved ids, moved positions)``."""
    v = np.asarray(vertices, dtype=np.float64)
    fixed = np.flatnonzero(v[:, 2] > 0.3)
    moved = np.flatnonzero(v[:, 2] < -0.25)
    a = np.radians(degrees)
    R = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    pivot = np.array([0.0, 0.3, -0.05])
    return fixed, moved, (v[moved] - pivot) @ R.T + pivot


def deformed(binding, shape, app, args, out: Path) -> dict:
    fixed, moved, pos = spot_head_edit(shape.vertices, args.bend)
    res = arap_deform(shape.vertices, shape.faces, fixed, moved, pos, settings=ArapSettings(iterations=30))
    v1 = res.vertices
    cams = orbit_cameras(v1, 8, size=args.size, offset=0.5)
    whole, covered, sp, gt = evaluate(binding, v1, app, cams)
    _png(_grid(sp, gt), out / "spot_deformed.png")
    # before / after from one camera, splats above and mesh below
    cam = orbit_cameras(np.concatenate([shape.vertices, v1]), 8, size=args.size, offset=0.5)[2]
    _, _, sp0, gt0 = evaluate(binding, shape.vertices, app, [cam])
    _, _, sp1, gt1 = evaluate(binding, v1, app, [cam])
    _png(_grid([sp0[0], sp1[0]], [gt0[0], gt1[0]], 2), out / "spot_bend_before_after.png")
    # close-up of the neck at 512 x 512, where a bad binding would show needles or holes
    pivot = np.array([0.0, 0.3, -0.05])
    side = np.array([1.0, 0.35, -0.45]) / np.linalg.norm([1.0, 0.35, -0.45])
    close = Camera(look_at(pivot + 2.0 * side, pivot), intrinsics(512, 512, 40.0), 512, 512)
    cw, cc, csp, cgt = evaluate(binding, v1, app, [close])
    _png(np.concatenate([csp[0], cgt[0]], 1), out / "spot_bend_closeup.png")
    edge = np.linalg.norm(shape.vertices[shape.faces] - shape.vertices[np.roll(shape.faces, 1, 1)], axis=2)
    edge1 = np.linalg.norm(v1[shape.faces] - v1[np.roll(shape.faces, 1, 1)], axis=2)
    row = {"edit": f"Spot head turned {args.bend:g} degrees about the neck (ARAP, {len(fixed)} fixed, "
                   f"{len(moved)} moved vertices)",
           "mean_edge_change_pct": round(100 * float(np.mean(np.abs(edge1 / edge - 1))), 2),
           "psnr_db": round(float(np.mean(whole)), 2), "psnr_covered_db": round(float(np.mean(covered)), 2),
           "psnr_min_view_db": round(float(np.min(whole)), 2), "image_size": args.size, "views": 8,
           "closeup_512_psnr_db": round(float(cw[0]), 2), "closeup_512_psnr_covered_db": round(float(cc[0]), 2)}
    print(json.dumps(row), flush=True)
    return row


def speed(data: Path, args) -> dict:
    torch.set_num_threads(args.speed_threads)
    shape = load(data / MODELS["spot"])
    b = initial_binding(shape.vertices, shape.faces, appearance_of(shape), 100_000, 3, seed=0)
    p = params_to_torch(b)
    with torch.no_grad():
        means, cov = world_gaussians(p, torch.tensor(b.rest_vertices, dtype=torch.float32),
                                     torch.tensor(b.faces, dtype=torch.long))
    cam = orbit_cameras(shape.vertices, 8, size=512, offset=0.5, margin=0.9)[1]
    ops = torch.sigmoid(p.opacity_logit)

    device = torch.device(args.speed_device)
    on_gpu = device.type == "cuda"
    if on_gpu:  # gsplat takes quaternions and scales (the same Gaussians)
        quats, scales = covariance_to_quat_scale(cov.double())
        inputs = [t.float().to(device) for t in (means, quats, scales, ops, p.sh)]
    else:
        inputs = [means, cov, ops, p.sh]

    def sync():
        if on_gpu:
            torch.cuda.synchronize(device)

    def draw(ts, info):
        if on_gpu:
            m, q, s, o, sh = ts
            return rasterize_gsplat(m, q, s, o, sh, cam.viewmat, cam.K, 512, 512, sh_degree=3,
                                    mode=args.rasterize_mode, eps2d=args.eps2d)
        m, c, o, sh = ts
        return rasterize(m, None, None, o, sh, cam.viewmat, cam.K, 512, 512, sh_degree=3, covars=c, info=info,
                         mode=args.rasterize_mode, eps2d=args.eps2d)

    def run(grad: bool):
        ts = [t.clone().requires_grad_(grad) for t in inputs]
        info: dict = {}
        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        with torch.set_grad_enabled(grad):
            img, _ = draw(ts, info)
        sync()
        t1, c1 = time.perf_counter(), time.process_time()
        if grad:
            img.sum().backward()
            sync()
        return (t1 - t0, time.perf_counter() - t1, info.get("n_fragments"), float((img.sum(-1) > 0).float().mean()),
                c1 - c0, time.process_time() - c1)

    run(False)  # warm-up
    reps = 21 if on_gpu else 3
    fwd = [run(False) for _ in range(reps)]
    both = [run(True) for _ in range(reps)]
    row = {"n_gaussians": 100_000, "image": "512x512", "threads": args.speed_threads, "device": str(device),
           "renderer": "gsplat" if on_gpu else "shapecorr", "rasterize_mode": args.rasterize_mode,
           "eps2d": args.eps2d,
           "forward_s": round(float(np.median([r[0] for r in fwd])), 5),
           "forward_with_grad_s": round(float(np.median([r[0] for r in both])), 5),
           "backward_s": round(float(np.median([r[1] for r in both])), 5),
           "forward_cpu_s": round(float(np.median([r[4] for r in fwd])), 3),
           "backward_cpu_s": round(float(np.median([r[5] for r in both])), 3),
           "fragments": fwd[0][2], "covered_fraction": round(fwd[0][3], 3), "load_avg": _load_avg()}
    print(json.dumps(row), flush=True)
    return row


def write_md(results: dict, path: Path) -> None:
    lines = ["# Mesh-bound Gaussian splats on CPU", ""]
    if results.get("static"):
        lines += [("| model | appearance | 2D filter | training cameras | Gaussians | steps | image | held-out PSNR (dB) | "
                   "covered pixels (dB) | worst view (dB) | held-out at half distance (dB) | fit CPU s |"),
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in results["static"]:
            lines.append(f"| {r['model']} | {r['appearance']} | {r.get('rasterize_mode', 'classic')}, "
                         f"eps2d {r.get('eps2d', 0.3)} | {r['train_views']} + {r.get('train_close_views', 0)} at "
                         f"{r.get('close_margin', 0.7)} x the distance | "
                         f"{r['n_gaussians']} | {r['steps']} | "
                         f"{r['image_size']}² | {r['psnr_db']} | {r['psnr_covered_db']} | {r['psnr_min_view_db']} | "
                         f"{r['close_psnr_db']} (covered {r['close_psnr_covered_db']}) | {r['fit_cpu_s']} |")
        lines.append("")
    if results.get("deformed"):
        r = results["deformed"]
        lines += [(f"Deformed: {r['edit']}, mean edge change {r['mean_edge_change_pct']} %: PSNR {r['psnr_db']} dB "
                  f"(covered pixels {r['psnr_covered_db']} dB, worst view {r['psnr_min_view_db']} dB) at "
                  f"{r['image_size']}²; close-up of the neck at 512²: {r.get('closeup_512_psnr_db')} dB "
                  f"(covered {r.get('closeup_512_psnr_covered_db')} dB)."), ""]
    for r in results.get("speed_runs", [results["speed"]] if results.get("speed") else []):
        lines += [(f"Speed ({r.get('renderer', 'shapecorr')} on {r.get('device', 'cpu')}): {r['n_gaussians']} "
                   f"Gaussians at {r['image']}, {r['threads']} thread(s), "
                   f"{r.get('rasterize_mode', 'classic')} mode, eps2d {r.get('eps2d', 0.3)}: forward "
                  f"{r['forward_s']} s, forward with gradients {r['forward_with_grad_s']} s + backward "
                  f"{r['backward_s']} s (CPU time: forward {r['forward_cpu_s']} s, backward {r['backward_cpu_s']} s; "
                  f"{r['fragments']} fragments; load average {r['load_avg']})."), ""]
    path.write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="the shared data folder (textured/spot, realworld/)")
    ap.add_argument("--out", type=Path, default=Path("docs/bench/splat_cpu"))
    ap.add_argument("--models", default="spot,cow,homer")
    ap.add_argument("--only", choices=("static", "deformed", "speed"),
                    help="run one part only (static includes deformed; deformed alone needs the splats of --keep)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--views", type=int, default=32)
    ap.add_argument("--gaussians", type=int, default=40000)
    ap.add_argument("--max-gaussians", type=int, default=80000)
    ap.add_argument("--densify-every", type=int, default=100)
    ap.add_argument("--split-fraction", type=float, default=0.0,
                    help="faces split 1-to-4 with their Gaussians at each densification (FitSettings.split_fraction)")
    ap.add_argument("--offset-weight", type=float, default=0.0,
                    help="soft pull of the Gaussians to the surface (FitSettings.offset_weight)")
    ap.add_argument("--close-views", type=int, default=8,
                    help="more training cameras closer to the object (FitSettings.close_views)")
    ap.add_argument("--close-margin", type=float, default=0.7, help="FitSettings.close_margin")
    ap.add_argument("--rasterize-mode", default="antialiased", choices=("antialiased", "classic"),
                    help="FitSettings.rasterize_mode, also the speed test's")
    ap.add_argument("--eps2d", type=float, default=0.1, help="FitSettings.eps2d, also the speed test's")
    ap.add_argument("--bend", type=float, default=45.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--speed-threads", type=int, default=1)
    ap.add_argument("--speed-device", default="cpu", choices=("cpu", "cuda"),
                    help="the speed test's device: our rasterizer on cpu, gsplat on cuda")
    ap.add_argument("--keep", metavar="DIR", help="also save the fitted splats there")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    if args.only in (None, "static"):
        results["static"] = []
        for name in args.models.split(","):
            row, binding, shape, app = static(args.data, name, args, args.out)
            results["static"].append(row)
            if name == "spot":
                results["deformed"] = deformed(binding, shape, app, args, args.out)
            path.write_text(json.dumps(results, indent=2) + "\n")
    if args.only == "deformed":
        shape = load(args.data / MODELS["spot"])
        results["deformed"] = deformed(load_binding(Path(args.keep) / "spot"), shape, appearance_of(shape), args,
                                       args.out)
    if args.only in (None, "speed"):
        results["speed"] = speed(args.data, args)
        results["speed_runs"] = [r for r in results.get("speed_runs", [])
                                 if (r["threads"], r.get("device", "cpu")) != (args.speed_threads, args.speed_device)]
        results["speed_runs"].append(results["speed"])
    path.write_text(json.dumps(results, indent=2) + "\n")
    write_md(results, args.out / "results.md")


if __name__ == "__main__":
    main()
