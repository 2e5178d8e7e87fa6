"""Both models' matches of listed pairs of a FAUST/TOSCA-like folder, each whole and on its own:
the default with the second model off (``first``) and ``selfsup_general`` alone (``second``);
their errors, confidences and how much the two maps agree (``maps_agreement`` at the pipeline's
radius, on the unit-area source). One JSON row per pair, appended; pairs already in OUT skipped.

    python run.py FOLDER OUT.jsonl --pairs-file PAIRS.txt [--shard I/N]
    python run.py FOLDER OUT.jsonl --pair A B --pair C D
"""
import argparse, json, time, warnings
from pathlib import Path

import numpy as np

import shapecorr
from shapecorr.eval.metrics import geodesic_errors
from shapecorr.fmap.refine import maps_agreement
from shapecorr.pipeline import DISAGREEMENT_RADIUS

p = argparse.ArgumentParser()
p.add_argument("folder", type=Path); p.add_argument("out", type=Path)
p.add_argument("--pairs-file", type=Path); p.add_argument("--pair", nargs=2, action="append", default=[])
p.add_argument("--shard", default="0/1")
a = p.parse_args()
pairs = [tuple(x) for x in a.pair]
if a.pairs_file:
    pairs += [tuple(l.split()[:2]) for l in a.pairs_file.read_text().splitlines() if l.strip()]
i, n = (int(x) for x in a.shard.split("/"))
pairs = pairs[i::n]
done = set()
if a.out.exists():
    done = {r["pair"] for r in map(json.loads, a.out.read_text().splitlines()) if r}


def vts(name):
    return np.loadtxt(a.folder / "corres" / f"{name}.vts", dtype=np.int64) - 1


def side(m, err):
    i = m.info
    return {"init": i["init"], "error": round(err(m.p2p_21), 2), "confidence": i["confidence"],
            "low": i["confidence_low"], "disagreement": i.get("learned_disagreement")}


for s, t in pairs:
    if f"{s}->{t}" in done:
        continue
    A, B = shapecorr.load(a.folder / f"{s}.off"), shapecorr.load(a.folder / f"{t}.off")
    err = lambda p2p: 100 * float(np.mean(geodesic_errors(A, p2p, vts(s), vts(t))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.process_time(); m1 = shapecorr.match(A, B, second_model=None); c1 = time.process_time() - t0
        t0 = time.process_time(); m2 = shapecorr.match(A, B, feature_model="selfsup_general"); c2 = time.process_time() - t0
    agree = maps_agreement(m1.p2p_21, m2.p2p_21, A.vertices / np.sqrt(A.area), DISAGREEMENT_RADIUS)
    row = {"pair": f"{s}->{t}", "first": side(m1, err), "second": side(m2, err), "agreement": round(agree, 4),
           "second_runs": m1.info["confidence"] < 0.95, "cpu_s": [round(c1, 1), round(c2, 1)]}
    print(json.dumps(row), flush=True)
    with open(a.out, "a") as fh:
        fh.write(json.dumps(row) + "\n")
