"""``shapecorr match SOURCE TARGET --out DIR``: dense correspondence, both ways."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

from ..core.jsonio import json_default
from .common import CommandError, Progress, atomic_output_dir, load_shape_arg

HELP = "match two shapes (meshes or point clouds) and write both vertex maps"

DESCRIPTION = """\
Compute a dense correspondence between SOURCE and TARGET and write, into --out DIR:

  source_to_target.txt  line i: the 0-based TARGET vertex matched to SOURCE vertex i
  target_to_source.txt  line j: the 0-based SOURCE vertex matched to TARGET vertex j
  fmap.npy              the functional map (k x k) carrying source functions to the target
  report.json           settings, versions, per-stage timings, shape summaries
  correspondence.png    both shapes side by side, matched points share a colour

Formats read: OFF, OBJ, PLY, STL, GLB/GLTF meshes; PLY, XYZ, PTS, TXT point clouds.
Files already in DIR that the command does not write are left alone.
"""


def register(sub) -> None:
    import argparse

    from ..pipeline import available_presets

    p = sub.add_parser("match", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="SOURCE", help="source shape file (shape 1)")
    p.add_argument("target", metavar="TARGET", help="target shape file (shape 2)")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="output folder (created if needed)")
    presets = ", ".join(available_presets()) or "default"
    p.add_argument("--preset", default="default", metavar="NAME",
                   help=f"named settings in configs/match ({presets}) or a YAML file (default: default)")
    p.add_argument("--k", type=int, default=None, metavar="K",
                   help="final functional-map size (ZoomOut target); overrides the preset's k_final")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="where the spectral work runs (default: cpu)")
    p.add_argument("--scheme", default="xyz", metavar="NAME",
                   help="colour scheme of correspondence.png (default: xyz)")
    p.add_argument("--no-picture", action="store_true", help="skip correspondence.png")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from .. import __version__
    from ..pipeline import load_preset, match

    progress = Progress(args.quiet, prefix="shapecorr match")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise CommandError("--device cuda: no CUDA device is visible to torch; use --device cpu.")
    overrides = {}
    if args.k is not None:
        if args.k < 2:
            raise CommandError(f"--k must be at least 2, got {args.k}.")
        overrides["k_final"] = args.k
    settings = load_preset(args.preset, **overrides)
    if settings.k_init > settings.k_final:
        settings.k_init = settings.k_final
    source = load_shape_arg(args.source, "SOURCE")
    target = load_shape_arg(args.target, "TARGET")
    progress(f"loaded {source.name} ({source.n_vertices} v) and {target.name} ({target.n_vertices} v)", 0.0)
    m = match(source, target, settings, device=args.device, progress=progress)

    out = Path(args.out)
    with atomic_output_dir(out) as tmp:
        np.savetxt(tmp / "source_to_target.txt", m.p2p_12, fmt="%d")
        np.savetxt(tmp / "target_to_source.txt", m.p2p_21, fmt="%d")
        np.save(tmp / "fmap.npy", m.fmap_12)
        picture = None
        if not args.no_picture:
            picture = _picture(source, target, m, tmp / "correspondence.png", args.scheme, progress)
        report = {
            "command": "shapecorr match",
            "argv": getattr(args, "argv", sys.argv[1:]),
            "source": m.source_summary,
            "target": m.target_summary,
            "preset": args.preset,
            "settings": m.settings,
            "timings_s": m.timings,
            "info": m.info,
            "outputs": {
                "source_to_target": "source_to_target.txt",
                "target_to_source": "target_to_source.txt",
                "fmap": "fmap.npy",
                "picture": picture,
            },
            "versions": _versions(__version__),
        }
        (tmp / "report.json").write_text(json.dumps(report, indent=2, default=json_default, allow_nan=False))
    if not args.quiet:
        print(f"shapecorr match: wrote {out}/ (source_to_target.txt, target_to_source.txt, fmap.npy, "
              f"report.json{', correspondence.png' if picture else ''}) in {m.timings['total']:.2f}s",
              file=sys.stderr)
    return 0


def _picture(source, target, m, path, scheme, progress):
    try:
        from ..render import render_correspondence
    except ImportError as exc:  # rendering stack missing: the maps are still valid
        progress(f"picture skipped ({exc})")
        return None
    render_correspondence(source, target, m.p2p_21, path, scheme=scheme)
    progress("picture", 1.0)
    return path.name


def _versions(ours: str) -> dict:
    import numpy
    import scipy
    import torch

    return {"shapecorr": ours, "python": platform.python_version(), "numpy": numpy.__version__,
            "scipy": scipy.__version__, "torch": torch.__version__, "platform": platform.platform()}

