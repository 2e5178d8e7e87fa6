"""``shapecorr transfer``: carry a texture, colours, labels or a field from SOURCE onto TARGET."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..core.jsonio import json_default
from .common import (
    CommandError,
    Progress,
    atomic_output_dir,
    check_device,
    check_input_file,
    check_not_inputs,
    check_output_folder,
)

WHAT = ("texture", "colors", "labels", "field")

HELP = "transfer a UV texture, vertex colours, segment labels or a scalar field from SOURCE to TARGET"

DESCRIPTION = """\
Compute the correspondence between SOURCE and TARGET (or reuse a saved one with --map) and carry
what SOURCE wears onto TARGET:

  texture  the UV texture: TARGET gets UVs (each vertex takes the UV of its matched point on the
           source surface, seams handled per face corner) and is written as a textured OBJ with
           its .mtl and a copy of the texture image;
  colors   per-vertex colours (from the source's vertex colours, or sampled from its texture),
           written as PLY (works for point-cloud targets too);
  labels   integer segment labels (--labels FILE, one per source vertex), written as labels.txt
           plus a coloured PLY;
  field    a scalar field (--field FILE, one value per source vertex; .txt or .npy), carried
           through the functional map (smooth), written as field.txt plus a coloured PLY.

Also writes DIR/report.json (what was done, quality figures, timings) and DIR/preview.png
(source, target and result rendered side by side off-screen), and, when the match was computed
here, the match itself in DIR/match/ (reuse it with --map DIR/match). A saved match is only
applied to the shapes it was computed for (checked by content: same vertex count but another
vertex order is refused); --allow-other-shapes overrides that. Input files are never
overwritten.
"""

EPILOG = """\
examples:
  shapecorr transfer data/spot/spot.obj data/spot/spot_posed.obj --out out/spot
  shapecorr transfer data/spot/spot.obj data/spot/spot_posed.obj --out out/spot2 --map out/spot/match
  shapecorr transfer data/spot/spot.obj scan.ply --what colors --out out/scan
  shapecorr transfer a.off b.off --what labels --labels a_labels.txt --out out/seg
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("transfer", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="SOURCE", help="the shape that has the texture / colours / labels")
    p.add_argument("target", metavar="TARGET", help="the shape that receives them")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    p.add_argument("--what", choices=WHAT, default="texture", help="what to transfer (default: %(default)s)")
    p.add_argument("--map", metavar="MATCH_DIR", help="reuse a match saved by `shapecorr match --out` "
                                                      "(or DIR/match of an earlier transfer)")
    p.add_argument("--allow-other-shapes", action="store_true",
                   help="apply --map even to shapes other than the ones it was computed for (their "
                        "vertices must still correspond one to one; rarely what you want)")
    p.add_argument("--preset", default="default", metavar="NAME",
                   help="match preset when the match is computed: a shipped name or a YAML file "
                        "(default: %(default)s)")
    p.add_argument("--strict", action="store_true",
                   help="refuse imperfect meshes instead of handling them with a warning")
    p.add_argument("--method", choices=("spectral", "vertex"), default="spectral",
                   help="spectral: precise points on the source surface through the functional map "
                        "(smooth); vertex: the nearest-vertex map (default: %(default)s)")
    p.add_argument("--labels", metavar="FILE", help="source labels for --what labels (one integer per line)")
    p.add_argument("--label-method", choices=("nearest", "vote"), default="vote",
                   help="labels: nearest point, or then a neighbourhood majority vote (default: %(default)s)")
    p.add_argument("--field", metavar="FILE", help="source field for --what field (.txt or .npy, one row per vertex)")
    p.add_argument("--field-method", choices=("fmap", "spectral", "vertex"), default="fmap",
                   help="field: through the functional map (smooth), at precise points, or the vertex map "
                        "(default: %(default)s)")
    p.add_argument("--no-preview", action="store_true", help="do not render preview.png")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="compute device (default: cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def _read_vector(path: str, what: str, n: int, dtype):
    import numpy as np

    p = Path(path)
    if not p.exists():
        raise CommandError(f"{what} {path}: no such file.")
    try:
        arr = np.load(p) if p.suffix == ".npy" else np.loadtxt(p, dtype=dtype, ndmin=1)
    except ValueError as exc:
        raise CommandError(f"{what} {path}: could not read it ({exc}); give one value per line.") from exc
    arr = np.asarray(arr)
    if arr.shape[0] != n:
        raise CommandError(f"{what} {path}: {arr.shape[0]} rows but the source has {n} vertices.")
    return arr.astype(dtype)


def run(args) -> int:
    progress = Progress(args.quiet, prefix="shapecorr transfer")
    # every argument is checked before any work
    if args.what == "labels" and not args.labels:
        raise CommandError("--what labels needs --labels FILE (one integer label per source vertex).")
    if args.what == "field" and not args.field:
        raise CommandError("--what field needs --field FILE (one value per source vertex).")
    if args.allow_other_shapes and not args.map:
        raise CommandError("--allow-other-shapes only applies to --map (a saved match).")
    settings = None
    if not args.map:
        from ..config import load_preset

        settings = load_preset(args.preset)
    elif not Path(args.map).is_dir():
        raise CommandError(f"--map {args.map}: no such folder; give the --out folder of `shapecorr match`.")
    check_input_file(args.source, "SOURCE")
    check_input_file(args.target, "TARGET")
    check_input_file(args.labels, "--labels")
    check_input_file(args.field, "--field")
    check_device(args.device)
    out = Path(args.out)
    check_output_folder(out)
    t_all = time.perf_counter()
    from ..core import load

    source = load(args.source, strict=args.strict)
    target = load(args.target, strict=args.strict)

    import numpy as np

    from ..core import TextureError
    from ..result import Match
    from ..transfer import check_texture_inputs

    # fail early, before the (long) match, on inputs that cannot work
    if args.what == "texture":
        check_texture_inputs(source, target)
    elif args.what == "colors" and source.vertex_colors is None and not (
            source.is_mesh and source.has_uv and source.texture is not None):
        raise TextureError(f"{args.source}: the source has neither vertex colours nor a UV texture to take "
                           "colours from.")
    labels = _read_vector(args.labels, "--labels", source.n_vertices, np.int64) if args.what == "labels" else None
    field = _read_vector(args.field, "--field", source.n_vertices, np.float64) if args.what == "field" else None
    saved = None
    if args.map:
        saved = Match.load(args.map)
        saved.check_shapes(source, target, allow_other=args.allow_other_shapes)
        if args.allow_other_shapes:  # the user vouches for these shapes: the match is taken as theirs
            from dataclasses import replace

            saved = replace(saved, source_hash=source.content_hash, target_hash=target.content_hash)
    else:
        from ..pipeline import plan_pair

        plan_pair(source.n_vertices, target.n_vertices, settings, args.device)  # sizes the shapes can carry

    stem = target.name
    outputs = {
        "texture": [f"{stem}_textured.obj", f"{stem}_textured.mtl"]
        + ([Path(source.texture).name] if source.texture is not None else []),
        "colors": [f"{stem}_colored.ply"],
        "labels": ["labels.txt", f"{stem}_labels.ply"],
        "field": ["field.txt", f"{stem}_field.ply"],
    }[args.what] + ["report.json", "preview.png"]
    inputs = [Path(args.source), Path(args.target)] + ([Path(source.texture)] if source.texture is not None else [])
    inputs += [Path(p) for p in (args.labels, args.field, args.map) if p]
    check_not_inputs(out, outputs + ["match"], inputs)
    with atomic_output_dir(out) as tmp:  # an unwritable --out fails here, before the match
        report = _transfer(args, source, target, saved, settings, labels, field, tmp, progress, t_all)
    progress(f"wrote {out}")
    if not args.quiet:
        extra = ""
        if args.what == "texture":
            t = report["texture"]
            extra = (f" (streak faces: {100 * t['streak_fraction_relative']:.2f} % relative to the source faces they "
                     f"land on; UV density > 10x median: {100 * t['streak_fraction_result']:.2f} % vs "
                     f"{100 * t['streak_fraction_source']:.2f} % on the source; {t['n_seam_faces']} faces across seams)")
        print(f"{out}: {', '.join(report['outputs'])}{extra}")
    return 0


def _transfer(args, source, target, saved, settings, labels, field, tmp: Path, progress, t_all) -> dict:
    """Match (or take the saved match), transfer, write everything into ``tmp``; the report."""
    import numpy as np

    from ..pipeline import match
    from ..transfer import (
        precise_map,
        texture_from_surface_map,
        transfer_colors,
        transfer_field,
        transfer_labels,
    )

    stem = target.name
    timings = {}
    t0 = time.perf_counter()
    if saved is not None:
        m = saved
        progress(f"loaded match {args.map}")
    else:
        m = match(source, target, settings, device=args.device,
                  progress=lambda stage, frac: progress(f"match: {stage}", frac))
    timings["match"] = round(time.perf_counter() - t0, 3)

    report = {"what": args.what, "source": source.summary(), "target": target.summary(),
              "confidence": m.info.get("confidence"),
              "match": {"from": args.map or "computed", "preset": None if args.map else args.preset,
                        "settings": m.settings, "info": m.info,
                        "other_shapes_allowed": bool(args.allow_other_shapes)},
              "method": args.method}
    t0 = time.perf_counter()
    smap = None
    if source.is_mesh and (args.what in ("texture", "colors", "labels") or args.field_method == "spectral"):
        smap = precise_map(m, source, target, method=args.method, device=args.device)
    timings["surface_map"] = round(time.perf_counter() - t0, 3)
    progress(f"surface map ({args.method})")
    t0 = time.perf_counter()
    preview = [source, target]
    if args.what == "texture":
        res = texture_from_surface_map(source, target, smap)
        res.stats["method"] = args.method
        result = res.shape.copy(name=f"{stem}_textured")
        result.save(tmp / f"{stem}_textured.obj")
        report["texture"] = res.stats
        report["texture"]["image"] = str(source.texture)
        preview.append(result.copy(texture=tmp / Path(source.texture).name))
    elif args.what == "colors":
        colors = transfer_colors(m, source, target, method=args.method, surface_map=smap)
        result = target.copy(vertex_colors=colors, uv=None, face_uv=None, texture=None)
        result.save(tmp / f"{stem}_colored.ply")
        preview.append(result)
    elif args.what == "labels":
        out_labels = transfer_labels(m, source, target, labels, method=args.label_method, surface_map=smap)
        np.savetxt(tmp / "labels.txt", out_labels, fmt="%d")
        colors = _label_colors(labels, out_labels)
        result = target.copy(vertex_colors=colors[1], uv=None, face_uv=None, texture=None)
        result.save(tmp / f"{stem}_labels.ply")
        preview = [source.copy(vertex_colors=colors[0], texture=None, uv=None, face_uv=None), target, result]
        report["labels"] = {"method": args.label_method, "n_labels_source": int(np.unique(labels).size),
                            "n_labels_target": int(np.unique(out_labels).size)}
    else:
        out_field = transfer_field(m, source, target, field, method=args.field_method, surface_map=smap)
        np.savetxt(tmp / "field.txt", out_field, fmt="%.9g")
        c1, c2 = _field_colors(field, out_field)
        result = target.copy(vertex_colors=c2, uv=None, face_uv=None, texture=None)
        result.save(tmp / f"{stem}_field.ply")
        preview = [source.copy(vertex_colors=c1, texture=None, uv=None, face_uv=None), target, result]
        report["field"] = {"method": args.field_method,
                           "source_range": [float(field.min()), float(field.max())],
                           "target_range": [float(out_field.min()), float(out_field.max())]}
    timings["transfer"] = round(time.perf_counter() - t0, 3)
    progress(f"{args.what} transferred")
    if not args.map:
        m.save(tmp / "match")
    if not args.no_preview:
        t0 = time.perf_counter()
        from ..render import render_side_by_side

        render_side_by_side(preview, tmp / "preview.png", titles=("source", "target", "result"))
        timings["preview"] = round(time.perf_counter() - t0, 3)
        progress("preview rendered")
    timings["total"] = round(time.perf_counter() - t_all, 3)
    report["timings"] = timings
    report["outputs"] = sorted([p.name for p in tmp.iterdir()] + ["report.json"])
    (tmp / "report.json").write_text(json.dumps(report, indent=2, default=json_default))
    return report


def _label_colors(labels_src, labels_tgt):
    import matplotlib
    import numpy as np

    values = np.unique(np.concatenate([labels_src, labels_tgt]))
    cmap = matplotlib.colormaps["tab20"]
    lut = {v: np.round(255 * np.asarray(cmap(i % 20)[:3])).astype(np.uint8) for i, v in enumerate(values)}
    return (np.stack([lut[v] for v in labels_src]), np.stack([lut[v] for v in labels_tgt]))


def _field_colors(f1, f2):
    import matplotlib
    import numpy as np

    f1 = np.asarray(f1).reshape(len(f1), -1)[:, 0]
    f2 = np.asarray(f2).reshape(len(f2), -1)[:, 0]
    lo, hi = float(np.min(f1)), float(np.max(f1))
    cmap = matplotlib.colormaps["viridis"]

    def col(f):
        t = np.clip((f - lo) / max(hi - lo, 1e-12), 0, 1)
        return np.round(255 * cmap(t)[:, :3]).astype(np.uint8)

    return col(f1), col(f2)

