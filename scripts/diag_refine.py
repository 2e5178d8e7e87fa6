#!/usr/bin/env python
"""Where is the FAUST_r error lost? Error of each stage of the default pipeline on a tune set,
and refinement variants (issue 11).

For each pair (source 1, target 2) of shapes 000-079 (the feature model saw 000-069 in training
and 070-079 for validation; the test split 080-099 is never used here):

- ``feat``    the nearest-feature vertex map (all target vertices)
- ``init``    the initial 30x30 functional map's vertex map
- ``zoomout`` the default refinement (ZoomOut to 100 on 2000 samples + 2 full-resolution steps)
- ``gt_zo``   the same refinement started from the ground truth's 30x30 map (the refinement's floor)
- ``gt_basis`` the ground-truth vertex map pushed through the 100x100 functional map (the basis' floor)
- ``VARIANT`` each ``--variant NAME`` (a refinement of :mod:`shapecorr.fmap.refine`, see VARIANTS)

    nice -n 5 env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/python scripts/diag_refine.py \
        ../shared/data/FAUST_r/vtx_5k --pairs 40 --out out/diag_refine
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shapecorr import load, load_preset  # noqa: E402
from shapecorr.eval.metrics import GeodesicDistances, geodesic_errors  # noqa: E402
from shapecorr.fmap import fmap_to_p2p, knn_blocked, p2p_to_fmap  # noqa: E402
from shapecorr.pipeline import features_to_fmap, plan_pair, prepare_pair_work, refine  # noqa: E402


def tune_pairs(n: int, seed: int, first: int = 0, last: int = 79) -> list[tuple[int, int]]:
    """``n`` seeded ordered pairs of shapes first..last, half between different persons
    (person i = shapes 10i..10i+9)."""
    rng = np.random.default_rng(seed)
    out: list[tuple[int, int]] = []
    want_same = n // 2
    while len(out) < n:
        a, b = (int(x) for x in rng.integers(first, last + 1, 2))
        same = a // 10 == b // 10
        if a == b or (a, b) in out:
            continue
        n_same = sum(x // 10 == y // 10 for x, y in out)
        if same and n_same >= want_same or not same and len(out) - n_same >= n - want_same:
            continue
        out.append((a, b))
    return out


def read_vts(folder: Path, name: str) -> np.ndarray:
    return np.loadtxt(folder / "corres" / f"{name}.vts", dtype=np.int64) - 1


def gt_p2p_21(gt1: np.ndarray, gt2: np.ndarray, vertices2: np.ndarray) -> np.ndarray:
    """A ground-truth vertex map ``p2p_21`` on every target vertex: from the template points, and
    for target vertices no template point lands on, that of the nearest vertex that has one."""
    n2 = len(vertices2)
    p2p = np.full(n2, -1, dtype=np.int64)
    p2p[gt2] = gt1
    have = np.flatnonzero(p2p >= 0)
    miss = np.flatnonzero(p2p < 0)
    if len(miss):
        p2p[miss] = p2p[have[knn_blocked(vertices2[miss], vertices2[have])]]
    return p2p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--pairs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variant", action="append", default=[], help="refinement variants (see VARIANTS)")
    ap.add_argument("--no-floors", action="store_true", help="skip feat/init/gt rows (variants only)")
    ap.add_argument("--pair-list", type=Path, help="a file of 'A B' shape names instead of the tune pairs")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from variants_refine import VARIANTS  # scripts/variants_refine.py

    s = load_preset("default")
    if args.pair_list:
        names = [tuple(line.split()[:2]) for line in args.pair_list.read_text().splitlines() if line.strip()]
    else:
        names = [(f"tr_reg_{a:03d}", f"tr_reg_{b:03d}") for a, b in tune_pairs(args.pairs, args.seed)]
    rows = []
    for n1, n2 in names:
        src, tgt = load(args.folder / f"{n1}.off"), load(args.folder / f"{n2}.off")
        plan = plan_pair(src.n_vertices, tgt.n_vertices, s)
        w1, w2 = prepare_pair_work(src, tgt, s, plan)
        P1, P2 = w1.prepared, w2.prepared
        samples = (w1.samples, w2.samples)
        gt1, gt2 = read_vts(args.folder, n1), read_vts(args.folder, n2)
        dist = GeodesicDistances(src)

        def err(p2p):
            return float(100 * geodesic_errors(None, p2p, gt1, gt2, distances=dist).mean())

        row = {"source": n1, "target": n2, "same_person": int(n1[-3:-1] == n2[-3:-1])}
        C0 = features_to_fmap([w1.features, w2.features], P1, P2, plan.k_init, queries=samples[1])
        if not args.no_floors:
            row["feat"] = err(knn_blocked(w2.features, w1.features))
            row["init"] = err(fmap_to_p2p(C0, P1.evecs, P2.evecs))
            gt = gt_p2p_21(gt1, gt2, P2.shape.vertices)
            row["gt_vertex"] = err(gt)
            Cgt = p2p_to_fmap(gt, P1.evecs, P2.evecs, P2.mass, k1=plan.k_final, k2=plan.k_final)
            row["gt_basis"] = err(fmap_to_p2p(Cgt, P1.evecs, P2.evecs))
            row["gt_zo"] = err(refine(Cgt[:plan.k_init, :plan.k_init], P1, P2, s, plan, samples=samples)[1])
            t0 = time.process_time()
            row["zoomout"] = err(refine(C0, P1, P2, s, plan, samples=samples)[1])
            row["zoomout_cpu"] = time.process_time() - t0
        for name in args.variant:
            t0 = time.process_time()
            p2p = VARIANTS[name](C0, P1, P2, s, plan, samples, (w1.features, w2.features))
            row[name + "_cpu"] = time.process_time() - t0
            row[name] = err(p2p)
        rows.append(row)
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
    keys = [k for k in rows[0] if k not in ("source", "target", "same_person")]
    summary = {}
    for sel, label in ((lambda r: True, "all"), (lambda r: r["same_person"], "same"),
                       (lambda r: not r["same_person"], "different")):
        rs = [r for r in rows if sel(r)]
        summary[label] = {k: round(float(np.mean([r[k] for r in rs])), 3) for k in keys} | {"pairs": len(rs)}
    print(json.dumps(summary, indent=1))
    with open(args.out / "pairs.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
