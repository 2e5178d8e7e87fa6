"""``shapecorr splat``: fit mesh-bound Gaussian splats to a textured mesh, render them, deform them."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .common import (
    CommandError,
    Progress,
    add_up_argument,
    atomic_output_dir,
    check_input_file,
    check_not_inputs,
    check_output_folder,
)

HELP = "Gaussian splats bound to a mesh: fit them to a textured mesh, render them, deform them with the mesh"

DESCRIPTION = """\
Gaussians bound to the triangles of a mesh (shapecorr.splat) carry the mesh's appearance through
any deformation of it: each follows its triangle's position, rotation and stretch.

  shapecorr splat fit MESH --out DIR [--steps N]       fit splats to MESH's texture (DIR/splats.ply
                                                       in the standard 3DGS layout, DIR/binding.npz)
  shapecorr splat render DIR [--deformed MESH] --out IMG
                                                       picture of the splats (with the mesh deformed)
  shapecorr splat deform DIR --handles FILE --out DIR2 deform the mesh by ARAP handles (the JSON of
                                                       `shapecorr deform`) and the splats with it
"""

FIT_DESCRIPTION = """\
Fit Gaussians bound to MESH's triangles to unlit pictures of the mesh from --views cameras around
it (its UV texture; a mesh without one gets a synthetic solid colour pattern, said on stderr).
Writes into DIR: splats.ply (standard 3D Gaussian Splatting PLY, readable by common splat viewers),
binding.npz (the binding to the mesh, for `splat render`/`splat deform`), fit.json (settings,
time, held-out PSNR), preview.png (held-out views: splats above, mesh below) and
checkpoints/step_NNNNNN.npz (binding files, every --checkpoint-every steps).
The splats are fitted and drawn with the anti-aliased rasterizer (Mip-Splatting's 2D filter,
eps2d 0.1; recorded in binding.npz and as the header comment 'SplatRenderMode: mip' of
splats.ply, which some viewers read). A viewer without anti-aliased splats draws them blurred
(Spot: 23 dB where shapecorr's renderer gives 36): for one, fit with --rasterize-mode classic
--eps2d 0.3 (the original 3DGS rasterizer).
"""

RENDER_DESCRIPTION = """\
Render the splats of DIR (written by `splat fit` or `splat deform`) to a PNG. With --deformed MESH
(the same mesh as DIR's, same vertex order and faces, in another pose) the splats follow it.
"""

DEFORM_DESCRIPTION = """\
Deform DIR's mesh with as-rigid-as-possible handles (the handle file of `shapecorr deform`:
{"fixed": [ids], "moved": [[id, x, y, z], ...]}, vertex ids of the mesh the splats are bound to)
and the splats with it. Writes into OUT: splats.ply (the deformed splats, standard layout),
binding.npz (the binding with the new pose), deformed.obj (the deformed mesh) and preview.png
(before and after).
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("splat", help=HELP, description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="splat_command", metavar="ACTION")
    f = sub.add_parser("fit", help="fit splats to a textured mesh", description=FIT_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    f.add_argument("mesh", metavar="MESH", help="a mesh, ideally with UVs and a texture (OBJ + MTL)")
    f.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    f.add_argument("--steps", type=int, default=1500, help="optimisation steps (default: %(default)s)")
    f.add_argument("--gaussians", type=int, default=40000, help="Gaussians at the start (default: %(default)s)")
    f.add_argument("--max-gaussians", type=int, default=100000,
                   help="densification stops there (default: %(default)s)")
    f.add_argument("--size", type=int, default=256, help="training image size in pixels (default: %(default)s)")
    f.add_argument("--views", type=int, default=48, help="training cameras (default: %(default)s)")
    f.add_argument("--close-views", type=int, default=8, metavar="N",
                   help="more training cameras closer to the object, for close-ups (default: %(default)s)")
    f.add_argument("--close-margin", type=float, default=0.7, metavar="F",
                   help="their distance, as a fraction of the one that frames the object (default: %(default)s)")
    f.add_argument("--split-fraction", type=float, default=0.0, metavar="F",
                   help="mesh-guided densification: at each densification split this fraction of the faces "
                        "1-to-4 with their Gaussians (the largest faces of the Gaussians being cloned; "
                        "default: %(default)s, off)")
    f.add_argument("--rasterize-mode", default="antialiased", choices=("antialiased", "classic"),
                   help="the rasterizer's 2D filter: antialiased (Mip-Splatting's, the opacity kept in "
                        "proportion) or classic (the original 3DGS rasterizer's, for viewers that know no "
                        "other: the fit then sinks the Gaussians into the surface, visible from close by; "
                        "default: %(default)s)")
    f.add_argument("--eps2d", type=float, default=0.1, metavar="VAR",
                   help="the 2D filter's variance in square pixels (default: %(default)s; gsplat's "
                        "default and the classic rasterizer's is 0.3)")
    f.add_argument("--sh-degree", type=int, default=3, choices=(0, 1, 2, 3),
                   help="spherical-harmonics degree of the colours (default: %(default)s)")
    f.add_argument("--checkpoint-every", type=int, default=500, metavar="N",
                   help="write a checkpoint every N steps (default: %(default)s)")
    f.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    f.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    f.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                   help="where the fit runs: cpu (our rasterizer) or cuda (gsplat, pip install 'shapecorr[splat]'; "
                        "the pictures fitted to and the held-out check are drawn on the CPU; default: cpu)")
    f.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    f.set_defaults(func=run_fit)
    r = sub.add_parser("render", help="render splats to a PNG", description=RENDER_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("dir", metavar="DIR", help="a folder written by `splat fit` or `splat deform`")
    r.add_argument("--deformed", metavar="MESH", help="the bound mesh in another pose (same vertices and faces)")
    r.add_argument("--out", required=True, metavar="IMG", help="the picture (.png)")
    r.add_argument("--size", type=int, default=512, help="image width and height (default: %(default)s)")
    r.add_argument("--view", default="1,0.45,-0.9", metavar="X,Y,Z",
                   help="direction from the object towards the camera, as on a y-up mesh (turned with --up; "
                        "default: %(default)s)")
    add_up_argument(r)
    r.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                   help="cpu: our rasterizer; cuda: gsplat (default: %(default)s)")
    r.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    r.set_defaults(func=run_render)
    d = sub.add_parser("deform", help="deform the mesh by ARAP handles and the splats with it",
                       description=DEFORM_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("dir", metavar="DIR", help="a folder written by `splat fit`")
    d.add_argument("--handles", required=True, metavar="FILE",
                   help='JSON handle file: {"fixed": [ids], "moved": [[id, x, y, z], ...]}')
    d.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    d.add_argument("--iterations", type=int, default=30, metavar="N",
                   help="ARAP local-global iterations (default: %(default)s)")
    add_up_argument(d)
    d.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    d.set_defaults(func=run_deform)
    p.set_defaults(func=lambda args: _no_action(p))


def _no_action(parser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _positive(value: int, what: str) -> None:
    if value < 1:
        raise CommandError(f"{what} must be at least 1, got {value}.")


def _check_splat_device(device: str) -> None:
    """``--device cuda`` needs a visible CUDA device and gsplat (one line each, exit 2)."""
    from ..splat import gsplat_available
    from .common import check_device

    check_device(device)
    if device != "cpu" and not gsplat_available():
        raise CommandError(f"--device {device} draws the splats with gsplat, which is not installed: "
                           "pip install 'shapecorr[splat]' (or use --device cpu).")


def _splat_dir(path: str, what: str = "DIR") -> Path:
    from ..splat import BINDING_NAME

    d = Path(path)
    if not d.is_dir():
        raise CommandError(f"{what} {path}: no such folder; give a folder written by `shapecorr splat fit`.")
    if not (d / BINDING_NAME).exists():
        raise CommandError(f"{what} {path}: has no {BINDING_NAME}; give a folder written by `shapecorr splat fit`.")
    return d


def pose_of(binding, path, what: str):
    """The vertices of the mesh file ``path`` if it is the mesh ``binding`` is bound to (same
    vertex count and faces) in some pose; a :class:`CommandError` naming ``what`` otherwise."""
    from .common import load_shape_arg

    mesh = load_shape_arg(path, what)
    if mesh.n_vertices != len(binding.rest_vertices) or not mesh.is_mesh or \
            mesh.faces.shape != binding.faces.shape or (mesh.faces != binding.faces).any():
        raise CommandError(f"{what} {path}: not the mesh the splats are bound to "
                           f"({mesh.n_vertices} vertices vs {len(binding.rest_vertices)}, or other faces); give "
                           "the same mesh in another pose (same vertex order and faces).")
    return mesh.vertices


def _view_direction(text: str):
    import numpy as np

    try:
        v = np.array([float(t) for t in text.split(",")])
    except ValueError:
        raise CommandError(f"--view {text!r}: give three comma-separated numbers, e.g. 1,0.45,-0.9.") from None
    if v.shape != (3,) or not np.isfinite(v).all() or np.linalg.norm(v) == 0:
        raise CommandError(f"--view {text!r}: give a non-zero direction x,y,z.")
    return v / np.linalg.norm(v)


def view_camera(vertices, direction, size: int, fov_degrees: float = 40.0, up: str = "y"):
    """A camera looking at the bounding-box centre of ``vertices`` from ``direction`` (written as on
    a y-up mesh; ``up``: the mesh's up axis), framing them."""
    import numpy as np

    from ..core.raster import camera_direction
    from ..splat import Camera, intrinsics, look_at

    direction, up_vector = camera_direction(direction, up)

    lo, hi = vertices.min(0), vertices.max(0)
    centre, radius = 0.5 * (lo + hi), 0.5 * float(np.linalg.norm(hi - lo)) or 1.0
    distance = 1.05 * radius / np.sin(0.5 * np.radians(fov_degrees))
    return Camera(look_at(centre + distance * direction, centre, up_vector), intrinsics(size, size, fov_degrees),
                  size, size)


def _save_png(image, path: Path) -> None:
    import numpy as np
    from PIL import Image

    Image.fromarray(np.clip(np.round(255 * image), 0, 255).astype(np.uint8)).save(path)


# ---------------------------------------------------------------------------------- fit
def run_fit(args) -> int:
    import numpy as np
    import torch

    from ..core import load
    from ..splat import (
        BINDING_NAME,
        PLY_NAME,
        FitSettings,
        SolidAppearance,
        appearance_of,
        evaluate,
        fit_splats,
        orbit_cameras,
        save_splats,
    )

    progress = Progress(args.quiet, prefix="shapecorr splat fit")
    check_input_file(args.mesh, "MESH")
    _check_splat_device(args.device)
    for value, what in ((args.steps, "--steps"), (args.gaussians, "--gaussians"), (args.views, "--views"),
                        (args.checkpoint_every, "--checkpoint-every")):
        _positive(value, what)
    if args.size < 16:
        raise CommandError(f"--size must be at least 16, got {args.size}.")
    if args.close_views < 0 or not args.close_margin > 0:
        raise CommandError(f"--close-views must be 0 or more and --close-margin positive, got {args.close_views} "
                           f"and {args.close_margin}.")
    if not args.eps2d > 0:
        raise CommandError(f"--eps2d must be a positive variance in square pixels, got {args.eps2d}.")
    if args.max_gaussians < args.gaussians:
        raise CommandError(f"--max-gaussians ({args.max_gaussians}) must be at least --gaussians ({args.gaussians}).")
    out = Path(args.out)
    check_output_folder(out)
    shape = load(args.mesh)
    if not shape.is_mesh:
        raise CommandError(f"MESH {args.mesh}: is a point cloud; splats are bound to the triangles of a mesh.")
    inputs = [args.mesh, shape.texture]
    check_not_inputs(out, [PLY_NAME, BINDING_NAME, "fit.json", "preview.png"], inputs)
    if args.threads:
        torch.set_num_threads(args.threads)
    appearance = appearance_of(shape, seed=args.seed)
    kind = "UV texture" if not isinstance(appearance, SolidAppearance) else \
        "no texture: a synthetic solid colour pattern"
    progress(f"loaded {shape.name}: {shape.n_vertices} vertices, {shape.n_faces} faces ({kind})")
    settings = FitSettings(steps=args.steps, n_gaussians=args.gaussians, max_gaussians=args.max_gaussians,
                           image_size=args.size, n_views=args.views, close_views=args.close_views,
                           close_margin=args.close_margin, sh_degree=args.sh_degree,
                           checkpoint_every=args.checkpoint_every, split_fraction=args.split_fraction,
                           rasterize_mode=args.rasterize_mode, eps2d=args.eps2d, seed=args.seed)
    t0 = time.perf_counter()
    with atomic_output_dir(out) as tmp:
        res = fit_splats(shape.vertices, shape.faces, appearance, settings, progress=not args.quiet,
                         checkpoint_dir=out / "checkpoints", device=args.device)
        seconds = time.perf_counter() - t0
        progress(f"fitted {res.binding.n_gaussians} Gaussians in {seconds:.0f}s")
        held = orbit_cameras(shape.vertices, 8, size=args.size, offset=0.5)
        whole, covered, sp, gt = evaluate(res.binding, shape.vertices, appearance, held)
        save_splats(tmp, res.binding)
        _save_png(np.concatenate([np.concatenate(sp[:4], 1), np.concatenate(gt[:4], 1)], 0), tmp / "preview.png")
        report = {"mesh": str(args.mesh), "appearance": kind, "n_gaussians": res.binding.n_gaussians,
                  "seconds": round(seconds, 1), "settings": {k: v for k, v in vars(settings).items()},
                  "heldout_psnr_db": round(float(np.mean(whole)), 2),
                  "heldout_psnr_covered_db": round(float(np.mean(covered)), 2),
                  "heldout_views": 8, "final_train_loss": res.history[-1]["loss"], "device": args.device}
        (tmp / "fit.json").write_text(json.dumps(report, indent=2) + "\n")
    progress(f"held-out PSNR {report['heldout_psnr_db']:.2f} dB (covered pixels {report['heldout_psnr_covered_db']:.2f} dB)")
    progress(f"wrote {out / PLY_NAME}, {out / BINDING_NAME}, fit.json, preview.png")
    if settings.rasterize_mode != "classic":
        progress(f"{PLY_NAME} holds anti-aliased splats (header comment 'SplatRenderMode: mip', fitted with "
                 f"eps2d {settings.eps2d:g}); a viewer without anti-aliased splats draws them blurred: for one, "
                 "fit with --rasterize-mode classic --eps2d 0.3")
    return 0


# ------------------------------------------------------------------------------- render
def run_render(args) -> int:
    from ..splat import load_binding, render_binding

    progress = Progress(args.quiet, prefix="shapecorr splat render")
    folder = _splat_dir(args.dir)
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise CommandError(f"--out {args.out}: give a .png file name.")
    if out.is_dir():
        raise CommandError(f"--out {args.out} is a folder; give a file name such as {out / 'splats.png'}.")
    _positive(args.size, "--size")
    direction = _view_direction(args.view)
    _check_splat_device(args.device)
    binding = load_binding(folder)
    vertices = binding.vertices
    if args.deformed:
        if Path(args.deformed).resolve() == out.resolve():
            raise CommandError(f"--out {args.out}: the same file as --deformed; choose another name.")
        vertices = pose_of(binding, args.deformed, "--deformed")
    camera = view_camera(vertices, direction, args.size, up=args.up)
    image, _ = render_binding(binding, camera, vertices, device=args.device)
    out.parent.mkdir(parents=True, exist_ok=True)
    _save_png(image, out)
    progress(f"rendered {binding.n_gaussians} Gaussians ({args.device}); wrote {out}")
    return 0


# ------------------------------------------------------------------------------- deform
def run_deform(args) -> int:
    import numpy as np

    from ..core import Shape
    from ..deform import ArapSettings, arap_deform, read_handles
    from ..splat import (
        BINDING_NAME,
        PLY_NAME,
        load_binding,
        render_binding,
        save_splats,
    )

    progress = Progress(args.quiet, prefix="shapecorr splat deform")
    folder = _splat_dir(args.dir)
    check_input_file(args.handles, "--handles")
    _positive(args.iterations, "--iterations")
    out = Path(args.out)
    check_output_folder(out)
    if out.resolve() == folder.resolve():
        raise CommandError(f"--out {args.out}: the same folder as DIR; choose another output folder.")
    check_not_inputs(out, [PLY_NAME, BINDING_NAME, "deformed.obj", "preview.png"], [args.handles])
    binding = load_binding(folder)
    handles = read_handles(args.handles, len(binding.rest_vertices))
    progress(f"loaded {binding.n_gaussians} Gaussians on a {len(binding.rest_vertices)}-vertex mesh; "
             f"{len(handles.fixed)} fixed, {len(handles.moved_ids)} moved handles")
    res = arap_deform(binding.vertices, binding.faces, handles.fixed, handles.moved_ids, handles.moved_positions,
                      settings=ArapSettings(iterations=args.iterations))
    if not np.isfinite(res.vertices).all():
        raise CommandError("the ARAP solve produced non-finite positions; check the handle positions.")
    progress(f"arap: {res.iterations} iteration(s), energy {res.energies[0]:.4g} -> {res.energies[-1]:.4g}")
    posed = binding.posed(res.vertices)
    with atomic_output_dir(out) as tmp:
        save_splats(tmp, posed)
        Shape(res.vertices, binding.faces).save(tmp / "deformed.obj")
        camera = view_camera(np.concatenate([binding.vertices, res.vertices]), _view_direction("1,0.45,-0.9"), 384,
                             up=args.up)
        before, _ = render_binding(binding, camera)
        after, _ = render_binding(posed, camera)
        _save_png(np.concatenate([before, after], 1), tmp / "preview.png")
    progress(f"wrote {out / PLY_NAME}, {out / BINDING_NAME}, deformed.obj, preview.png")
    return 0
