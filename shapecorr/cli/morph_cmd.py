"""``shapecorr morph SOURCE TARGET --out DIR``: in-between shapes of a matched pair."""

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

HELP = "in-between shapes from SOURCE to TARGET (as-rigid-as-possible), as a mesh sequence and an animation"

DESCRIPTION = """\
Match SOURCE and TARGET (or reuse a saved match with --map) and write the shapes in between:
every triangle of SOURCE turns and stretches from where it is to where the map puts it on
TARGET, rotations interpolated along their shortest consistent path and stretches linearly,
then the triangles are stitched back into one mesh (a least-squares Poisson solve). Unlike
linear blending of vertex positions, a limb that turns keeps its length and thickness half way.

Writes into --out DIR:

  frame_000.ply ... frame_<N-1>.ply   the N shapes, all with SOURCE's mesh (vertex order and
                                      faces): frame 0 is SOURCE, the last frame is TARGET as the
                                      map sees it (SOURCE's vertices on TARGET's surface)
  morph.gif                           the sequence as an animation (there and back)
  morph_strip.png                     the frames side by side (at most 8 of them)
  report.json                         what was done, volumes and edge stretch per frame, timings
  match/                              the match, when it was computed here (reuse it with --map)

A saved match is only applied to the shapes it was computed for (checked by content).
Input files are never overwritten.
"""

EPILOG = """\
examples:
  shapecorr morph data/spot/spot.obj data/spot/spot_posed.obj --out out/spot_morph
  shapecorr morph a.off b.off --map out/ab/match --frames 30 --out out/ab_morph
"""

MAX_STRIP = 8


#: where SOURCE's vertices land by default: shapecorr.deform.morphing.END_METHOD (a literal here,
#: so that the command line starts without importing the deform layer; a test checks they agree)
DEFAULT_METHOD = "register"


def register(subparsers) -> None:
    p = subparsers.add_parser("morph", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="SOURCE", help="the first shape (its mesh is used for every frame)")
    p.add_argument("target", metavar="TARGET", help="the last shape")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    p.add_argument("--frames", type=int, default=9, metavar="N",
                   help="number of shapes, both ends included (default: %(default)s)")
    p.add_argument("--map", metavar="MATCH_DIR", help="reuse a match saved by `shapecorr match --out` "
                                                      "(SOURCE -> TARGET)")
    add_landmarks_argument(p, new_match=True)
    p.add_argument("--preset", default="default", metavar="NAME",
                   help="match preset when the match is computed: a shipped name or a YAML file "
                        "(default: %(default)s)")
    p.add_argument("--method", choices=("spectral", "vertex", "register"), default=DEFAULT_METHOD,
                   help="where SOURCE's vertices land on TARGET: TARGET deformed onto SOURCE (ARAP non-rigid "
                        "ICP; the fewest folded faces), precise points through the functional map (faster), or "
                        "the nearest vertex (default: %(default)s; a point-cloud TARGET: vertex)")
    add_register_proxy_argument(p)
    p.add_argument("--no-align", action="store_true",
                   help="do not factor out the global rigid motion (every triangle then makes the whole "
                        "turn by itself; the ends are the same either way)")
    p.add_argument("--strict", action="store_true",
                   help="refuse imperfect meshes instead of handling them with a warning")
    p.add_argument("--no-preview", action="store_true", help="write neither morph.gif nor morph_strip.png")
    add_up_argument(p)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="compute device (default: cpu)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def run(args) -> int:
    progress = Progress(args.quiet, prefix="shapecorr morph")
    settings = _check_arguments(args)
    out = Path(args.out)
    t_all = time.perf_counter()
    source, target, saved = _load_inputs(args, settings)
    args.landmark_pairs = landmarks_for(args.landmark_pairs, args.landmarks, source, target)
    names = [frame_name(i, args.frames) for i in range(args.frames)] + ["morph.gif", "morph_strip.png",
                                                                       "report.json", "match"]
    check_not_inputs(out, names, [args.source, args.target, args.map, args.landmarks])
    with atomic_output_dir(out) as tmp:
        report = _morph(args, source, target, saved, settings, tmp, progress, t_all)
    progress(f"wrote {out}")
    if not args.quiet:
        print(f"{out}: {args.frames} frames ({frame_name(0, args.frames)} ... "
              f"{frame_name(args.frames - 1, args.frames)}){'' if args.no_preview else ', morph.gif, morph_strip.png'}"
              f"{trust_note(report['match'])}")
    return 0


def frame_name(i: int, n: int) -> str:
    return f"frame_{i:0{max(3, len(str(n - 1)))}d}.ply"


def _check_arguments(args):
    """Every argument checked before any work; the match settings (None with --map)."""
    if args.frames < 2:
        raise CommandError(f"--frames {args.frames}: give at least 2 (the two ends).")
    if args.frames > 1000:
        raise CommandError(f"--frames {args.frames}: at most 1000.")
    if args.map and not Path(args.map).is_dir():
        raise CommandError(f"--map {args.map}: no such folder; give the --out folder of `shapecorr match`.")
    if args.landmarks and args.map:
        raise CommandError("--landmarks applies when the match is computed, not with --map (the saved match is "
                           "used as it is: make it with `shapecorr match --landmarks`).")
    check_input_file(args.source, "SOURCE")
    check_input_file(args.target, "TARGET")
    args.landmark_pairs = read_landmarks_arg(args.landmarks)
    check_device(args.device)
    check_output_folder(Path(args.out))
    if args.map:
        return None
    from ..config import load_preset

    return load_preset(args.preset)


def _load_inputs(args, settings):
    """Both shapes (SOURCE a triangle mesh) and the saved match, checked against them."""
    from ..core import ShapeError, load

    source = load(args.source, strict=args.strict)
    target = load(args.target, strict=args.strict)
    if not source.is_mesh:
        raise ShapeError(f"SOURCE {args.source}: a point cloud; the in-between shapes are drawn with SOURCE's "
                         "triangles, so SOURCE must be a mesh (TARGET may be a point cloud with --method vertex).")
    if not target.is_mesh and args.method != "vertex":
        raise ShapeError(f"TARGET {args.target}: a point cloud has no surface for precise points; use "
                         "--method vertex.")
    if not args.map:
        from ..pipeline import plan_pair

        plan_pair(source.n_vertices, target.n_vertices, settings, args.device)
        return source, target, None
    from ..result import Match

    saved = Match.load(args.map)
    saved.check_shapes(source, target)
    return source, target, saved


def _morph(args, source, target, saved, settings, tmp: Path, progress, t_all) -> dict:
    import numpy as np

    from ..deform import Morph, end_positions

    timings = {}
    t0 = time.perf_counter()
    m = match_or_saved(saved, source, target, settings, device=args.device, progress=progress, map_dir=args.map,
                       landmarks=args.landmark_pairs)
    if saved is None:
        m.save(tmp / "match")
    timings["match"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    kw = ({"progress": lambda stage, frac: progress(stage, frac), "register_proxy_size": register_proxy_size(args)}
          if args.method == "register" else {})
    end = end_positions(source, target, m, method=args.method, device=args.device, **kw)
    timings["end_positions"] = round(time.perf_counter() - t0, 3)
    progress(f"end positions ({args.method})")
    t0 = time.perf_counter()
    morph = Morph(source.vertices, source.faces, end, align=not args.no_align)
    ts = np.linspace(0.0, 1.0, args.frames)
    frames = []
    for i, t in enumerate(ts):
        frames.append(morph.frame(t))
        source.copy(vertices=frames[-1], name=f"frame_{i}", uv=None, face_uv=None, texture=None).save(
            tmp / frame_name(i, args.frames))
        progress(f"frame {i + 1}/{args.frames}", (i + 1) / args.frames)
    timings["frames"] = round(time.perf_counter() - t0, 3)
    if not args.no_preview:
        t0 = time.perf_counter()
        _pictures(source, frames, ts, tmp, up=args.up)
        timings["pictures"] = round(time.perf_counter() - t0, 3)
        progress("pictures rendered")
    timings["total"] = round(time.perf_counter() - t_all, 3)
    report = {"source": source.summary(), "target": target.summary(), "frames": args.frames,
              "times": [round(float(t), 6) for t in ts], "method": args.method,
              **register_report(args, source, target), "align": not args.no_align,
              "match": {"from": args.map or "computed", "preset": None if args.map else args.preset,
                        "confidence": m.info.get("confidence"),
                        "confidence_low": bool(m.info.get("confidence_low")),
                        "landmarks": m.info.get("landmarks")},
              "global_rotation_deg": float(np.degrees(np.linalg.norm(morph.w_global))),
              "per_frame": _frame_stats(source, frames), "timings": timings}
    report["outputs"] = sorted([p.name for p in tmp.iterdir()] + ["report.json"])
    (tmp / "report.json").write_text(json.dumps(report, indent=2, default=json_default))
    return report


def _frame_stats(source, frames) -> list[dict]:
    """Per frame: enclosed volume (meaningful for closed meshes) and edge-length ratios to frame 0."""
    import numpy as np

    F, E = source.faces, source.edges
    rest = np.linalg.norm(frames[0][E[:, 0]] - frames[0][E[:, 1]], axis=1)
    stats = []
    for X in frames:
        vol = float(np.einsum("ij,ij->i", X[F[:, 0]], np.cross(X[F[:, 1]], X[F[:, 2]])).sum() / 6.0)
        ratio = np.linalg.norm(X[E[:, 0]] - X[E[:, 1]], axis=1) / np.maximum(rest, 1e-300)
        stats.append({"volume": vol, "edge_ratio_median": float(np.median(ratio)),
                      "edge_ratio_p01": float(np.quantile(ratio, 0.01)),
                      "edge_ratio_p99": float(np.quantile(ratio, 0.99))})
    return stats


def _pictures(source, frames, ts, tmp: Path, up: str = "y") -> None:
    """morph.gif (every frame, there and back, one scale for all) and morph_strip.png."""
    import numpy as np
    from PIL import Image

    from ..render import render_shapes

    shapes = [source.copy(vertices=X, uv=None, face_uv=None, texture=None) for X in frames]
    w, h = 320, 360
    film = render_shapes(shapes, window_size=(w * len(shapes), h), same_scale=[0] * len(shapes),
                         up=up)  # one scale throughout
    images = [Image.fromarray(np.ascontiguousarray(film[:, i * w:(i + 1) * w])) for i in range(len(shapes))]
    loop = images + images[-2:0:-1]
    loop[0].save(tmp / "morph.gif", save_all=True, append_images=loop[1:], duration=90, loop=0)
    pick = np.unique(np.round(np.linspace(0, len(shapes) - 1, min(len(shapes), MAX_STRIP))).astype(int))
    render_shapes([shapes[i] for i in pick], tmp / "morph_strip.png", titles=[f"t = {ts[i]:.2f}" for i in pick],
                  window_size=(280 * len(pick), 380), same_scale=[0] * len(pick), up=up)
