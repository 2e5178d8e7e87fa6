"""pyFM's cat -> lion with both feature models, as run.py does (ground truth: lion2cat)."""
import json, sys, time, warnings
from pathlib import Path

import numpy as np

import shapecorr
from shapecorr.eval.metrics import geodesic_errors
from shapecorr.fmap.refine import maps_agreement
from shapecorr.pipeline import DISAGREEMENT_RADIUS

d = Path(sys.argv[1])  # ../shared/data/samples/pyfm
A, B = shapecorr.load(d / "cat-00.off"), shapecorr.load(d / "lion-00.off")
truth = np.loadtxt(d / "lion2cat", dtype=np.int64)  # line j: cat vertex of lion vertex j
every = np.arange(B.n_vertices)
err = lambda p2p: round(100 * float(np.mean(geodesic_errors(A, p2p, truth, every))), 2)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    t0 = time.process_time(); m1 = shapecorr.match(A, B, second_model=None); c1 = time.process_time() - t0
    t0 = time.process_time(); m2 = shapecorr.match(A, B, feature_model="selfsup_general"); c2 = time.process_time() - t0
side = lambda m: {"init": m.info["init"], "error": err(m.p2p_21), "confidence": m.info["confidence"],
                  "low": m.info["confidence_low"], "disagreement": m.info.get("learned_disagreement")}
row = {"pair": "cat-00->lion-00", "first": side(m1), "second": side(m2),
       "agreement": round(maps_agreement(m1.p2p_21, m2.p2p_21, A.vertices / np.sqrt(A.area), DISAGREEMENT_RADIUS), 4),
       "second_runs": m1.info["confidence"] < 0.95, "cpu_s": [round(c1, 1), round(c2, 1)]}
print(json.dumps(row))
