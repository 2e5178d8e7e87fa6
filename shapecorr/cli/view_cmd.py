"""``shapecorr view``: the desktop viewer (apps/viewer, needs the ``viewer`` extra)."""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from .common import CommandError, add_up_argument

INSTALL_HINT = "install the viewer extra: pip install -e '.[viewer]'"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "view", help="open the desktop viewer (shapes, their match and its confidence, errors, texture preview)",
        description="Interactive viewer: two shapes side by side with linked cameras. Given SOURCE and "
                    "TARGET, the match starts at once in the background (progress in the status bar, Esc "
                    "cancels) unless --map gives a saved one; the status bar shows its confidence and any "
                    "warnings from reading imperfect meshes. Click-picking, error heat map with ground "
                    "truth, texture preview, screenshots. Press F1 in the window for shortcuts.")
    p.add_argument("source", nargs="?", help="source shape (shape 1)")
    p.add_argument("target", nargs="?", help="target shape (shape 2)")
    p.add_argument("--map", dest="match_dir", metavar="MATCH_DIR",
                   help="a saved match folder (from `shapecorr match ... --out DIR`), shown instead of computing one")
    p.add_argument("--gt", dest="gt_map", metavar="MAP",
                   help="ground truth as a 0-based map file: line j = source vertex matched to target vertex j")
    p.add_argument("--gt-source", metavar="VTS", help="ground truth .vts of the source (1-based)")
    p.add_argument("--gt-target", metavar="VTS", help="ground truth .vts of the target (1-based)")
    p.add_argument("--preset", help="match preset (a name as in `shapecorr match --preset`, or a YAML file)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="where the match runs (as in `shapecorr match`)")
    from .match_cmd import add_model_arguments

    add_model_arguments(p)
    p.add_argument("--no-match", dest="auto_match", action="store_false",
                   help="open the shapes without starting the match (Ctrl+M starts it)")
    p.add_argument("--strict", action="store_true",
                   help="refuse imperfect shapes (zero-area faces, ...) instead of opening them with warnings")
    p.add_argument("--collection", metavar="OUT",
                   help="open a collection (the --out folder of `shapecorr collection`): the template and one "
                        "shape with its map; Page Down / Page Up step through the shapes")
    p.add_argument("--splats", metavar="DIR",
                   help="open the splat view: the Gaussian splats of DIR (from `shapecorr splat fit` or "
                        "`splat deform`) bound to SOURCE (the same mesh, any pose; default: DIR's own), drawn "
                        "beside the mesh and following its ARAP edits (E: edit mode, drag the mesh)")
    add_up_argument(p)
    p.add_argument("--screenshot", metavar="PNG", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def _check_viewer_deps() -> None:
    missing = []
    for mod in ("PySide6", "pyvistaqt"):
        try:
            __import__(mod)
        except ImportError:
            missing.append(mod)
    if missing:
        raise CommandError(f"{' and '.join(missing)} not installed; {INSTALL_HINT}")
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise CommandError("no display (DISPLAY is not set); run it on a desktop, or under a virtual X "
                           "server: xvfb-run -a shapecorr view ...")


def run(args) -> int:
    if (args.gt_source is None) != (args.gt_target is None):
        raise CommandError("--gt-source and --gt-target go together (one .vts file per shape).")
    if args.target is None and args.match_dir:
        raise CommandError("--map needs both SOURCE and TARGET.")
    for what, path in (("SOURCE", args.source), ("TARGET", args.target), ("--map", args.match_dir),
                       ("--gt", args.gt_map), ("--gt-source", args.gt_source), ("--gt-target", args.gt_target)):
        if path is not None and not Path(path).exists():
            raise CommandError(f"{what} {path}: no such file or folder.")
    if args.preset:
        from .. import available_presets

        if args.preset not in available_presets() and not Path(args.preset).exists():
            raise CommandError(f"unknown preset {args.preset!r}; available: {', '.join(available_presets())}.")
    from .match_cmd import model_overrides

    overrides = model_overrides(args)  # a missing --model file fails here, before the window opens
    from .common import check_device

    check_device(args.device)
    if args.splats:
        return _run_splats(args)
    _check_viewer_deps()
    if args.collection:  # the template and the collection's shapes, one at a time
        return _run_collection(args)
    try:
        from apps.viewer.app import run_viewer
    except ImportError as exc:
        raise CommandError(f"the viewer could not be imported ({exc}); {INSTALL_HINT}") from exc
    with preset_with_overrides(args.preset, overrides) as preset:
        return run_viewer(args.source, args.target, match_dir=args.match_dir, gt_map=args.gt_map,
                          gt_source=args.gt_source, gt_target=args.gt_target, preset=preset,
                          device=args.device, strict=args.strict, auto_match=args.auto_match,
                          screenshot=args.screenshot, up=args.up)


@contextmanager
def preset_with_overrides(preset: str | None, overrides: dict):
    """The viewer takes presets by name or YAML file: with ``--model``/``--adapt``, the chosen
    preset with those changes is written to a temporary YAML file for the viewer's lifetime
    (its name says what it is in the viewer's preset menu)."""
    if not overrides:
        yield preset
        return
    import tempfile

    import yaml

    from ..config import load_preset

    settings = load_preset(preset, **overrides)  # checked here: a bad value is one line, exit 2
    label = "+".join([Path(preset).stem if preset else "default"]
                     + [f"{k}={Path(str(v)).stem}" for k, v in sorted(overrides.items())])
    with tempfile.TemporaryDirectory(prefix="shapecorr-view-") as tmp:
        path = Path(tmp) / f"{label}.yaml"
        path.write_text(yaml.safe_dump({"description": f"{preset or 'default'} with {overrides}",
                                        **settings.to_dict()}, sort_keys=False))
        yield str(path)


def _run_splats(args) -> int:
    if args.target or args.match_dir or args.collection:
        raise CommandError("--splats shows one mesh and its splats; give at most SOURCE (the mesh), no TARGET, "
                           "--map or --collection.")
    from ..splat import load_binding
    from .splat_cmd import _check_splat_device, _splat_dir, pose_of

    binding = load_binding(_splat_dir(args.splats, "--splats"))
    vertices = None if args.source is None else pose_of(binding, args.source, "SOURCE")
    _check_splat_device(args.device)  # (the CUDA device itself was checked above)
    _check_viewer_deps()
    from apps.viewer.splat_window import run_splat_viewer

    return run_splat_viewer(binding, vertices, device=args.device, screenshot=args.screenshot, up=args.up)


def _run_collection(args) -> int:
    if args.source or args.target or args.match_dir:
        raise CommandError("--collection opens the collection's own shapes; give no SOURCE, TARGET or --map.")
    from ..collection import CollectionFolder

    CollectionFolder(args.collection).check()
    from apps.viewer.collection import run_collection_viewer

    return run_collection_viewer(args.collection, preset=args.preset, device=args.device, strict=args.strict,
                                 screenshot=args.screenshot, up=args.up)
