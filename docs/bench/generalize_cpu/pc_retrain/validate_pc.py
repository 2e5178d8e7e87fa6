#!/usr/bin/env python
"""Point-cloud validation of feature models (choosing a faust_r_wks_pc candidate; issue 11).

On the validation shapes FAUST_r tr_reg_070..079 only (never the test split 080..099): the
whole matcher (`shapecorr.match`, default preset, ``feature_model=MODEL``, which a point-cloud
pair then uses) on ``--pairs`` seeded pairs of two point clouds of the shapes' vertices, and the
same pairs with the source a mesh (``--mesh-source``); error as the benchmark measures it
(`shapecorr.eval.PairEvaluator`: geodesic error on the source mesh / sqrt(area), x100).

    nice -n 5 env OMP_NUM_THREADS=1 python docs/bench/generalize_cpu/pc_retrain/validate_pc.py \
        OLD.npz NEW.pt ... --out docs/bench/generalize_cpu/pc_retrain/validation.jsonl

One JSON line per model and pair (appended; a rerun skips what the file has), then a summary
per model: mean / median / pairs above 5.
"""
import argparse
import itertools
import json
import random
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="feature models (bundled names or files)")
    ap.add_argument("--out", type=Path, required=True, help="JSON lines file (appended)")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "FAUST_r" / "vtx_5k")
    ap.add_argument("--pairs", type=int, default=20, help="validation pairs (seeded) (default: %(default)s)")
    ap.add_argument("--mesh-source", type=int, default=0, help="also this many of them mesh -> point cloud")
    ap.add_argument("--label", default="", help="added to the model's key in the rows (e.g. the code version)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a match setting for every pair (a YAML value; repeatable)")
    a = ap.parse_args(argv)
    import yaml

    overrides = {k: yaml.safe_load(v) for k, v in (x.split("=", 1) for x in a.set)}

    from shapecorr import Shape, match
    from shapecorr.core import LowConfidenceWarning, ShapeWarning
    from shapecorr.eval import Dataset, PairEvaluator

    warnings.filterwarnings("ignore", category=ShapeWarning)
    warnings.filterwarnings("ignore", category=LowConfidenceWarning)
    names = [f"tr_reg_{i:03d}" for i in range(70, 80)]
    pairs = list(itertools.permutations(names, 2))
    random.Random(0).shuffle(pairs)
    pairs = pairs[: a.pairs]
    ev = PairEvaluator(Dataset(a.data))
    done = set()
    if a.out.exists():
        done = {(r["model"], r["kind"], r["source"], r["target"]) for r in map(json.loads, a.out.read_text().splitlines())}

    def pc(shape):
        return Shape(shape.vertices, None, name=f"{shape.name}_pc")

    jobs = [("pc", p) for p in pairs] + [("mesh_pc", p) for p in pairs[: a.mesh_source]]
    for model in a.models:
        key = model + a.label
        for kind, (s, t) in jobs:
            if (key, kind, s, t) in done:
                continue
            src = ev.shape(s) if kind == "mesh_pc" else pc(ev.shape(s))
            cpu = time.process_time()
            m = match(src, pc(ev.shape(t)), "default", feature_model=model, **overrides)
            cpu = time.process_time() - cpu
            r, _ = ev.evaluate(s, t, m.p2p_21, m.p2p_12)
            row = {"model": key, "kind": kind, "source": s, "target": t, "error": round(r["mean_error_x100"], 4),
                   "flipped": r.get("flipped"), "init": m.info.get("init"), "confidence": m.info.get("confidence"),
                   "fallback": m.info.get("axiomatic_fallback"),
                   "orientation_smooth": m.info.get("orientation_score_smooth"), "cpu_s": round(cpu, 2)}
            with open(a.out, "a") as fh:
                fh.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
    rows = [json.loads(x) for x in a.out.read_text().splitlines()]
    for model in a.models:
        for kind in ("pc", "mesh_pc"):
            e = np.array([r["error"] for r in rows if r["model"] == model + a.label and r["kind"] == kind])
            if len(e):
                print(f"{model}{a.label} {kind} ({len(e)} pairs): mean {e.mean():.2f} / median {np.median(e):.2f} / "
                      f"above 5: {(e > 5).sum()}", flush=True)


if __name__ == "__main__":
    main()
