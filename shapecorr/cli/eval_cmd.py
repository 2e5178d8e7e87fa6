"""``shapecorr eval``: match the pairs of a benchmark folder and measure the maps."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import warnings
from pathlib import Path

from ..core.jsonio import json_default
from .common import CommandError, atomic_output_dir, check_device, check_output_folder

HELP = "match the pairs of a benchmark folder and report geodesic error, flips, PCK, coverage, timings"

DESCRIPTION = """\
Match every pair of a benchmark folder with a preset and measure the maps against the ground
truth. The folder holds shapes NAME.off (or .obj/.ply) and their correspondence to a common
template in corres/NAME.vts (1-based vertex indices; corres/NAME.sym.vts, the left-right
mirrored correspondence, is used to detect symmetry flips), as FAUST_r and TOSCA_r are laid out.

For each pair SOURCE TARGET the map p2p_21 (target vertex -> source vertex) is scored by the
geodesic error on the source, normalized by sqrt(source area), x100 (lower is better); a map is
counted as flipped when a part of it follows the mirrored ground truth (see --flip-fraction).

Writes DIR/results.json (settings, per-pair results, means, PCK curve), DIR/pairs.csv and
DIR/pck.png. Progress goes to stderr, one line per pair.
"""

EPILOG = """\
examples:
  shapecorr eval ../shared/data/FAUST_r/vtx_5k --pairs ../shared/data/FAUST_r/test_pairs.txt --out eval_faust
  shapecorr eval ../shared/data/FAUST_r/vtx_5k --pairs my_pairs.txt --preset fast --limit 10 --out quick
pairs file: one pair per line, "SOURCE<TAB>TARGET" or "SOURCE TARGET" (names without extension).
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", metavar="DATASET_DIR",
                   help="folder with the shapes (NAME.off) and corres/NAME.vts ground truth")
    p.add_argument("--pairs", metavar="FILE",
                   help="pairs to evaluate (default: test_pairs.txt in DATASET_DIR or its parent)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    p.add_argument("--preset", default="default", metavar="NAME",
                   help="match preset: a shipped name (default: %(default)s) or a YAML file")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="compute device (default: cpu)")
    from .match_cmd import add_model_arguments

    add_model_arguments(p)
    p.add_argument("--limit", type=int, metavar="N", help="evaluate only the first N pairs")
    p.add_argument("--flip-fraction", type=float, default=0.05, metavar="F",
                   help="a map counts as flipped when more than this fraction of points is nearer the "
                        "mirrored ground truth than the direct one, or its mean error is (default: %(default)s)")
    p.add_argument("--points", type=int, metavar="N",
                   help="score only N ground-truth points (a fixed random subset; for large meshes, where "
                        "geodesics are solved per point; default: all)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def _fmt(x, nd=2):
    return "n/a" if x is None else f"{x:.{nd}f}"


def run(args) -> int:
    # every argument is checked before any work
    dataset = Path(args.dataset)
    if not dataset.exists():
        raise CommandError(f"dataset folder {dataset}: no such folder.")
    if not dataset.is_dir():
        raise CommandError(f"dataset {dataset}: not a folder (give the folder holding NAME.off and corres/).")
    if args.limit is not None and args.limit < 1:
        raise CommandError(f"--limit must be at least 1 (got {args.limit}).")
    if args.points is not None and args.points < 1:
        raise CommandError(f"--points must be at least 1 (got {args.points}).")
    if not 0 < args.flip_fraction < 1:
        raise CommandError(f"--flip-fraction must be in (0, 1) (got {args.flip_fraction}).")
    check_output_folder(Path(args.out))

    from ..config import load_preset
    from ..eval import (
        DEFAULT_THRESHOLDS,
        Dataset,
        PairEvaluator,
        find_pairs_file,
        read_pairs,
    )
    from .match_cmd import model_overrides

    settings = load_preset(args.preset, **model_overrides(args))
    ds = Dataset(dataset)
    pairs_file = Path(args.pairs) if args.pairs else find_pairs_file(dataset)
    if pairs_file is None:
        raise CommandError(f"no --pairs given and no test_pairs.txt in {dataset} or its parent.")
    if not pairs_file.is_file():
        raise CommandError(f"--pairs {pairs_file}: no such file.")
    pairs = read_pairs(pairs_file)
    if args.limit:
        pairs = pairs[: args.limit]
    evaluator = PairEvaluator(ds, thresholds=DEFAULT_THRESHOLDS, flip_fraction=args.flip_fraction,
                              points=args.points)
    evaluator.check(pairs)  # unknown names, missing or garbled ground truth: before matching
    check_device(args.device)
    with atomic_output_dir(Path(args.out)) as tmp:  # an unwritable --out fails here, before the work
        summary = _evaluate(args, settings, evaluator, pairs, pairs_file, tmp)
    _log(args, f"mean error {summary['mean_error_x100']:.2f} (median {summary['median_error_x100']:.2f}), "
               f"flips {_fmt(None if summary['flip_rate'] is None else 100 * summary['flip_rate'], 1)} %, "
               f"AUC {summary['auc']:.3f}, median time {summary['time_median_s']:.2f}s")
    print(Path(args.out) / "results.json")
    return 0


def _log(args, msg: str) -> None:
    if not args.quiet:
        print(msg, file=sys.stderr, flush=True)


def _evaluate(args, settings, evaluator, pairs, pairs_file: Path, tmp: Path) -> dict:
    """Match and measure every pair; write results.json, pairs.csv and pck.png into ``tmp``."""
    import numpy as np

    from .. import __version__
    from ..core import LowConfidenceWarning
    from ..eval import plot_pck, summarize_pairs
    from ..pipeline import match

    _log(args, f"shapecorr eval: {len(pairs)} pairs from {pairs_file}, preset {args.preset!r}, device {args.device}")
    rows, all_errors = [], []
    t_start = time.perf_counter()
    for i, (a, b) in enumerate(pairs, 1):
        t0 = time.perf_counter()
        with warnings.catch_warnings():  # each pair's confidence is in its line and row instead
            warnings.simplefilter("ignore", LowConfidenceWarning)
            m = match(evaluator.shape(a), evaluator.shape(b), settings, device=args.device)
        t_match = time.perf_counter() - t0
        t0 = time.perf_counter()
        r, errors = evaluator.evaluate(a, b, m.p2p_21, m.p2p_12)
        all_errors.append(errors)
        adaptation = m.info.get("adaptation") or {}
        row = {**r, "confidence": m.confidence, "time_s": round(t_match, 4),
               "eval_time_s": round(time.perf_counter() - t0, 4), "timings": m.timings,
               "init": m.info.get("init"), "adapted": bool(adaptation.get("ran")),
               "adaptation_time_s": adaptation.get("time_s")}
        rows.append(row)
        flip = "" if r["flipped"] is None else ("  FLIPPED" if r["flipped"] else "")
        _log(args, f"[{i:{len(str(len(pairs)))}d}/{len(pairs)}] {a} -> {b}: error {r['mean_error_x100']:.2f}  "
                   f"AUC {r['auc']:.3f}  confidence {_fmt(m.confidence)}  match {t_match:.2f}s{flip}")

    t = evaluator.thresholds
    summary = summarize_pairs(rows, all_errors, t)
    pck = summary.pop("pck_values")
    times = np.array([r["time_s"] for r in rows])
    summary.update({
        "time_median_s": float(np.median(times)),
        "time_mean_s": float(times.mean()),
        "wall_time_s": round(time.perf_counter() - t_start, 2),
    })
    results = {
        "dataset": str(evaluator.ds.folder.resolve()),
        "pairs_file": str(pairs_file.resolve()),
        "preset": args.preset,
        "feature_model": settings.feature_model if settings.init == "learned" else None,
        "settings": settings.to_dict(),
        "device": args.device,
        "flip_fraction": args.flip_fraction,
        "shapecorr_version": __version__,
        "error_measure": "geodesic distance on the source between p2p_21[gt_target[i]] and gt_source[i], "
                         "divided by sqrt(source area); x100 in *_x100 fields",
        "summary": summary,
        "pck": {"thresholds": t.tolist(), "values": pck.tolist()},
        "pairs": rows,
    }
    (tmp / "results.json").write_text(json.dumps(results, indent=2, default=json_default))
    cols = ["source", "target", "n_source", "n_target", "mean_error_x100", "median_error_x100",
            "mean_error_sym_x100", "flipped", "flipped_whole", "frac_nearer_sym", "auc", "coverage_21", "coverage_12",
            "confidence", "init", "adapted", "adaptation_time_s", "time_s", "eval_time_s"]
    with open(tmp / "pairs.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    plot_pck({f"shapecorr ({args.preset})": (t, pck)}, tmp / "pck.png", x_max=0.1,
             title=f"{evaluator.ds.folder.name}: {len(rows)} pairs")
    return summary
