#!/usr/bin/env python
"""One pair of ``bench_prior.py --zeroshot --zs-split tune|test`` through the ``zeroshot`` preset,
with settings of its own (e.g. ``zeroshot_retries=0``): a paired baseline for the pairs a changed
setting re-ran, on the same machine (the zero-shot network's floats differ slightly between
machines, enough to swap candidates tied at confidence 1.0).

Prints one line: source, target, mean error x100, flipped, confidence, the kept candidate's init,
and every candidate as ``[init, confidence, k_init, orientation weight multiplier]``.

    nice -n 5 env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python scripts/zeroshot_one_pair.py \\
        ../shared/data faust tr_reg_087 tr_reg_092 --split test --set zeroshot_retries=0
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="the shared data folder")
    ap.add_argument("set", choices=("faust", "tosca"))
    ap.add_argument("source")
    ap.add_argument("target")
    ap.add_argument("--split", choices=("tune", "test"), default="test")
    ap.add_argument("--set", dest="settings", action="append", default=[],
                    type=lambda t: (t.split("=", 1)[0], json.loads(t.split("=", 1)[1])),
                    help="KEY=JSON: a match setting (repeatable)")
    a = ap.parse_args(argv)
    import torch

    import bench_generalize as bg
    from bench_prior import split_sets
    from shapecorr import match
    from shapecorr.eval import PairEvaluator

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    bs = split_sets(a.data, a.split, [a.set], {})[0]
    if (a.source, a.target) not in set(bs.pairs):
        raise SystemExit(f"{a.source} -> {a.target} is not a {a.split} pair of {a.set}.")
    ev = PairEvaluator(bs.ds, points=bs.points, dense_max=bs.dense_max)
    m = match(bg.as_input(ev.shape(a.source), bs.kind), bg.as_input(ev.shape(a.target), bs.kind), "zeroshot",
              feature_threads=1, **dict(a.settings))
    r, _ = ev.evaluate(a.source, a.target, m.p2p_21, m.p2p_12)
    cands = [[c["init"], c["confidence"], c["k_init"], c["w_orient_multiplier"]] for c in m.info["candidates"]]
    print(a.source, a.target, round(r["mean_error_x100"], 4), bool(r.get("flipped")), m.info["confidence"],
          m.info["init"], json.dumps(cands))


if __name__ == "__main__":
    main()
