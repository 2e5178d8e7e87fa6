"""``shapecorr transfer``: carry a texture, colours, labels, a field or a deformation from SOURCE onto TARGET."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..core.jsonio import json_default
from .common import (
    add_landmarks_argument,
    add_register_proxy_argument,
    add_up_argument,
    register_proxy_size,
    register_report,
    CommandError,
    Progress,
    atomic_output_dir,
    check_device,
    check_input_file,
    check_not_inputs,
    check_output_folder,
    landmarks_for,
    match_or_saved,
    read_landmarks_arg,
    trust_note,
)
from .match_cmd import add_model_arguments, model_overrides

#: the surface map each --what uses unless --method says otherwise: the registration where it was
#: measured better (texture: 0.14-0.64x the spectral method's median UV error on six pairs,
#: docs/bench/register_cpu; colours and labels: 1.5-8x fewer wrong colours and labels on five pairs,
#: docs/bench/register_cpu/colors_labels; deformation: limbs stay whole under a pose change); the
#: points of fields come with --field-method (register by default, measured there too)
DEFAULT_METHODS = {"texture": "register", "colors": "register", "labels": "register", "deformation": "register"}

WHAT = ("texture", "colors", "labels", "field", "deformation")

HELP = ("transfer a UV texture, vertex colours, segment labels, a scalar field or a deformation from SOURCE "
        "to TARGET")

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
           through the functional map (smooth), written as field.txt plus a coloured PLY;
  deformation
           the change from SOURCE to --deformed SOURCE_DEFORMED (a pose change, an edit) applied
           to TARGET (deformation transfer, Sumner & Popovic 2004: per-triangle deformation
           gradients carried through the map, then one least-squares solve), written as
           DIR/<target name>_deformed.ply in TARGET's vertex order. SOURCE_DEFORMED may be
           meshed differently from SOURCE (two scans of one person): it is then matched to
           SOURCE first (saved in DIR/deformed_match/); with the same vertices and faces it is
           taken as it is.

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
  shapecorr transfer a_rest.off b_rest.off --what deformation --deformed a_posed.off --out out/pose
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
    add_landmarks_argument(p, new_match=True)
    p.add_argument("--preset", default="default", metavar="NAME",
                   help="match preset when the match is computed: a shipped name or a YAML file "
                        "(default: %(default)s)")
    p.add_argument("--strict", action="store_true",
                   help="refuse imperfect meshes instead of handling them with a warning")
    add_model_arguments(p)
    p.add_argument("--method", choices=("spectral", "vertex", "register"), default=None,
                   help="spectral: precise points on the source surface through the functional map "
                        "(smooth); vertex: the nearest-vertex map; register: the source deformed onto the "
                        "target (ARAP non-rigid ICP from the match), then the closest points (default: "
                        "register; for --what field see --field-method; register is the slowest: a few seconds "
                        "to half a minute on 5k-vertex shapes)")
    add_register_proxy_argument(p)
    p.add_argument("--labels", metavar="FILE", help="source labels for --what labels (one integer per line)")
    p.add_argument("--label-method", choices=("nearest", "vote"), default="nearest",
                   help="labels: the label nearest the matched point, or then a label no neighbour has "
                        "replaced by the neighbours' most common one (isolated labels go, borders stay) "
                        "(default: %(default)s)")
    p.add_argument("--field", metavar="FILE", help="source field for --what field (.txt or .npy, one row per vertex)")
    p.add_argument("--field-method", choices=("register", "fmap", "spectral", "vertex"), default="register",
                   help="field: interpolated at the registration's points, through the functional map (smooth, "
                        "band-limited), at the spectral points, or copied through the vertex map (register "
                        "and spectral: --method, when given, picks the points) (default: %(default)s)")
    p.add_argument("--deformed", metavar="SOURCE_DEFORMED",
                   help="for --what deformation: SOURCE after the change to transfer (same mesh moved, or "
                        "another meshing of the same surface, which is then matched to SOURCE)")
    p.add_argument("--no-preview", action="store_true", help="do not render preview.png")
    add_up_argument(p)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="compute device (default: cpu)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def _register_kwargs(args, progress) -> dict:
    """precise_map's registration options from the command line."""
    return {"progress": lambda stage, frac: progress(stage, frac), "register_proxy_size": register_proxy_size(args)}


def _read_vector(path: str, what: str, n: int, dtype):
    """One value (or row) per source vertex from a .txt or .npy file; errors name the file."""
    import numpy as np

    p = Path(path)
    try:
        arr = np.load(p) if p.suffix == ".npy" else np.loadtxt(p, dtype=np.float64, ndmin=1)
    except (ValueError, EOFError) as exc:
        raise CommandError(f"{what} {path}: could not read it ({exc}); give one value per line.") from exc
    arr = np.asarray(arr)
    if arr.ndim == 0 or arr.shape[0] != n:
        raise CommandError(f"{what} {path}: {arr.shape[0] if arr.ndim else 1} rows but the source has {n} "
                           "vertices; give one per source vertex.")
    if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
        raise CommandError(f"{what} {path}: values must be finite numbers (found NaN, infinity or text).")
    if dtype is np.int64 and not np.array_equal(arr, np.round(arr)):
        raise CommandError(f"{what} {path}: labels must be integers.")
    return arr.astype(dtype)


def run(args) -> int:
    progress = Progress(args.quiet, prefix="shapecorr transfer")
    settings = _check_arguments(args)  # every argument is checked before any work
    out = Path(args.out)
    t_all = time.perf_counter()
    source, target, data = _load_inputs(args, settings)
    args.landmark_pairs = landmarks_for(args.landmark_pairs, args.landmarks, source, target)
    saved = _saved_match(args, source, target, settings)
    inputs = [args.source, args.target, source.texture, args.labels, args.field, args.map, args.deformed,
              args.landmarks]
    check_not_inputs(out, _output_names(args.what, source, target) + ["match", "deformed_match"], inputs)
    with atomic_output_dir(out) as tmp:  # an unwritable --out fails here, before the match
        report = _transfer(args, source, target, saved, settings, data, tmp, progress, t_all)
    progress(f"wrote {out}")
    if not args.quiet:
        print(f"{out}: {', '.join(report['outputs'])}{_texture_note(report)}{_trust_notes(report)}")
    return 0


def _check_arguments(args):
    """Options that go together, files that exist, the output folder; the match settings
    (None with --map)."""
    if args.what == "labels" and not args.labels:
        raise CommandError("--what labels needs --labels FILE (one integer label per source vertex).")
    if args.what == "field" and not args.field:
        raise CommandError("--what field needs --field FILE (one value per source vertex).")
    if args.what == "deformation" and not args.deformed:
        raise CommandError("--what deformation needs --deformed SOURCE_DEFORMED (SOURCE after the change).")
    if args.deformed and args.what != "deformation":
        raise CommandError("--deformed only applies to --what deformation.")
    if args.what == "field":
        if args.field_method in ("register", "spectral"):  # read at points: --method, when given, picks them
            args.method = args.method or args.field_method
        elif args.method is not None:
            raise CommandError(f"--method does not apply to --field-method {args.field_method} (it reads the field "
                               "at no surface points); use --field-method register or spectral.")
    elif args.method is None:
        args.method = DEFAULT_METHODS.get(args.what, "spectral")
    if args.landmarks and args.map:
        raise CommandError("--landmarks applies when the match is computed, not with --map (the saved match is "
                           "used as it is: make it with `shapecorr match --landmarks`).")
    args.landmark_pairs = read_landmarks_arg(args.landmarks)
    if args.allow_other_shapes and not args.map:
        raise CommandError("--allow-other-shapes only applies to --map (a saved match).")
    if args.map and not Path(args.map).is_dir():
        raise CommandError(f"--map {args.map}: no such folder; give the --out folder of `shapecorr match`.")
    for path, what in ((args.source, "SOURCE"), (args.target, "TARGET"), (args.labels, "--labels"),
                       (args.field, "--field"), (args.deformed, "--deformed")):
        check_input_file(path, what)
    check_device(args.device)
    check_output_folder(Path(args.out))
    from ..config import load_preset

    if args.map and args.what != "deformation":
        if args.model is not None or args.adapt is not None:
            raise CommandError("--model and --adapt apply when the match is computed, not with --map "
                               "(the saved match is used as it is).")
        return None
    # --what deformation may match SOURCE_DEFORMED to SOURCE even with --map
    return load_preset(args.preset, **model_overrides(args))


def _load_inputs(args, settings):
    """Both shapes and what is carried (the labels, the field or the deformed source; None for a
    texture or colours); inputs that cannot work fail here, before the match."""
    import numpy as np

    from ..core import TextureError, load
    from ..transfer import check_texture_inputs

    source = load(args.source, strict=args.strict)
    target = load(args.target, strict=args.strict)
    if args.what == "texture":
        check_texture_inputs(source, target)
    elif args.what == "colors" and source.vertex_colors is None and not (
            source.is_mesh and source.has_uv and source.texture is not None):
        raise TextureError(f"{args.source}: the source has neither vertex colours nor a UV texture to take "
                           "colours from.")
    if args.what == "labels":
        return source, target, _read_vector(args.labels, "--labels", source.n_vertices, np.int64)
    if args.what == "field":
        return source, target, _read_vector(args.field, "--field", source.n_vertices, np.float64)
    if args.what == "deformation":
        return source, target, _load_deformed(args, source, target, settings)
    return source, target, None


def _load_deformed(args, source, target, settings):
    """SOURCE_DEFORMED, checked: all three are triangle meshes, and one meshed differently from
    SOURCE can be matched to it with the preset's sizes."""
    from ..core import ShapeError, load
    from ..deform.transfer import same_mesh

    deformed = load(args.deformed, strict=args.strict)
    for shape, path, what in ((source, args.source, "SOURCE"), (target, args.target, "TARGET"),
                              (deformed, args.deformed, "--deformed")):
        if not shape.is_mesh:
            raise ShapeError(f"{what} {path}: a point cloud; --what deformation needs triangle meshes (the "
                             "deformation is carried triangle by triangle).")
    if not same_mesh(source, deformed):
        from ..pipeline import plan_pair

        plan_pair(deformed.n_vertices, source.n_vertices, settings, args.device)
    return deformed


def _saved_match(args, source, target, settings):
    """The match of --map, refused for other shapes unless --allow-other-shapes (None without
    --map, after checking that the shapes can carry the settings' map sizes)."""
    if not args.map:
        from ..pipeline import plan_pair

        plan_pair(source.n_vertices, target.n_vertices, settings, args.device)
        return None
    from ..result import Match

    saved = Match.load(args.map)
    saved.check_shapes(source, target, allow_other=args.allow_other_shapes)
    if args.allow_other_shapes:  # the user vouches for these shapes: the match is taken as theirs
        from dataclasses import replace

        saved = replace(saved, source_hash=source.content_hash, target_hash=target.content_hash)
    return saved


def _output_names(what: str, source, target) -> list[str]:
    stem = target.name
    return {
        "texture": [f"{stem}_textured.obj", f"{stem}_textured.mtl"]
        + ([Path(source.texture).name] if source.texture is not None else []),
        "colors": [f"{stem}_colored.ply"],
        "labels": ["labels.txt", f"{stem}_labels.ply"],
        "field": ["field.txt", f"{stem}_field.ply"],
        "deformation": [f"{stem}_deformed.ply"],
    }[what] + ["report.json", "preview.png"]


def _trust_notes(report: dict) -> str:
    """The last line's word on a match that is not trusted: the pair's, and SOURCE_DEFORMED's to SOURCE."""
    return (trust_note(report["match"]["info"])
            + trust_note(report.get("deformed_map", {}), "the match of SOURCE_DEFORMED to SOURCE"))


def _texture_note(report: dict) -> str:
    if report["what"] != "texture":
        return ""
    t = report["texture"]
    return (f" (streak faces: {100 * t['streak_fraction_relative']:.2f} % relative to the source faces they "
            f"land on; UV density > 10x median: {100 * t['streak_fraction_result']:.2f} % vs "
            f"{100 * t['streak_fraction_source']:.2f} % on the source; {t['n_seam_faces']} faces across seams)")


def _transfer(args, source, target, saved, settings, data, tmp: Path, progress, t_all) -> dict:
    """Match (or take the saved match), transfer, write everything into ``tmp``; the report."""
    from ..transfer import precise_map

    timings = {}
    t0 = time.perf_counter()
    m = match_or_saved(saved, source, target, settings, device=args.device, progress=progress, map_dir=args.map,
                       landmarks=args.landmark_pairs)
    timings["match"] = round(time.perf_counter() - t0, 3)
    report = {"what": args.what, "source": source.summary(), "target": target.summary(),
              "confidence": m.info.get("confidence"),
              "match": {"from": args.map or "computed", "preset": None if args.map else args.preset,
                        "settings": m.settings, "info": m.info,
                        "other_shapes_allowed": bool(args.allow_other_shapes)},
              "method": args.method, **register_report(args, source, target)}
    t0 = time.perf_counter()
    smap = None
    if source.is_mesh and args.method is not None:
        smap = precise_map(m, source, target, method=args.method, device=args.device,
                           **(_register_kwargs(args, progress) if args.method == "register" else {}))
    timings["surface_map"] = round(time.perf_counter() - t0, 3)
    if smap is not None:
        progress(f"surface map ({args.method})")
    if args.what == "deformation":
        t0 = time.perf_counter()
        data = _deformed_at_source(args, source, data, settings, tmp, report, progress)
        timings["deformed_source"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    preview, details = WRITERS[args.what](args, m, source, target, smap, data, tmp)
    if details is not None:
        report[args.what] = details
    timings["transfer"] = round(time.perf_counter() - t0, 3)
    progress(f"{args.what} transferred")
    if saved is None:
        m.save(tmp / "match")
    if not args.no_preview:
        from ..render import render_side_by_side

        t0 = time.perf_counter()
        render_side_by_side(preview, tmp / "preview.png", titles=PREVIEW_TITLES.get(args.what, ("source", "target", "result")),
                            same_scale=PREVIEW_SCALES.get(args.what), up=args.up)
        timings["preview"] = round(time.perf_counter() - t0, 3)
        progress("preview rendered")
    timings["total"] = round(time.perf_counter() - t_all, 3)
    report["timings"] = timings
    report["outputs"] = sorted([p.name for p in tmp.iterdir()] + ["report.json"])
    (tmp / "report.json").write_text(json.dumps(report, indent=2, default=json_default))
    return report


def _plain(shape, colors):
    """``shape`` wearing per-vertex ``colors`` only (no UVs, no texture)."""
    return shape.copy(vertex_colors=colors, uv=None, face_uv=None, texture=None)


def _write_texture(args, m, source, target, smap, data, tmp: Path):
    from ..transfer import texture_from_surface_map

    res = texture_from_surface_map(source, target, smap)
    result = res.shape.copy(name=f"{target.name}_textured")
    result.save(tmp / f"{target.name}_textured.obj")
    stats = {**res.stats, "method": args.method, "image": str(source.texture)}
    return [source, target, result.copy(texture=tmp / Path(source.texture).name)], stats


def _write_colors(args, m, source, target, smap, data, tmp: Path):
    from ..transfer import transfer_colors

    result = _plain(target, transfer_colors(m, source, target, method=args.method, surface_map=smap))
    result.save(tmp / f"{target.name}_colored.ply")
    return [source, target, result], None


def _write_labels(args, m, source, target, smap, labels, tmp: Path):
    import numpy as np

    from ..transfer import transfer_labels

    out_labels = transfer_labels(m, source, target, labels, method=args.label_method, surface_map=smap)
    np.savetxt(tmp / "labels.txt", out_labels, fmt="%d")
    c1, c2 = _label_colors(labels, out_labels)
    result = _plain(target, c2)
    result.save(tmp / f"{target.name}_labels.ply")
    details = {"method": args.label_method, "n_labels_source": int(np.unique(labels).size),
               "n_labels_target": int(np.unique(out_labels).size)}
    return [_plain(source, c1), target, result], details


def _write_field(args, m, source, target, smap, field, tmp: Path):
    import numpy as np

    from ..transfer import transfer_field

    out_field = transfer_field(m, source, target, field, method=args.field_method, surface_map=smap)
    np.savetxt(tmp / "field.txt", out_field, fmt="%.9g")
    c1, c2 = _field_colors(field, out_field)
    result = _plain(target, c2)
    result.save(tmp / f"{target.name}_field.ply")
    details = {"method": args.field_method, "source_range": [float(field.min()), float(field.max())],
               "target_range": [float(out_field.min()), float(out_field.max())]}
    return [_plain(source, c1), target, result], details


def _deformed_at_source(args, source, deformed, settings, tmp: Path, report: dict, progress):
    """``(deformed shape, (n1, 3) positions of SOURCE_DEFORMED at SOURCE's vertices)``: taken as
    they are for the same mesh, else through a match SOURCE_DEFORMED -> SOURCE (saved in
    ``tmp/deformed_match``) and the points of ``--method`` on the deformed surface."""
    from ..deform import deformed_at_source
    from ..deform.transfer import same_mesh
    from ..pipeline import match

    if same_mesh(source, deformed):
        report["deformed_map"] = {"kind": "identity (same vertices and faces)"}
        return deformed, deformed_at_source(source, deformed)
    md = match(deformed, source, settings, device=args.device,
               progress=lambda stage, frac: progress(f"match SOURCE_DEFORMED -> SOURCE: {stage}", frac))
    md.save(tmp / "deformed_match")
    kw = _register_kwargs(args, progress) if args.method == "register" else {}
    D = deformed_at_source(source, deformed, md, method=args.method, device=args.device, **kw)
    report["deformed_map"] = {"kind": "matched", "preset": args.preset, "method": args.method,
                              "confidence": md.info.get("confidence"),
                              "confidence_low": bool(md.info.get("confidence_low")), "saved": "deformed_match"}
    progress(f"SOURCE_DEFORMED read at SOURCE's vertices ({args.method})")
    return deformed, D


def _write_deformation(args, m, source, target, smap, data, tmp: Path):
    import numpy as np

    from ..deform import transfer_deformation

    D = data[1]  # (deformed shape, its positions at the source's vertices)
    res = transfer_deformation(source, D, target, surface_map=smap, details=True)
    result = target.copy(vertices=res.vertices, name=f"{target.name}_deformed", uv=None, face_uv=None,
                         texture=None)
    result.save(tmp / f"{target.name}_deformed.ply")
    scale = float(np.sqrt(target.area))
    moved = np.linalg.norm(res.vertices - target.vertices, axis=1) / scale
    source_moved = np.linalg.norm(D - source.vertices, axis=1) / float(np.sqrt(source.area))
    e = target.edges
    stretch = (np.linalg.norm(res.vertices[e[:, 0]] - res.vertices[e[:, 1]], axis=1)
               / np.maximum(np.linalg.norm(target.vertices[e[:, 0]] - target.vertices[e[:, 1]], axis=1), 1e-300))
    details = {"method": args.method, "align_rotation": res.rotation,
               "source_faces_used": int(np.unique(res.face_map).size),
               "source_displacement_over_sqrt_area": {"mean": float(source_moved.mean()),
                                                      "max": float(source_moved.max())},
               "target_displacement_over_sqrt_area": {"mean": float(moved.mean()), "max": float(moved.max())},
               "edge_length_ratio": {"median": float(np.median(stretch)), "p01": float(np.quantile(stretch, 0.01)),
                                     "p99": float(np.quantile(stretch, 0.99))}}
    source_after = source.copy(vertices=D, name="source deformed", uv=None, face_uv=None, texture=None)
    return [_plain(target, None), result, _plain(source, None), source_after], details


# what --what writes: (arguments, match, source, target, surface map, labels/field/deformed, folder) -> (preview, report)
WRITERS = {"texture": _write_texture, "colors": _write_colors, "labels": _write_labels, "field": _write_field,
           "deformation": _write_deformation}

PREVIEW_TITLES = {"deformation": ("target", "target deformed", "source", "source deformed")}
#: panels drawn at one scale (a shape before and after its change), by --what; the default draws each alone
PREVIEW_SCALES = {"deformation": (0, 0, 1, 1)}


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

