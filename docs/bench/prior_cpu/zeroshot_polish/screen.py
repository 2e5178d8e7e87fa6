#!/usr/bin/env python
"""Screen: would the precision polish (an unguided ZoomOut on all vertices growing the kept map by
``polish_extra`` eigenfunctions, then ``polish_bijective_iters`` bijective steps) make the
``zeroshot`` preset's maps (or the ``axiomatic`` preset's: ``--preset``) more precise? The pipeline polishes only maps whose learned features
disagree with them, and the zero-shot preset has no learned features, so it never polishes.

For each pair of ``bench_prior.py --zs-split SPLIT`` (FAUST_r 070-079 for tune) the preset runs as
shipped; its kept functional map is then grown as the pipeline's ``polish_map`` would, to each size
in ``--k``, with and without the bijective steps. One JSON line per pair: the errors (mean x100),
the confidence of the shipped map and of each grown one.

    nice -n 5 env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python docs/bench/prior_cpu/zeroshot_polish/screen.py \\
        ../shared/data faust --split tune --shard 0/2 > rows_0.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "scripts"))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path)
    ap.add_argument("set", choices=("faust", "tosca"))
    ap.add_argument("--split", choices=("tune", "test"), default="tune")
    ap.add_argument("--k", default="140", help="comma-separated sizes to grow to")
    ap.add_argument("--shard", default="0/1", help="I/N: every N-th pair from the I-th")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--kind", default="mesh", choices=("mesh", "point_cloud"),
                    help="point_cloud: both shapes given as point clouds of their vertices")
    ap.add_argument("--preset", default="zeroshot", help="the preset whose kept maps are grown (zeroshot, axiomatic)")
    a = ap.parse_args(argv)
    import torch

    import bench_generalize as bg
    from bench_prior import split_sets
    from shapecorr import match
    from shapecorr.config import load_preset
    from shapecorr.eval import PairEvaluator
    from shapecorr.fmap.prepare import prepare_shapes
    from shapecorr.pipeline import Candidate, assess, confidence_descriptors, needs_normals, polish_map

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    i, n = (int(t) for t in a.shard.split("/"))
    bs = split_sets(a.data, a.split, [a.set], {})[0]
    bs.kind = a.kind
    ev = PairEvaluator(bs.ds, points=bs.points, dense_max=bs.dense_max)
    pairs = bs.pairs[:a.limit][i::n]
    for src, tgt in pairs:
        t0 = time.process_time()
        s1, s2 = (bg.as_input(ev.shape(x), bs.kind) for x in (src, tgt))
        m = match(s1, s2, a.preset, feature_threads=1, polish_extra=None)  # the unpolished map, as shipped before
        r, _ = ev.evaluate(src, tgt, m.p2p_21, m.p2p_12)
        row = {"source": src, "target": tgt, "init": m.info["init"], "confidence": m.info["confidence"],
               "error": round(r["mean_error_x100"], 4), "flipped": bool(r.get("flipped")),
               "cpu_s": round(time.process_time() - t0, 1)}
        for bij in (0, 2):
            s = load_preset(a.preset, polish_bijective_iters=bij)
            for k in (int(t) for t in a.k.split(",")):
                t1 = time.process_time()
                Q1, Q2 = prepare_shapes((s1, s2), (k, k), laplacian_kind=s.laplacian,
                                        point_cloud_normals=needs_normals(s))
                C, p21, p12 = polish_map(m.fmap_12, Q1, Q2, s, k)
                rr, _ = ev.evaluate(src, tgt, p21, p12)
                descr = (confidence_descriptors(Q1), confidence_descriptors(Q2))
                c = assess(Candidate("polished", 30, None, C, p21, p12), Q1, Q2, descr, (None, None))
                row[f"k{k}_bij{bij}"] = {"error": round(rr["mean_error_x100"], 4), "confidence": round(c.trust, 4),
                                         "cpu_s": round(time.process_time() - t1, 1)}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
