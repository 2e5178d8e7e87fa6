"""``shapecorr deform``: edit a shape by moving a few of its vertices (ARAP, as rigid as possible)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import CommandError, Progress, add_up_argument, check_device, check_input_file

HELP = "deform a shape by moving handle vertices (as-rigid-as-possible editing)"

DESCRIPTION = """\
Deform SHAPE so that the vertices listed in the handle file reach their new positions, the
fixed ones stay, and everything else bends as rigidly as possible (ARAP, Sorkine & Alexa 2007:
spokes-and-rims cotangent energy on meshes, a k-nearest-neighbour graph on point clouds).

The handle file is JSON, coordinates in SHAPE's own units:

  {"fixed": [0, 1, 2],
   "moved": [[250, 0.1, 0.5, -0.2], [251, 0.12, 0.5, -0.2]]}

OUT_MESH gets the deformed shape in SHAPE's vertex order (faces, UVs and texture kept); its
format follows its extension (.obj .off .ply .stl; .xyz .txt for points). A part of the shape
with no handle on it stays where it is (with a warning). Input files are never overwritten.
"""

EPILOG = """\
examples:
  shapecorr deform data/spot/spot.obj --handles edit.json --out out/spot_edited.obj
  shapecorr deform scan.ply --handles edit.json --out out/scan_edited.ply --iterations 50 --picture out/edit.png
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("deform", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("shape", metavar="SHAPE", help="the shape to deform (mesh or point cloud)")
    p.add_argument("--handles", required=True, metavar="FILE",
                   help='JSON handle file: {"fixed": [ids], "moved": [[id, x, y, z], ...]}')
    p.add_argument("--out", required=True, metavar="OUT_MESH", help="the deformed shape (format from the extension)")
    p.add_argument("--iterations", type=int, default=30, metavar="N",
                   help="local-global iterations (default: %(default)s)")
    p.add_argument("--energy", choices=("arap", "bilaplacian"), default="arap",
                   help="arap: as rigid as possible; bilaplacian: smooth linear displacement, for comparison "
                        "(default: %(default)s)")
    p.add_argument("--device", default="cpu",
                   help="where the ARAP iterations run: cpu or cuda (a GPU pays from ~100k vertices: 6x faster "
                        "iterations on a measured H200; the factorization is on the CPU either way; default: cpu)")
    p.add_argument("--picture", metavar="PNG", help="also draw the shape before and after (handles in colour)")
    add_up_argument(p)
    p.add_argument("--strict", action="store_true",
                   help="refuse imperfect meshes instead of handling them with a warning")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def _check_arguments(args) -> None:
    from ..core.io import WRITE_FORMATS

    check_input_file(args.shape, "SHAPE")
    if args.iterations < 1:
        raise CommandError(f"--iterations must be at least 1, got {args.iterations}.")
    out = Path(args.out)
    if out.suffix.lower() not in WRITE_FORMATS:
        raise CommandError(f"--out {args.out}: cannot write {out.suffix or '(no extension)'!r}; give a file "
                           f"ending in {', '.join(WRITE_FORMATS)}.")
    if out.is_dir():
        raise CommandError(f"--out {args.out} is a folder; give a file name such as {out / 'deformed.obj'}.")
    if args.picture and Path(args.picture).suffix.lower() != ".png":
        raise CommandError(f"--picture {args.picture}: give a .png file name.")


def _written_files(args, shape) -> list[tuple[Path, str]]:
    """Every file this command would write, with the option that names it."""
    out = Path(args.out)
    files = [(out, "--out")]
    if out.suffix.lower() == ".obj" and shape.is_mesh and shape.has_uv and shape.texture is not None:
        files.append((out.with_suffix(".mtl"), "--out"))
        if Path(shape.texture).resolve() != (out.parent / Path(shape.texture).name).resolve():
            files.append((out.parent / Path(shape.texture).name, "--out (texture copy)"))
    if args.picture:
        files.append((Path(args.picture), "--picture"))
    return files


def _check_not_inputs(args, shape) -> None:
    inputs = {Path(args.shape).resolve(), Path(args.handles).resolve()}
    if shape.texture is not None:
        inputs.add(Path(shape.texture).resolve())
    if Path(args.shape).suffix.lower() == ".obj":
        inputs.add(Path(args.shape).with_suffix(".mtl").resolve())
    written = _written_files(args, shape)
    for path, what in written:
        if path.resolve() in inputs:
            raise CommandError(f"{what} {path}: this would overwrite an input file; choose another name.")
    names = [p.resolve() for p, _ in written]
    if len(set(names)) != len(names):
        raise CommandError(f"--picture {args.picture}: the same file as another output; choose another name.")


def run(args) -> int:
    import numpy as np

    from ..core import load
    from ..deform import ArapSettings, deform_shape, read_handles

    progress = Progress(args.quiet, prefix="shapecorr deform")
    _check_arguments(args)
    check_device(args.device)
    shape = load(args.shape, strict=args.strict)
    handles = read_handles(args.handles, shape.n_vertices)
    _check_not_inputs(args, shape)
    progress(f"loaded {shape.name}: {shape.n_vertices} vertices, {len(handles.fixed)} fixed, "
             f"{len(handles.moved_ids)} moved")
    settings = ArapSettings(iterations=args.iterations, energy=args.energy)
    deformed, res = deform_shape(shape, handles.fixed, handles.moved_ids, handles.moved_positions,
                                 settings=settings, device=args.device)
    progress(f"{args.energy}: {res.iterations} iteration(s), energy {res.energies[0]:.4g} -> {res.energies[-1]:.4g}")
    if not np.isfinite(deformed.vertices).all():
        raise CommandError("the solve produced non-finite positions; check the handle positions (units of SHAPE).")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    deformed.save(out)
    progress(f"wrote {out}")
    if args.picture:
        picture(shape, deformed, handles, args.picture, up=args.up)
        progress(f"wrote {args.picture}")
    return 0


def picture(before, after, handles, path, up: str = "y") -> None:
    """Before and after side by side; fixed vertices blue, moved ones red."""
    import numpy as np

    from ..render import render_shapes

    colors = np.full((before.n_vertices, 3), 200, dtype=np.uint8)
    colors[handles.fixed] = (40, 90, 220)
    colors[handles.moved_ids] = (220, 40, 40)
    render_shapes([before, after], path, colors=[colors, colors], titles=("before", "after"),
                  caption="fixed handles blue, moved handles red", same_scale=(0, 0), up=up)
