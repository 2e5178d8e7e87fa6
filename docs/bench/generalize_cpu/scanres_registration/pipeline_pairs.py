"""python pipeline_pairs.py DATASET PRESET SOURCE:TARGET ... (from the repository root; PRESET
"default" or a preset file): the whole matcher on listed pairs of a remeshed set, one JSON row
each with the error x100 on 300 ground-truth points (as pairs_variants.py), the confidence, the
wall time and Match.info["registration"] (whether it ran, was kept, its confidence before and
after)."""
import sys, warnings, json, time
from pathlib import Path
import numpy as np, shapecorr
from shapecorr import load
from shapecorr.eval import Dataset, PairEvaluator
data = Path(sys.argv[1]); ds = Dataset(data); ev = PairEvaluator(ds, points=300, dense_max=0)
preset = None if sys.argv[2] == 'default' else sys.argv[2]
for pair in sys.argv[3:]:
    a, b = pair.split(':')
    t0 = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        m = shapecorr.match(load(ds.shape_path(a)), load(ds.shape_path(b)), preset)
    e = ev.evaluate(a, b, m.p2p_21)[0]['mean_error_x100']
    print(json.dumps({"pair": pair, "error": round(e, 2), "confidence": round(float(m.confidence), 3),
                      "seconds": round(time.time() - t0, 1), "registration": m.info.get("registration")}), flush=True)
