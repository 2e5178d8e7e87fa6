#!/usr/bin/env python
"""Measure texture transfer: through our map versus through the ground-truth map.

    python scripts/eval_texture.py --out out/eval_texture                       # Spot pair only
    python scripts/eval_texture.py --faust ../shared/data/FAUST_r/vtx_5k --faust-pairs 3 --out out/eval_texture

For each pair the source's texture is carried to the target (a) through the ground truth and
(b) through ``shapecorr.match`` + :func:`shapecorr.transfer_texture` (``spectral``: precise
points; ``vertex``: the vertex map; ``no seams``: precise points without the per-corner seam
handling). Reported per method:

- ``uv_err_texels``: per target vertex, distance between its UV and the ground-truth one, in
  texels of the texture image (median / mean / 90th percentile). A vertex that lands in another
  UV chart than the truth (near a seam) counts with its full atlas distance, so the mean is
  dominated by such vertices; the median is the typical error.
- ``point_err``: distance on the source between the matched point and the true one, x100 /
  sqrt(source area) (Spot only: FAUST ground truth is vertex to vertex).
- ``image_diff``: both textured targets rendered off-screen with the same camera and no
  lighting; mean absolute difference (0-255, over the pixels covered by either) and the
  fraction of covered pixels that differ by more than 40.
- ``streaks``: fraction of target faces whose texel density is more than 10x that of the source
  faces they land on (``streak_fraction_relative``), and the issue's global figure (density
  > 10x the layout's median) for source and result.

FAUST_r shapes have no UVs: the source gets a synthetic one (a planar projection of its
front, u = x, v = y normalized) and a generated checker texture.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def render_pair(shapes, window=(420, 420), view=None):
    from shapecorr.render import DEFAULT_VIEW, render_shapes

    imgs = []
    for s in shapes:
        imgs.append(render_shapes([s], None, window_size=window, lighting=False, view=view or DEFAULT_VIEW))
    return imgs


def image_diff(a: np.ndarray, b: np.ndarray) -> dict:
    bg_a = (np.abs(a.astype(int) - 255).sum(-1) < 6)
    bg_b = (np.abs(b.astype(int) - 255).sum(-1) < 6)
    mask = ~(bg_a & bg_b)
    d = np.abs(a.astype(int) - b.astype(int)).max(-1)[mask]
    return {"mean_abs": float(d.mean()), "frac_gt40": float((d > 40).mean()), "n_pixels": int(mask.sum())}


def uv_error(uv: np.ndarray, uv_ref: np.ndarray, size: int, rows=None) -> dict:
    e = size * np.linalg.norm(uv - uv_ref, axis=1)
    if rows is not None:
        e = e[rows]
    return {"median": float(np.median(e)), "mean": float(e.mean()), "p90": float(np.quantile(e, 0.9))}


def evaluate_pair(name, source, target, gt_smap, match, *, gt_rows=None, view=None, picture=None):
    from PIL import Image

    from shapecorr.transfer import precise_map, texture_from_surface_map

    size = max(Image.open(source.texture).size)
    n2 = target.n_vertices
    ref = texture_from_surface_map(source, target, gt_smap)
    rows = {}
    t0 = time.perf_counter()
    smaps = {"spectral": precise_map(match, source, target, method="spectral")}
    t_precise = time.perf_counter() - t0
    smaps["vertex"] = precise_map(match, source, target, method="vertex")
    results = {"spectral": texture_from_surface_map(source, target, smaps["spectral"]),
               "vertex": texture_from_surface_map(source, target, smaps["vertex"]),
               "no seams": texture_from_surface_map(source, target, smaps["spectral"], seams=False)}
    imgs = render_pair([ref.shape] + [r.shape for r in results.values()], view=view)
    area = source.area
    p_ref = ref.surface_map.points(source.vertices, source.faces)
    for (method, res), img in zip(results.items(), imgs[1:]):
        row = {"uv_err_texels": uv_error(res.uv[:n2], ref.uv[:n2], size, gt_rows),
               "image_diff": image_diff(img, imgs[0]),
               "streak_fraction_relative": res.stats["streak_fraction_relative"],
               "streak_fraction_result": res.stats["streak_fraction_result"],
               "streak_fraction_source": res.stats["streak_fraction_source"]}
        if gt_rows is None:
            p = res.surface_map.points(source.vertices, source.faces)
            row["point_err_x100"] = float(100 * np.linalg.norm(p - p_ref, axis=1).mean() / np.sqrt(area))
        rows[method] = row
    rows["ground truth"] = {"streak_fraction_relative": ref.stats["streak_fraction_relative"],
                            "streak_fraction_result": ref.stats["streak_fraction_result"]}
    if picture is not None:
        from shapecorr.render import render_side_by_side

        render_side_by_side([ref.shape, results["spectral"].shape, results["no seams"].shape], picture,
                            titles=("ground-truth map", "our map", "our map, no seam handling"), view=view)
    return {"pair": name, "texture_size": size, "t_precise_s": round(t_precise, 2), "methods": rows}


def checker_texture(path: Path, size: int = 512, n: int = 8):
    from PIL import Image

    rng = np.random.default_rng(0)
    palette = rng.integers(40, 255, size=(n * n, 3))
    cell = size // n
    img = np.zeros((size, size, 3), dtype=np.uint8)
    for i in range(n):
        for j in range(n):
            c = palette[i * n + j] if (i + j) % 2 else palette[i * n + j] // 3
            img[i * cell:(i + 1) * cell, j * cell:(j + 1) * cell] = c
    Image.fromarray(img).save(path)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spot", default=str(ROOT / "data/spot"))
    ap.add_argument("--faust", help="FAUST_r vtx_5k folder (with corres/); skipped when absent")
    ap.add_argument("--faust-pairs", type=int, default=3, help="number of test pairs from test_pairs.txt")
    ap.add_argument("--preset", default="default")
    ap.add_argument("--faust-preset", default="fast")
    ap.add_argument("--out", default=str(ROOT / "out/eval_texture"))
    ap.add_argument("--picture", help="write the Spot comparison picture here (PNG)")
    args = ap.parse_args(argv)

    import shapecorr
    from shapecorr.transfer import SurfaceMap

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []

    spot = Path(args.spot)
    src, tgt = shapecorr.load(spot / "spot.obj"), shapecorr.load(spot / "spot_posed.obj")
    gt = np.load(spot / "spot_posed_gt_bary.npz")
    gt_smap = SurfaceMap(gt["face"].astype(np.int64), gt["bary"].astype(np.float64))
    t0 = time.perf_counter()
    m = shapecorr.match(src, tgt, preset=args.preset)
    t_match = time.perf_counter() - t0
    r = evaluate_pair("spot -> spot_posed", src, tgt, gt_smap, m, picture=args.picture)
    r["preset"], r["t_match_s"] = args.preset, round(t_match, 2)
    results.append(r)
    print(json.dumps(r, indent=1), flush=True)

    if args.faust and Path(args.faust).exists():
        root = Path(args.faust)
        pairs_file = root.parent / "test_pairs.txt"
        pairs = [ln.split() for ln in pairs_file.read_text().splitlines() if ln.strip()][: args.faust_pairs]
        tex = checker_texture(out / "checker.png")
        for a, b in pairs:
            A = shapecorr.load(root / f"{a}.off")
            B = shapecorr.load(root / f"{b}.off")
            va = np.loadtxt(root / "corres" / f"{a}.vts", dtype=np.int64) - 1
            vb = np.loadtxt(root / "corres" / f"{b}.vts", dtype=np.int64) - 1
            v = A.vertices
            uv = (v[:, :2] - v[:, :2].min(0)) / np.ptp(v[:, :2], axis=0).max()
            A = A.copy(uv=uv, face_uv=None, texture=tex, material_name="checker")
            # ground truth for every target vertex: its own correspondence, or that of the
            # nearest target vertex that has one
            from scipy.spatial import cKDTree

            gt_21 = np.full(B.n_vertices, -1)
            gt_21[vb] = va
            have = np.flatnonzero(gt_21 >= 0)
            fill = have[cKDTree(B.vertices[have]).query(B.vertices)[1]]
            gt_21 = gt_21[fill]
            t0 = time.perf_counter()
            m = shapecorr.match(A, B, preset=args.faust_preset)
            t_match = time.perf_counter() - t0
            r = evaluate_pair(f"{a} -> {b}", A, B, SurfaceMap.from_vertex_map(gt_21, A.faces), m,
                              gt_rows=np.unique(vb), view=(0.3, 0.2, 1.0))
            r["preset"], r["t_match_s"] = args.faust_preset, round(t_match, 2)
            results.append(r)
            print(json.dumps(r, indent=1), flush=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"wrote {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
