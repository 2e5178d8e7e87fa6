#!/usr/bin/env python
"""Benchmark: point clouds of shapes that are not FAUST humans (the realworld models, Spot).

The point-cloud targets of issue 11 are measured on FAUST_r vertices. People bring scans of
anything: an animal, a statue, a toy. For each model this makes two seeded pairs with a known
answer and matches them with the default preset (or ``--preset``):

- ``mesh->cloud``: the model's mesh against ``--points`` points drawn uniformly on its surface
  (by area), the drawn copy bent like a joint (``eval_texture.bend_like_a_joint``, ``--degrees``),
  turned by a random rotation and scaled by 2 (a scan is neither aligned nor in the same units);
- ``cloud->cloud``: two independent draws of the model, the second bent, turned and scaled.

Ground truth: every drawn point lies on a known face of the model. The error of a target point
is the geodesic distance on the model (heat method, :mod:`shapecorr.eval.metrics`) from the
vertex the map gives (for a cloud source: the model vertex nearest the matched point) to the
model vertex nearest the point's true position, divided by sqrt(area), x100 as everywhere.
The nearest-vertex rounding adds about a third of a mean edge length; ``--exact`` prints it
(the error of the true map through the same rounding) per model.

Writes OUT/rows.jsonl (one row per pair: error mean / median / share of points above 0.1,
confidence, whether the cloud went through a reconstructed surface, time, warnings),
OUT/summary.md and OUT/pairs.png.

    python scripts/bench_realworld_clouds.py ../shared/data/realworld --spot data/spot/cow.obj \
        --out docs/bench/pointcloud_cpu/realworld
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

MODELS = ("cow", "homer", "alligator", "cheburashka", "fandisk", "woody", "beetle", "suzanne", "teapot",
          "stanford-bunny", "igea")
KINDS = ("mesh->cloud", "cloud->cloud")


def drawn_points(shape, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(points, nearest_vertex, normals)``: ``n`` points uniform by area on ``shape``, for each
    the model vertex nearest its position (the ground truth on the model), and the outward normal
    of the face it lies on (what a scanner's file would give)."""
    from scipy.spatial import cKDTree

    from shapecorr.splat.meshview import sample_surface

    face, bary = sample_surface(shape.vertices, shape.faces, n, np.random.default_rng(seed))
    pts = np.einsum("nc,ncd->nd", bary, shape.vertices[shape.faces[face]])
    corners = shape.vertices[shape.outward_faces[face]]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-300)
    return pts, cKDTree(shape.vertices).query(pts)[1], normals


def posed(points: np.ndarray, degrees: float, seed: int, normals: np.ndarray | None = None):
    """``points`` bent like a joint, turned by a random rotation (seeded) and scaled by 2; with
    ``normals``, also the normals turned the same way (each by its point's bending rotation; the
    blend's shear is left out): ``(points, normals)``."""
    from scipy.spatial.transform import Rotation

    from eval_texture import bend_like_a_joint

    bent = bend_like_a_joint(points, degrees)
    rot = Rotation.random(random_state=seed).as_matrix()
    moved = 2.0 * (bent - bent.mean(0)) @ rot.T
    if normals is None:
        return moved
    return moved, bend_like_a_joint(normals, degrees, about=points) @ rot.T


def make_pair(model, kind: str, n: int, degrees: float, seed: int, with_normals: bool = False):
    """``(source, target, gt_source, source_vertex_of)``: the pair's shapes, the model vertex each
    target point truly is, and how a source index becomes a model vertex. ``with_normals``: the
    clouds carry their true normals (:attr:`Shape.point_normals`), as a scanner's file would."""
    from scipy.spatial import cKDTree

    import shapecorr

    target_pts, truth, target_normals = drawn_points(model, n, seed)
    moved, moved_normals = posed(target_pts, degrees, seed + 1, target_normals)
    target = shapecorr.Shape(moved, None, name=f"{model.name}_cloud_bent",
                             point_normals=moved_normals if with_normals else None)
    if kind == "mesh->cloud":
        return model, target, truth, np.arange(model.n_vertices)
    source_pts, _, source_normals = drawn_points(model, n, seed + 2)
    source = shapecorr.Shape(source_pts, None, name=f"{model.name}_cloud",
                             point_normals=source_normals if with_normals else None)
    return source, target, truth, cKDTree(model.vertices).query(source_pts)[1]


def run_pair(model, kind: str, args, distances) -> dict:
    from shapecorr import match
    from shapecorr.eval.metrics import geodesic_errors

    seed = zlib.crc32(f"{model.name}/{kind}".encode()) % 2**31
    source, target, truth, vertex_of = make_pair(model, kind, args.points, args.degrees, seed, args.normals)
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = match(source, target, preset=args.preset, cache=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    p2p = vertex_of[np.asarray(m.target_to_source)]
    err = geodesic_errors(model, p2p, truth, np.arange(len(truth)), distances=distances)
    info = m.info
    proxy = info.get("proxy") or {}
    row = {"model": model.name, "kind": kind, "n_model_vertices": model.n_vertices, "points": args.points,
           "mean": round(100 * float(err.mean()), 3), "median": round(100 * float(np.median(err)), 3),
           "above_0.1": round(float((err > 0.1).mean()), 4), "confidence": round(float(info["confidence"]), 4),
           "low": bool(info["confidence_low"]), "surface": [bool(x) for x in proxy.get("reconstructed", ())],
           "paths": info.get("point_cloud_paths"), "normals_given": bool(args.normals), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
           "warnings": sorted({str(w.message)[:200] for w in caught})}
    if args.exact:
        exact = geodesic_errors(model, truth, truth, np.arange(len(truth)), distances=distances)
        row["rounding"] = round(100 * float(exact.mean()), 3)
    return row


def summary(rows: list[dict]) -> str:
    lines = ["| model | pair | mean / median x100 | points above 0.1 | confidence | through a surface | wall s |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        flag = " (low)" if r["low"] else ""
        lines.append(f"| {r['model']} | {r['kind']} | {r['mean']:.2f} / {r['median']:.2f} | "
                     f"{100 * r['above_0.1']:.1f} % | {r['confidence']:.2f}{flag} | "
                     f"{', '.join('yes' if s else 'no' for s in r['surface']) or 'no'} | {r['wall_s']:.0f} |")
    for kind in KINDS:
        sel = [r["mean"] for r in rows if r["kind"] == kind]
        if sel:
            lines.append(f"\n{kind}: {len(sel)} pairs, mean {np.mean(sel):.2f}, median {np.median(sel):.2f}, "
                         f"above 5: {sum(x > 5 for x in sel)}; trusted above 5: "
                         f"{sum(r['mean'] > 5 and not r['low'] for r in rows if r['kind'] == kind)}")
    return "\n".join(lines) + "\n"


def picture(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(rows)), 3.6))
    colors = ["tab:red" if r["low"] else "tab:blue" for r in rows]
    ax.bar(range(len(rows)), [r["mean"] for r in rows], color=colors)
    ax.set_xticks(range(len(rows)), [f"{r['model']}\n{r['kind']}" for r in rows], rotation=90, fontsize=7)
    ax.set_ylabel("mean geodesic error x100")
    ax.set_title("realworld models as point clouds (red: flagged low confidence)")
    ax.axhline(5, color="grey", lw=0.5, ls="--")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("realworld", type=Path, help="folder of the realworld models (../shared/data/realworld)")
    ap.add_argument("--spot", type=Path, help="Spot's cow.obj, matched as one more model")
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    ap.add_argument("--points", type=int, default=5000)
    ap.add_argument("--degrees", type=float, default=30.0)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--normals", action="store_true",
                    help="the clouds carry their true normals (as a scanner's PLY would), not estimated ones")
    ap.add_argument("--exact", action="store_true", help="also report the nearest-vertex rounding's own error")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    from shapecorr.core.io import load
    from shapecorr.eval.metrics import GeodesicDistances

    args.out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in args.models:
        found = sorted(args.realworld.glob(f"{name}.*"))
        if not found:
            sys.exit(f"bench_realworld_clouds: no model named {name!r} in {args.realworld}")
        paths.append(found[0])
    if args.spot:
        paths.append(args.spot)
    rows = []
    with open(args.out / "rows.jsonl", "w") as log:
        for path in paths:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = load(path, merge_duplicates=True)
            if path == args.spot:
                model = model.copy(name="spot")
            distances = GeodesicDistances(model, cache=False)
            for kind in args.kinds:
                row = run_pair(model, kind, args, distances)
                rows.append(row)
                log.write(json.dumps(row) + "\n")
                log.flush()
                print(f"{row['model']:>15} {kind:>12}: {row['mean']:6.2f} / {row['median']:5.2f}  "
                      f"conf {row['confidence']:.2f}  surface {row['surface']}  {row['wall_s']:.0f} s", flush=True)
    (args.out / "summary.md").write_text(summary(rows))
    picture(rows, args.out / "pairs.png")
    print(summary(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
