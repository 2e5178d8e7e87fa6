#!/usr/bin/env python
"""Every candidate map of point-cloud pairs, measured (issue 11; choosing on validation).

FAUST_r pairs as point clouds of their vertices, matched by ``shapecorr.match`` (default
preset plus ``--set`` overrides); every candidate the pipeline assesses is recorded (a spy on
``pipeline.assess``) with its error against the ground truth (``PairEvaluator``), share of points
nearer the mirrored truth, confidence, smooth orientation score, and local orientation shares:
the share of target points whose orientation sign, averaged over their local triangles and
smoothed over the 8-nearest-neighbour graph 0 / 5 / 20 times, is negative (``neg_s*``: the
functional map's smooth image; ``vneg_s*``: the vertex map).

    nice -n 5 env OMP_NUM_THREADS=1 python docs/bench/generalize_cpu/pc_guided/candidates_pc.py \\
        --split val --pairs 20 --set adapt_when=never --set use_fallback=false --out rows.jsonl
    ... --split tr_reg_092:tr_reg_096,tr_reg_085:tr_reg_096 --pairs 2 --out test_rows.jsonl

``--split val``: the seeded validation pairs of ``pc_retrain/validate_pc.py`` (permutations of
tr_reg_070..079, shuffled with seed 0); otherwise a comma-separated list of SOURCE:TARGET.
``PC3_ROOT`` selects the code (a worktree) to import; default: this checkout.
"""
import argparse
import itertools
import json
import os
import random
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
ROOT = Path(os.environ.get("PC3_ROOT", HERE.parents[4]))
sys.path.insert(0, str(ROOT))

import shapecorr.pipeline as pl  # noqa: E402
from shapecorr import Shape, match  # noqa: E402
from shapecorr.core.pointcloud import knn_edges  # noqa: E402
from shapecorr.eval import Dataset, PairEvaluator  # noqa: E402
from shapecorr.fmap.confidence import face_orientation_fmap, faces_to_vertices, smooth_on_graph  # noqa: E402


def local_stats(c, P1, P2) -> dict:
    f2 = P2.orientation_faces
    n2 = P2.shape.n_vertices
    E = knn_edges(P2.shape.vertices, 8)
    sign, area = face_orientation_fmap(c.fmap_12, P1.evecs, P1.mass, P1.shape.vertices, P1.vertex_normals,
                                       P2.evecs, P2.shape.vertices, f2)
    v = faces_to_vertices(sign, area, f2, n2)
    out = {f"neg_s{st}": round(float(np.mean((smooth_on_graph(v, E, st) if st else v) < 0)), 4) for st in (0, 5, 20)}
    tri = c.p2p_21[f2]
    p = P1.shape.vertices[tri]
    sv = np.sign(np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), P1.vertex_normals[tri].sum(1)))
    vv = faces_to_vertices(sv, np.ones(len(sv)), f2, n2)
    out.update({f"vneg_s{st}": round(float(np.mean(smooth_on_graph(vv, E, st) < 0)), 4) for st in (5, 20)})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="val")
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--skip", type=int, default=0, help="leave out the first pairs (resume)")
    ap.add_argument("--data", type=Path, default=HERE.parents[5] / "shared" / "data" / "FAUST_r" / "vtx_5k")
    ap.add_argument("--out", type=Path, required=True, help="JSON lines (appended)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    a = ap.parse_args()
    import yaml

    over = {k: yaml.safe_load(v) for k, v in (x.split("=", 1) for x in a.set)}
    warnings.filterwarnings("ignore")
    ds = Dataset(a.data)
    if a.split == "val":
        names = [f"tr_reg_{i:03d}" for i in range(70, 80)]
        pairs = list(itertools.permutations(names, 2))
        random.Random(0).shuffle(pairs)
    else:
        pairs = [tuple(p.split(":")) for p in a.split.split(",")]
    pairs = pairs[a.skip: a.pairs]
    ev = PairEvaluator(ds)
    captured = []
    assess = pl.assess

    def spy(c, P1, P2, descr, known=(None, None)):
        out = assess(c, P1, P2, descr, known)
        captured.append((out, P1, P2))
        return out

    pl.assess = spy
    for s, t in pairs:
        captured.clear()
        cpu = time.process_time()
        m = match(Shape(ev.shape(s).vertices, None, name=s + "_pc"), Shape(ev.shape(t).vertices, None, name=t + "_pc"),
                  "default", **over)
        cpu = time.process_time() - cpu
        r, _ = ev.evaluate(s, t, m.p2p_21, m.p2p_12)
        main_pair = captured[0][1]
        cands = []
        for c, P1, P2 in captured:
            if P1 is not main_pair:
                continue
            rc, _ = ev.evaluate(s, t, c.p2p_21, c.p2p_12)
            cands.append({"init": c.init, "k": c.k_init, "mult": c.w_orient_multiplier,
                          "err": round(rc["mean_error_x100"], 3), "fsym": round(rc["frac_nearer_sym"], 3),
                          "conf": round(c.trust, 3), "osm": round(c.orientation_score_smooth or 0, 3),
                          "ov": round(c.orientation_score or 0, 3), **local_stats(c, P1, P2)})
        row = {"pair": [s, t], "err": round(r["mean_error_x100"], 3), "flipped": r["flipped"], "init": m.info["init"],
               "conf": m.info["confidence"], "cpu": round(cpu, 1), "adapt": m.info["adaptation"].get("ran"),
               "settings": a.set, "cands": cands}
        with open(a.out, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
