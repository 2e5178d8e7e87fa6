"""``shapecorr match SOURCE TARGET --out DIR``: dense correspondence, both ways."""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

from ..core.jsonio import json_default
from .common import (
    DEVICE_HELP,
    CommandError,
    Progress,
    add_landmarks_argument,
    add_up_argument,
    atomic_output_dir,
    check_device,
    check_input_file,
    check_not_inputs,
    landmarks_for,
    read_landmarks_arg,
)

#: ``--adapt`` given without STEPS: the preset's ``adapt_steps`` (not a string: argparse would
#: convert it with ``type``)
ADAPT_PRESET_STEPS = True

HELP = "match two shapes (meshes or point clouds) and write both vertex maps"

OTHER_MATCH = "other_model"  # the folder of the other feature model's match (see _write_other_match)
OUTPUTS = ("source_to_target.txt", "target_to_source.txt", "fmap.npy", "match.json", "vertex_confidence.npy",
           "report.json", "correspondence.png")

DESCRIPTION = """\
Compute a dense correspondence between SOURCE and TARGET and write, into --out DIR:

  source_to_target.txt   line i: the 0-based TARGET vertex matched to SOURCE vertex i
  target_to_source.txt   line j: the 0-based SOURCE vertex matched to TARGET vertex j
  fmap.npy               the functional map (k x k) carrying source functions to the target
  match.json             settings, timings, both shapes' content hashes (reuse the folder with
                         `shapecorr transfer --map DIR`; it is refused for other shapes)
  vertex_confidence.npy  per TARGET vertex, how much to trust its match (0..1)
  report.json            the above plus the command, versions and `confidence` (0..1)
  correspondence.png     both shapes side by side, matched points share a colour

Every match gets a confidence in [0, 1] (printed at the end, in report.json and on the
picture); a low one prints a warning saying what to try. Imperfect meshes (degenerate faces,
duplicate or unused vertices, holes, several pieces) are handled with one warning line each;
--strict refuses them instead.

Formats read: OFF, OBJ, PLY, STL, GLB/GLTF meshes; PLY, XYZ, PTS, TXT point clouds.
Files already in DIR that the command does not write are left alone.
"""


def register(sub) -> None:
    import argparse

    from ..config import available_presets
    from ..render.colors import COLOR_SCHEMES

    p = sub.add_parser("match", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="SOURCE", help="source shape file (shape 1)")
    p.add_argument("target", metavar="TARGET", help="target shape file (shape 2)")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="output folder (created if needed)")
    p.add_argument("--preset", default="default", metavar="NAME",
                   help=f"named settings ({', '.join(available_presets())}) or a YAML file (default: default)")
    p.add_argument("--k", type=int, default=None, metavar="K",
                   help="final functional-map size (ZoomOut target); overrides the preset's k_final (where the learned "
                        "features are less precise than the map, and always with the zeroshot and axiomatic presets, the "
                        "precision polish grows it by polish_extra, 40)")
    add_model_arguments(p)
    add_landmarks_argument(p)
    p.add_argument("--strict", action="store_true",
                   help="refuse imperfect meshes (degenerate faces, duplicate vertices, holes, ...) "
                        "instead of handling them with a warning")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help=DEVICE_HELP)
    p.add_argument("--scheme", default="xyz", choices=COLOR_SCHEMES,
                   help="colour scheme of correspondence.png (default: xyz)")
    p.add_argument("--no-picture", action="store_true", help="skip correspondence.png")
    add_up_argument(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def add_model_arguments(p) -> None:
    """``--model`` and ``--adapt [STEPS]``: the feature network and its test-time adaptation
    (shared by ``match``, ``view``, ``eval`` and ``transfer``)."""
    from ..learn import bundled_models

    p.add_argument("--model", metavar="NAME_OR_FILE",
                   help="feature network: a bundled model (" + ", ".join(bundled_models()) + ") or a model file "
                        "(.npz/.pt, e.g. from `shapecorr train`); overrides the preset's feature_model, also for "
                        "point clouds")
    p.add_argument("--adapt", nargs="?", type=int, const=ADAPT_PRESET_STEPS, default=None, metavar="STEPS",
                   help="test-time adaptation: fine-tune the feature network on this pair (no ground truth needed) "
                        "and keep the more trusted map; STEPS optimizer steps (default: the preset's adapt_steps, else "
                        "shapecorr.learn.adapt.ADAPT_STEPS). "
                        "Put it after the shapes, or write --adapt=STEPS")
    p.add_argument("--adapt-regularizer", choices=("axiomatic", "prior"), default=None,
                   help="the adaptation loss's regularizers: axiomatic (orthogonality, Laplacian commutativity, the "
                        "resolvent mask; the default) or prior (the learned prior over functional maps)")
    p.add_argument("--prior-refine", nargs="?", const="prior_k30", default=None, metavar="PRIOR",
                   help="move every initial functional map toward a learned prior over functional maps before its "
                        "ZoomOut (PRIOR: a bundled prior or a .pt file of `shapecorr prior train`; default prior_k30). "
                        "Off by default: it made the maps worse on FAUST_r and TOSCA_r; for comparisons")


def model_overrides(args) -> dict:
    """The settings that ``--model`` and ``--adapt`` change (checked: a missing model file is
    named with its path)."""
    from ..learn import bundled_models

    out: dict = {}
    model = getattr(args, "model", None)
    if model is not None:
        path = Path(model).expanduser()
        if model not in bundled_models():
            if not path.exists():
                raise CommandError(f"--model {model}: no such file (and no bundled model of that name; bundled: "
                                   f"{', '.join(bundled_models())}).")
            if path.is_dir():
                raise CommandError(f"--model {model}: is a folder; give a model file (.npz or .pt).")
            model = str(path)
        out["feature_model"] = model
    adapt = getattr(args, "adapt", None)
    if adapt is not None:
        out["adapt_when"] = "always"
        if adapt is not ADAPT_PRESET_STEPS:
            if adapt < 1:
                raise CommandError(f"--adapt STEPS must be at least 1, got {adapt}.")
            out["adapt_steps"] = adapt
    regularizer = getattr(args, "adapt_regularizer", None)
    if regularizer is not None:
        out["adapt_regularizer"] = regularizer
    prior = getattr(args, "prior_refine", None)
    if prior is not None:
        out["prior_refine"] = prior
    return out


def settings_from_args(args):
    """The match settings of ``--preset``, ``--k``, ``--model`` and ``--adapt`` (a
    ``SettingsError`` names what is wrong)."""
    from ..config import load_preset

    if args.k is not None and args.k < 2:
        raise CommandError(f"--k must be at least 2, got {args.k}.")
    return load_preset(args.preset, **({} if args.k is None else {"k_final": args.k}), **model_overrides(args))


def run(args) -> int:
    from ..core import load
    from ..pipeline import match, plan_pair

    progress = Progress(args.quiet, prefix="shapecorr match")
    # every argument is checked before any work
    settings = settings_from_args(args)
    paths = [check_input_file(args.source, "SOURCE"), check_input_file(args.target, "TARGET")]
    landmarks = read_landmarks_arg(args.landmarks)
    check_device(args.device)
    out = Path(args.out)
    check_not_inputs(out, OUTPUTS, paths + ([Path(args.landmarks)] if args.landmarks else []))
    with atomic_output_dir(out) as tmp:  # an unwritable --out fails here, before the work
        source = load(paths[0], strict=args.strict)
        target = load(paths[1], strict=args.strict)
        check_not_inputs(out, OUTPUTS, [source.texture, target.texture])  # an OBJ's texture image too
        plan_pair(source.n_vertices, target.n_vertices, settings, args.device)  # sizes the shapes can carry
        landmarks = landmarks_for(landmarks, args.landmarks, source, target)
        progress(f"loaded {source.name} ({source.n_vertices} v) and {target.name} ({target.n_vertices} v)", 0.0)
        m = match(source, target, settings, device=args.device, progress=progress, landmarks=landmarks)
        m.save(tmp)
        picture = None
        if not args.no_picture:
            t0 = time.perf_counter()
            picture = _picture(source, target, m, tmp / "correspondence.png", args.scheme, up=args.up)
            m.timings["picture"] = round(time.perf_counter() - t0, 4)
            progress("picture", 1.0)
        other = _write_other_match(source, target, m.alternative, tmp / OTHER_MATCH, args)
        report = _report(args, m, picture, other)
        (tmp / "report.json").write_text(json.dumps(report, indent=2, allow_nan=False, default=json_default))
        written = ", ".join(n for n in OUTPUTS if (tmp / n).exists())
    if not args.quiet:
        print(f"shapecorr match: wrote {out}/ ({written}) in {m.timings['total']:.2f}s; "
              f"{_confidence_text(m)}", file=sys.stderr)
        if other:
            print(f"shapecorr match: the two feature models disagree on most of the target; the other's match "
                  f"is in {out}/{other} (compare the pictures)", file=sys.stderr)
    return 0


def _write_other_match(source, target, other, folder: Path, args) -> str | None:
    """The other feature model's match, where the two models disagree on most of the target
    (``Match.alternative``), saved with its own picture into ``folder``: one of the two maps is
    wrong and the user compares the pictures. None when there is none."""
    if other is None:
        return None
    other.save(folder)
    if not args.no_picture:
        _picture(source, target, other, folder / "correspondence.png", args.scheme,
                 label=f"the other feature model's match ({other.info.get('feature_model')}): ", up=args.up)
    return folder.name + "/"


def _confidence_text(m, low_note: str = " (low: check correspondence.png)") -> str:
    c = m.info.get("confidence")
    if c is None:
        return "confidence not computed"
    if not m.info.get("confidence_low"):
        return f"confidence {c:.2f}"
    if c >= m.info.get("confidence_threshold", float("inf")):  # flagged by a check its fit cannot see
        return f"confidence {c:.2f}, but not trusted (see the warning)"
    return f"confidence {c:.2f}" + low_note


def _picture(source, target, m, path: Path, scheme: str, label: str = "", up: str = "y") -> str:
    from ..render import render_correspondence

    caption = label + _confidence_text(m, " (low: probably wrong in places)")
    render_correspondence(source, target, m.p2p_21, path, scheme=scheme, caption=caption, up=up)
    return path.name


def _report(args, m, picture, other: str | None = None) -> dict:
    from .. import __version__

    return {
        "command": "shapecorr match",
        "argv": getattr(args, "argv", sys.argv[1:]),
        "preset": args.preset,
        "feature_model": m.info.get("feature_model"),
        "adaptation": m.info.get("adaptation"),
        "polish": m.info.get("polish"),
        "registration": m.info.get("registration"),
        # a match below 0.95 matched again with the second feature model: both confidences, which was kept
        "second_model": m.info.get("second_model"),
        "confidence": m.info.get("confidence"),
        "confidence_low": m.info.get("confidence_low"),
        "confidence_advice": m.info.get("confidence_advice"),
        # --landmarks: the file, the pairs' count and how far the map was from them before they were held
        "landmarks": None if args.landmarks is None else {"file": str(args.landmarks), **(m.info.get("landmarks") or {})},
        # point clouds that enclose no volume: their outward side, and the map's handedness, are a guess
        "sides_undecided": m.info.get("sides_undecided", []),
        # matched through proxies or a point cloud's reconstructed surface (and from which normals),
        # or a mesh against a cloud as the cloud of its vertices
        "proxy": m.info.get("proxy"),
        "mesh_as_points": m.info.get("mesh_as_points", False),
        "confidence_details": m.info.get("confidence_details"),
        **m.metadata(),
        "outputs": {
            "source_to_target": "source_to_target.txt",
            "target_to_source": "target_to_source.txt",
            "fmap": "fmap.npy",
            "match": "match.json",
            "vertex_confidence": "vertex_confidence.npy" if m.vertex_confidence is not None else None,
            "picture": picture,
            # the other feature model's match when the two disagree (second_model.flagged), or None
            "other_model": other,
        },
        "versions": versions(__version__),
    }


def versions(ours: str) -> dict:
    """Versions of Python and of the libraries the match used (torch only when it was loaded:
    on the CPU the feature network runs in NumPy)."""
    import numpy
    import scipy

    torch = sys.modules.get("torch")
    return {"shapecorr": ours, "python": platform.python_version(), "platform": platform.platform(),
            "numpy": numpy.__version__, "scipy": scipy.__version__,
            "torch": getattr(torch, "__version__", None)}
