#!/usr/bin/env python
"""Measure texture transfer: through our map versus through the ground-truth map.

    python scripts/eval_texture.py --out out/eval_texture                       # Spot pair only
    python scripts/eval_texture.py --faust ../shared/data/FAUST_r/vtx_5k --faust-pairs 3 --out out/eval_texture
    python scripts/eval_texture.py --methods spectral vertex register --bent spot cow homer cheburashka alligator \
        --realworld ../shared/data/realworld --out docs/bench/register_cpu     # bent + remeshed copies

For each pair the source's texture is carried to the target (a) through the ground truth and
(b) through ``shapecorr.match`` + :func:`shapecorr.transfer_texture` (``spectral``: precise
points; ``vertex``: the vertex map; ``register``: the source registered onto the target,
ARAP-regularized non-rigid ICP with a robust ARAP energy, points read off the deformed source;
``register-l2``: the same with the earlier least-squares ARAP and stiffness schedule; ``no seams``: precise
points without the per-corner seam handling). Reported per method:

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

Bent and remeshed copies (``--bent NAME ...``: ``spot`` is the bundled textured Spot, other
names are models of ``--realworld``, which get the synthetic UV and a 1024 x 1024 checker): the
target is the model remeshed independently (pymeshlab isotropic remeshing at the model's mean
edge length), then bent like a joint (the half beyond the middle of the longest axis turned by
``--bend`` degrees, blended over the middle 40 %), its vertices shuffled. Ground truth: each
remeshed vertex projected on the closest point of the model's surface before bending.
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


def registered_from_truth(source, target, gt_smap, settings=None):
    """The registration started from the ground truth (its points pull the first deformation):
    what is left is the registration's own error, not the map's (a diagnosis, not a method)."""
    from shapecorr.deform.registration import register
    from shapecorr.transfer.surface import project_on_surface

    reg = register(source, target, gt_smap.nearest_vertex(source.faces), None,
                   init_points=(gt_smap.face, gt_smap.bary), settings=settings)
    return project_on_surface(target.vertices, reg.vertices, source.faces)[0]


def evaluate_pair(name, source, target, gt_smap, match, *, gt_rows=None, view=None, picture=None,
                  methods=("spectral", "vertex")):
    from PIL import Image

    from shapecorr.transfer import precise_map, texture_from_surface_map
    from shapecorr.transfer.precise import registered_map

    size = max(Image.open(source.texture).size)
    n2 = target.n_vertices
    ref = texture_from_surface_map(source, target, gt_smap)
    rows = {}
    smaps, t_method = {}, {}
    for method in methods:
        t0 = time.perf_counter()
        if method == "register-from-truth":
            smaps[method] = registered_from_truth(source, target, gt_smap)
        elif method.startswith("register-proxy"):  # register-proxy[-N]: through proxies of N vertices
            proxy_size = int(method.split("-")[2]) if method.count("-") == 2 else 5000
            smaps[method] = registered_map(match, source, target, max_vertices=proxy_size)
        elif method == "register-finish":  # through the proxies, then the last ICP stage at full resolution
            smaps[method] = registered_map(match, source, target, max_vertices=5000, finish=True)
        elif method == "register-full":
            smaps[method] = precise_map(match, source, target, method="register", register_proxy_size=None)
        elif method == "register-l2":
            smaps[method] = precise_map(match, source, target, method="register", register_settings=previous_register_settings())
        else:
            smaps[method] = precise_map(match, source, target, method=method)
        t_method[method] = round(time.perf_counter() - t0, 2)
    t_precise = t_method.get("spectral", 0.0)
    results = {m: texture_from_surface_map(source, target, smaps[m]) for m in methods}
    if "spectral" in smaps:
        results["no seams"] = texture_from_surface_map(source, target, smaps["spectral"], seams=False)
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

        shown = [m for m in ("spectral", "register", "vertex") if m in results]
        render_side_by_side([ref.shape] + [results[m].shape for m in shown], picture,
                            titles=["ground-truth map"] + [f"{m} map" for m in shown], view=view)
    return {"pair": name, "texture_size": size, "t_precise_s": round(t_precise, 2), "t_method_s": t_method,
            "methods": rows}


def previous_register_settings():
    """The registration before the robust ARAP energy (least squares, stiffness down to 3e-5)."""
    from shapecorr.deform.registration import RegisterSettings

    return RegisterSettings(robust_arap=0.0, stiffness=(0.003, 0.001, 3e-4, 1e-4, 3e-5))


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


def summary_table(results, args) -> str:
    """Median / mean UV error (texels) per pair and method, as Markdown."""
    methods = [m for m in args.methods]
    lines = [f"Command: `python scripts/eval_texture.py {' '.join(sys.argv[1:])}`", "",
             "| pair | " + " | ".join(f"{m} median (mean)" for m in methods) + " | register / spectral (median) | "
             "point error x100: " + " / ".join(methods) + " | register s (wall) |",
             "|---|" + "---|" * (len(methods) + 3)]
    for r in results:
        rows = r["methods"]
        cells = [f"{rows[m]['uv_err_texels']['median']:.2f} ({rows[m]['uv_err_texels']['mean']:.1f})" for m in methods]
        ratio = (f"{rows['register']['uv_err_texels']['median'] / rows['spectral']['uv_err_texels']['median']:.2f}"
                 if "register" in rows and "spectral" in rows else "")
        pe = " / ".join(f"{rows[m].get('point_err_x100', float('nan')):.2f}" for m in methods)
        t_reg = r["t_method_s"].get("register", "")
        lines.append(f"| {r['pair']} | " + " | ".join(cells) + f" | {ratio} | {pe} | {t_reg} |")
    return "\n".join(lines) + "\n"


def synthetic_uv(shape, texture):
    """A planar projection of the front (u = x, v = y, normalized) and a texture image."""
    v = shape.vertices
    uv = (v[:, :2] - v[:, :2].min(0)) / np.ptp(v[:, :2], axis=0).max()
    return shape.copy(uv=uv, face_uv=None, texture=texture, material_name="checker")


def remesh(shape, seed: int = 0, edge_scale: float = 1.0):
    """The shape remeshed independently (isotropic, at ``edge_scale`` times its mean edge length),
    vertices shuffled."""
    import pymeshlab

    v, f = shape.vertices, shape.faces
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    mean_edge = float(np.linalg.norm(v[edges[:, 0]] - v[edges[:, 1]], axis=1).mean())
    ms = pymeshlab.MeshSet()
    ms.add_mesh(pymeshlab.Mesh(vertex_matrix=v, face_matrix=f))
    ms.meshing_isotropic_explicit_remeshing(targetlen=pymeshlab.PureValue(edge_scale * mean_edge), iterations=6)
    m = ms.current_mesh()
    v2, f2 = np.asarray(m.vertex_matrix(), np.float64), np.asarray(m.face_matrix(), np.int64)
    used = np.unique(f2)  # drop vertices the remeshing left unreferenced
    remap = np.full(len(v2), -1)
    remap[used] = np.arange(len(used))
    v2, f2 = v2[used], remap[f2]
    perm = np.random.default_rng(seed).permutation(len(v2))
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    return v2[perm], inv[f2]


def bend_like_a_joint(v: np.ndarray, degrees: float, width: float = 0.4, about: np.ndarray | None = None) -> np.ndarray:
    """Turn the half of ``v`` beyond the middle of its longest principal axis by ``degrees`` about
    the second axis, blended (smoothstep) over the middle ``width`` of the length: a pose-like,
    nearly isometric bend. With ``about`` (points), ``v`` are vectors at those points (normals):
    each is turned by its point's rotation, not moved."""
    x = v if about is None else about
    c = x.mean(0)
    _, _, axes = np.linalg.svd(x - c, full_matrices=False)
    a0, a1 = axes[0], axes[1]
    s = (x - c) @ a0
    lo, hi = s.min(), s.max()
    mid, w = 0.5 * (lo + hi), width * (hi - lo)
    t = np.clip((s - (mid - 0.5 * w)) / w, 0.0, 1.0)
    angle = np.deg2rad(degrees) * t * t * (3 - 2 * t)
    p = v - c - mid * a0 if about is None else v
    k = a1  # rotation axis
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    rotated = p * cos + np.cross(k, p) * sin + np.outer(p @ k, k) * (1 - cos)  # Rodrigues
    return rotated + c + mid * a0 if about is None else rotated


def bent_remeshed_pair(source, degrees: float, seed: int = 0, edge_scale: float = 1.0):
    """``(target, gt_smap)``: ``source`` remeshed, bent, shuffled; ground truth on the source."""
    import shapecorr
    from shapecorr.transfer.surface import project_on_surface

    v2, f2 = remesh(source, seed, edge_scale)
    gt, _ = project_on_surface(v2, source.vertices, source.faces)
    target = shapecorr.Shape(bend_like_a_joint(v2, degrees), f2, name=f"{source.name}_bent_remeshed")
    return target, gt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spot", default=str(ROOT / "data/spot"))
    ap.add_argument("--faust", help="FAUST_r vtx_5k folder (with corres/); skipped when absent")
    ap.add_argument("--faust-pairs", type=int, default=3, help="number of test pairs from test_pairs.txt")
    ap.add_argument("--preset", default="default")
    ap.add_argument("--faust-preset", default="fast")
    ap.add_argument("--out", default=str(ROOT / "out/eval_texture"))
    ap.add_argument("--picture", help="write the Spot comparison picture here (PNG)")
    ap.add_argument("--methods", nargs="+", default=["spectral", "vertex"],
                    choices=["spectral", "vertex", "register", "register-l2", "register-from-truth",
                             "register-proxy", "register-proxy-8000", "register-full", "register-finish"],
                    help="register: precise_map's registration (above 8000 vertices through 5000-vertex "
                         "proxies, then the last ICP stage at full resolution); register-full: at full "
                         "resolution whatever the size; register-proxy[-N]: through proxies of N (5000) "
                         "vertices whatever the size, no finish (deform.precise.registered_map(max_vertices=N)); "
                         "register-finish: through 5000-vertex proxies whatever the size, then the finish; "
                         "register-l2: the registration before its robust ARAP energy (least squares, the "
                         "earlier stiffness schedule); register-from-truth: the registration started from the "
                         "ground-truth points (a diagnosis: the registration's own error)")
    ap.add_argument("--bent", nargs="*", default=[], metavar="NAME",
                    help="bent + remeshed copies of these models ('spot': data/spot/spot.obj; others from --realworld)")
    ap.add_argument("--realworld", default=str(ROOT.parent / "shared/data/realworld"))
    ap.add_argument("--bend", type=float, default=40.0, help="bend angle of the copies (degrees)")
    ap.add_argument("--edge-scale", type=float, default=1.0,
                    help="remesh the bent copies at this multiple of the model's mean edge length (0.5: about 4x "
                         "the vertices, a scan-size target)")
    ap.add_argument("--no-spot-pair", action="store_true", help="skip spot -> spot_posed")
    args = ap.parse_args(argv)

    import shapecorr
    from shapecorr.transfer import SurfaceMap

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []

    spot = Path(args.spot)
    if not args.no_spot_pair:
        src, tgt = shapecorr.load(spot / "spot.obj"), shapecorr.load(spot / "spot_posed.obj")
        gt = np.load(spot / "spot_posed_gt_bary.npz")
        gt_smap = SurfaceMap(gt["face"].astype(np.int64), gt["bary"].astype(np.float64))
        t0 = time.perf_counter()
        m = shapecorr.match(src, tgt, preset=args.preset)
        t_match = time.perf_counter() - t0
        r = evaluate_pair("spot -> spot_posed", src, tgt, gt_smap, m, picture=args.picture, methods=args.methods)
        r["preset"], r["t_match_s"] = args.preset, round(t_match, 2)
        results.append(r)
        print(json.dumps(r, indent=1), flush=True)
        (out / "results.json").write_text(json.dumps(results, indent=2))

    for name in args.bent:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # open or imperfect real models: handled, warned about elsewhere
            if name == "spot":
                src = shapecorr.load(spot / "spot.obj")
            else:
                model = next(p for p in sorted(Path(args.realworld).glob(f"{name}.*")) if p.suffix != ".mtl")
                src = synthetic_uv(shapecorr.load(model),
                                   checker_texture(out / "checker1024.png", size=1024, n=16))
            tgt, gt_smap = bent_remeshed_pair(src, args.bend, edge_scale=args.edge_scale)
            t0 = time.perf_counter()
            m = shapecorr.match(src, tgt, preset=args.preset)
            t_match = time.perf_counter() - t0
            r = evaluate_pair(f"{name} -> bent {args.bend:g} deg, remeshed", src, tgt, gt_smap, m,
                              methods=args.methods, view=(0.3, 0.3, 1.0), picture=out / f"{name}_bent.png")
        r.update(preset=args.preset, t_match_s=round(t_match, 2), n_source=src.n_vertices, n_target=tgt.n_vertices)
        results.append(r)
        print(json.dumps(r, indent=1), flush=True)
        (out / "results.json").write_text(json.dumps(results, indent=2))

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
                              gt_rows=np.unique(vb), view=(0.3, 0.2, 1.0), methods=args.methods)
            r["preset"], r["t_match_s"] = args.faust_preset, round(t_match, 2)
            results.append(r)
            print(json.dumps(r, indent=1), flush=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(summary_table(results, args))
    print(f"wrote {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
