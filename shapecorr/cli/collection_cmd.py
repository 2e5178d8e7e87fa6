"""``shapecorr collection DIR --out OUT``: a folder of shapes in consistent correspondence through a
template; ``shapecorr collection-map OUT A B --out DIR``: the map between two of them, composed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import (
    DEVICE_HELP,
    CommandError,
    add_up_argument,
    atomic_output_dir,
    check_not_inputs,
    check_output_folder,
)

DESCRIPTION = """\
Put every shape of DIR in correspondence with a template (the medoid of the collection unless
--template names one), then make the maps consistent across the collection: maps through
neighbouring shapes replace unreliable direct maps, and a joint refinement (synchronized
latent bases, consistent ZoomOut) makes A -> B agree with A -> template -> B. Writes into OUT:

  template.txt                 the template's name (and file)
  maps/NAME_to_template.txt    line i: the template vertex matched to vertex i of NAME
  maps/template_to_NAME.txt    line t: the vertex of NAME matched to template vertex t
  maps/NAME_confidence.json    the map's confidence (final and direct) and its route
  report.json                  timings per stage, failures, consistency figures
  gallery.png                  the shapes coloured through the template
  work/                        what a rerun reuses (delete it when done)

NAME is the file name without extension. Runs on a local Ray (all cores; --num-cpus caps it)
or on a running cluster (--address); without Ray installed, in this process. Rerun the same
command to resume: finished shapes are not redone. A shape that cannot be read or matched is
listed in report.json with its error; the rest goes on. Nothing is written into DIR.
Pairwise maps: `shapecorr collection-map OUT A B --out PAIR_DIR`.
"""

MAP_DESCRIPTION = """\
The map between shapes A and B of a collection, without matching them again: the map files
composed through the template (--via template: A -> B is template_to_B[A_to_template]), or
nearest neighbours between their embeddings in the collection's consistent latent space
(OUT/latent; --via latent). By default (auto): the map files when they were made with the
feature-guided steps (learned presets), else the latent space when the joint refinement ran.
--refine adds the pair's own ZoomOut steps at the final size, guided by both shapes' learned
features with a learned preset (reads both shapes' eigenbases; about half a second of CPU at
5k vertices, plus the features of a shape not seen before). Writes into --out DIR:

  source_to_target.txt   line i: the vertex of B matched to vertex i of A
  target_to_source.txt   line j: the vertex of A matched to vertex j of B
  map.json               the names, the template, both maps' confidences
  correspondence.png     A and B side by side, matched points share a colour
"""

PAIR_OUTPUTS = ("source_to_target.txt", "target_to_source.txt", "map.json", "correspondence.png")


def register(sub) -> None:
    from ..config import available_presets

    p = sub.add_parser("collection", help="match a folder of shapes to a template, consistently (Ray)",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", metavar="DIR", help="folder of shapes (.off .obj .ply .stl .glb .gltf .xyz .pts)")
    p.add_argument("--out", "-o", required=True, metavar="OUT", help="output folder (created if needed)")
    p.add_argument("--template", metavar="SHAPE",
                   help="the template: a shape's name (file name without extension) or file; default: the "
                        "medoid of the collection (or the previous run's)")
    p.add_argument("--preset", default="default", metavar="P",
                   help=f"match settings ({', '.join(available_presets())}) or a YAML file (default: default)")
    p.add_argument("--address", metavar="ADDRESS",
                   help="join a running Ray cluster (e.g. ray://HEAD:10001 or auto); default: a local Ray")
    p.add_argument("--engine", default="auto", choices=["auto", "ray", "local"],
                   help="ray, local (in this process) or auto (Ray when installed; default)")
    p.add_argument("--num-cpus", type=int, metavar="N", help="workers of a local Ray (default: all cores)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads of each match's feature network (default: all cores, the in-process maps); "
                        "1 on Ray keeps its workers from oversubscribing the cores (maps differ in a few vertices)")
    p.add_argument("--neighbours", type=int, default=2, metavar="K",
                   help="nearest shapes each shape is also matched to (the shape graph; default 2; 0: none)")
    p.add_argument("--no-consistency", action="store_true",
                   help="keep the direct maps to the template (no joint refinement)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help=DEVICE_HELP)
    add_up_argument(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    p.set_defaults(func=run)

    m = sub.add_parser("collection-map", help="the map between two shapes of a collection, composed",
                       description=MAP_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    m.add_argument("collection", metavar="OUT", help="output folder of `shapecorr collection`")
    m.add_argument("a", metavar="A", help="source shape's name")
    m.add_argument("b", metavar="B", help="target shape's name")
    m.add_argument("--out", "-o", required=True, metavar="DIR", help="output folder for the pair")
    m.add_argument("--via", default="auto", choices=["auto", "latent", "template"],
                   help="latent: nearest neighbours in the consistent latent space; template: the map files "
                        "composed; auto (default): the map files when they were made with the guided steps, "
                        "else latent when the collection has it")
    m.add_argument("--refine", action="store_true",
                   help="then ZoomOut steps of the pair at the final size (reads the two shapes)")
    m.add_argument("--no-picture", action="store_true", help="skip correspondence.png")
    add_up_argument(m)
    m.set_defaults(func=run_map)


def _check_args(args) -> None:
    folder = Path(args.folder)
    if not folder.exists():
        raise CommandError(f"DIR {folder}: no such folder.")
    if not folder.is_dir():
        raise CommandError(f"DIR {folder}: not a folder; give the folder holding the shapes.")
    check_output_folder(Path(args.out))
    if args.preset:
        from ..config import available_presets

        if args.preset not in available_presets() and not Path(args.preset).exists():
            raise CommandError(f"--preset {args.preset}: unknown; available: {', '.join(available_presets())} "
                               "(or a YAML file).")
    if args.num_cpus is not None and args.num_cpus < 1:
        raise CommandError(f"--num-cpus {args.num_cpus}: give at least 1.")
    if args.neighbours < 0:
        raise CommandError(f"--neighbours {args.neighbours}: give 0 or more.")
    if args.address and args.engine == "local":
        raise CommandError("--address joins a Ray cluster; it cannot go with --engine local.")
    if args.device == "cuda":
        from .common import check_device

        check_device("cuda")


def run(args) -> int:
    _check_args(args)
    from ..collection import CollectionSettings, collection

    settings = CollectionSettings(neighbours=args.neighbours, consistent=not args.no_consistency,
                                  gallery_up=args.up)
    res = collection(Path(args.folder), args.template, out=Path(args.out), preset=args.preset, settings=settings,
                     engine=args.engine, address=args.address, num_cpus=args.num_cpus, device=args.device,
                     progress=not args.quiet, threads=args.threads)
    r = res.report
    c = r["consistency"]
    print(f"{r['shapes']['done']} shapes matched to template {res.template} in {r['timings_s']['total']:.1f} s "
          f"({r['engine']['name']}, {r['engine']['workers']} worker(s)); {len(res.failures)} failure(s); "
          f"round trip {_fmt(c['roundtrip_before'])} -> {_fmt(c['roundtrip_after'])}, "
          f"cycle {_fmt(c['triangle_before'])} -> {_fmt(c['triangle_after'])} (before -> after consistency)")
    for f in res.failures:
        print(f"  failed: {f['name']} ({f['stage']}): {f['error']}", file=sys.stderr)
    print(f"maps in {Path(args.out) / 'maps'}; report {Path(args.out) / 'report.json'}")
    return 0


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def run_map(args) -> int:
    from ..collection import CollectionFolder, pair_maps
    from ..collection.pairs import pair_info
    from ..collection.store import write_indices

    folder = CollectionFolder(args.collection)
    folder.check()
    out = Path(args.out)
    check_output_folder(out)
    paths = [folder.shape_path(n) for n in (args.a, args.b)]
    check_not_inputs(out, PAIR_OUTPUTS, [p for p in paths if p])
    maps = pair_maps(folder, args.a, args.b, via=args.via, refine=args.refine)
    p2p_ab, p2p_ba = maps.p2p_ab, maps.p2p_ba
    template = folder.template()
    info = dict(pair_info(folder, args.a, args.b, maps), source_file=paths[0], target_file=paths[1])
    with atomic_output_dir(out) as tmp:
        write_indices(tmp / "source_to_target.txt", p2p_ab)
        write_indices(tmp / "target_to_source.txt", p2p_ba)
        (tmp / "map.json").write_text(json.dumps(info, indent=2) + "\n")
        if not args.no_picture and all(paths):
            _picture(tmp / "correspondence.png", paths, p2p_ba, args.a, args.b, up=args.up)
    print(f"{args.a} -> {args.b} ({info['composed']}; template {template}): {out / 'source_to_target.txt'} "
          f"({len(p2p_ab)} lines), {out / 'target_to_source.txt'} ({len(p2p_ba)} lines)")
    return 0


def _picture(path: Path, paths: list, p2p_ba, a: str, b: str, up: str = "y") -> None:
    import warnings

    from ..core import load
    from ..render import render_correspondence

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sa, sb = load(paths[0]), load(paths[1])
    render_correspondence(sa, sb, p2p_ba, path, titles=(a, f"{b} (colours through the template)"), up=up)
