#!/usr/bin/env python
"""Every candidate map of the matcher on listed pairs, each measured against the ground truth.

For each pair, the matcher runs once (``shapecorr.match`` with a preset and optional
``--setting KEY=VALUE`` overrides); every candidate it refines and assesses (learned, adapted,
fallback solves, ...) is kept with its confidence, and its vertex map is measured with the
benchmark's evaluator (mean geodesic error x100, fraction of points nearer the mirrored truth).
The row of the candidate the matcher kept is marked with ``*``. This tells a wrong candidate
kept (a better one was there) from a pair where no candidate was right.

    python scripts/diag_candidates.py ../shared/data/TOSCA_r/TOSCA_Isometric/vtx_5k \\
        --pair cat4 cat6 --pair cat4 cat7 --out out/diag.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_setting(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE read as YAML (numbers, booleans, lists)."""
    import yaml

    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--setting {text!r}: expected KEY=VALUE")
    key, value = text.split("=", 1)
    return key.strip(), yaml.safe_load(value)


VARIANTS = ("mesh_solves", "adapted_solves")


def _patched(pipeline, variants: tuple):
    """Experimental changes of the matcher, by monkeypatching (restored by the caller):
    ``mesh_solves``: the exact solves on the learned features of an untrusted pair (the pipeline
    runs them on two meshes when the learned map is below ``fallback_below``, and on pairs with a
    point cloud with the fallback) also run here unconditionally; ``adapted_solves``: they also run
    on the adapted features when adaptation ran. (The adapted map's ZoomOut guided by the adapted
    features, once a variant here, is what the pipeline does now.)"""
    saved = {}
    run = pipeline._Run
    if "adapted_solves" in variants:
        saved["adapted_pair_features"] = pipeline.adapted_pair_features
        saved["_adapted_candidate"] = run._adapted_candidate
        captured = {}

        def capturing(*a, **kw):
            captured["feats"] = saved["adapted_pair_features"](*a, **kw)
            return captured["feats"]

        pipeline.adapted_pair_features = capturing

        def adapted_candidate(self):
            cand = saved["_adapted_candidate"](self)
            self.adapted_feats = captured.get("feats")
            return cand

        run._adapted_candidate = adapted_candidate
    if "mesh_solves" in variants or "adapted_solves" in variants:
        saved["_feature_solve_candidates"] = run._feature_solve_candidates

        def feature_solves(self, solve):
            out = []
            sets = []
            if "mesh_solves" in variants:
                sets.append(("features_fallback", tuple(w.features for w in self.work)))
            if "adapted_solves" in variants and getattr(self, "adapted_feats", None) is not None:
                sets.append(("adapted_fallback", tuple(self.adapted_feats)))
            cap = min(self.plan.k_basis)
            for name, feats in sets:
                ops = pipeline.AxiomaticOperators(self.P1, self.P2, solve, descriptors=feats)
                out += [self._candidate(name, k, mult, pipeline.axiomatic_initial_map(ops, k, mult))
                        for k, mult in pipeline.POINT_CLOUD_FEATURE_SOLVES if k <= cap]
            return out

        run._feature_solve_candidates = feature_solves
    return saved


def match_with_candidates(p1, p2, preset: str, overrides: dict, variants: tuple = ()):
    """``(match, candidates)``: the match and every candidate it refined and assessed (``p1``,
    ``p2``: paths or shapes)."""
    import shapecorr
    from shapecorr import pipeline

    seen = []
    original = pipeline._Run._candidate

    def recording(self, *args, **kwargs):
        cand = original(self, *args, **kwargs)
        seen.append(cand)
        return cand

    pipeline._Run._candidate = recording
    saved = _patched(pipeline, variants)
    try:
        m = shapecorr.match(p1 if isinstance(p1, shapecorr.Shape) else str(p1),
                            p2 if isinstance(p2, shapecorr.Shape) else str(p2), preset=preset, **overrides)
    finally:
        pipeline._Run._candidate = original
        for name, fn in saved.items():
            if hasattr(pipeline._Run, name):
                setattr(pipeline._Run, name, fn)
            else:
                setattr(pipeline, name, fn)
    return m, seen


def as_point_cloud(path: Path):
    """The shape's vertices as a point cloud (the maps keep its vertex indices, so the mesh's
    ground truth measures them, as in scripts/bench_generalize.py's ``pc`` set)."""
    import shapecorr

    mesh = shapecorr.load(path)
    return shapecorr.Shape(mesh.vertices, None, name=f"{mesh.name}_pc")


def diagnose_pair(ev, ds, a: str, b: str, preset: str, overrides: dict, variants: tuple = (),
                  point_clouds: bool = False, save_maps: Path | None = None) -> dict:
    t0 = time.process_time()
    p1, p2 = ds.shape_path(a), ds.shape_path(b)
    if point_clouds:
        p1, p2 = as_point_cloud(p1), as_point_cloud(p2)
    m, cands = match_with_candidates(p1, p2, preset, overrides, variants)
    cpu = time.process_time() - t0
    if m.info.get("proxy"):
        raise SystemExit(f"{a} -> {b} was matched through proxies ({m.info['proxy']}); its candidates are maps "
                         "between the proxies, which the ground truth does not describe. Measure pairs matched at "
                         "full resolution (or raise proxy_above with --setting).")
    rows = []
    for c in cands:
        r, _ = ev.evaluate(a, b, c.p2p_21, c.p2p_12)
        rows.append({"init": c.init, "k_init": c.k_init, "w_orient_multiplier": c.w_orient_multiplier, "energy": c.energy,
                     "confidence": round(c.trust, 4), "error": round(r["mean_error_x100"], 3),
                     "frac_nearer_sym": r["frac_nearer_sym"],
                     "signals": c.confidence.to_dict()["signals"],
                     "kept": bool((c.p2p_21 == m.p2p_21).all()) if len(c.p2p_21) == len(m.p2p_21) else False})
    final, _ = ev.evaluate(a, b, m.p2p_21, m.p2p_12)
    if save_maps is not None:
        import numpy as np

        save_maps.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(save_maps / f"{a}__{b}.npz", final_21=m.p2p_21, final_12=m.p2p_12,
                            **{f"c{i}_21": c.p2p_21 for i, c in enumerate(cands)},
                            **{f"c{i}_12": c.p2p_12 for i, c in enumerate(cands)})
    return {"source": a, "target": b, "error": round(final["mean_error_x100"], 3),
            "frac_nearer_sym": final["frac_nearer_sym"], "confidence": m.info["confidence"],
            "init": m.info["init"], "cpu_s": round(cpu, 1), "polish": m.info.get("polish"), "registration": m.info.get("registration"), "candidates": rows}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--pair", nargs=2, action="append", metavar=("SOURCE", "TARGET"), required=True)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--setting", type=parse_setting, action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--variant", action="append", default=[], choices=VARIANTS,
                    help="experimental change of the matcher (see _patched); repeatable")
    ap.add_argument("--point-clouds", action="store_true",
                    help="match both shapes as point clouds of their vertices (measured on the meshes)")
    ap.add_argument("--out", type=Path, help="JSON lines, one per pair (appended)")
    ap.add_argument("--save-maps", type=Path, metavar="DIR",
                    help="also write each pair's vertex maps (the final one and every candidate's, in the order "
                         "of the JSON rows) to DIR/SOURCE__TARGET.npz")
    args = ap.parse_args(argv)

    import warnings

    from shapecorr import set_cache_dir
    from shapecorr.eval import Dataset, PairEvaluator

    warnings.filterwarnings("ignore")
    set_cache_dir(ROOT / "out" / "diag_cache")
    ds = Dataset(args.dataset)
    ev = PairEvaluator(ds)
    overrides = dict(args.setting)
    for a, b in args.pair:
        res = diagnose_pair(ev, ds, a, b, args.preset, overrides, tuple(args.variant), args.point_clouds,
                           args.save_maps)
        res["settings"], res["variants"] = overrides, args.variant
        print(f"{a} -> {b}: {res['error']:.2f} (sym {res['frac_nearer_sym']:.3f}, conf {res['confidence']}, "
              f"{res['init']}, {res['cpu_s']} s CPU)", flush=True)
        for c in res["candidates"]:
            mark = "*" if c["kept"] else " "
            print(f"   {mark} {c['init']:<20} k={c['k_init']:<3} mult={c['w_orient_multiplier']} "
                  f"conf={c['confidence']:.3f} err={c['error']:.2f} sym={c['frac_nearer_sym']:.3f}"
                  f"{' ' + c['energy'] if c.get('energy') else ''}", flush=True)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            with args.out.open("a") as f:
                f.write(json.dumps(res) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
