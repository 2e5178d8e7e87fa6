"""The default on bent, remeshed copies of realworld models (NAME:EDGE_SCALE ...): confidence and vertex-map
error x100 per pair, one JSON line each. Run from the repository root:

    python docs/bench/flaws_cpu/open_sheets/sweep.py alligator:2.0 woody:0.5
"""
import sys, time, json, numpy as np, warnings; warnings.filterwarnings("ignore")
sys.path.insert(0, "scripts")
import eval_texture as et, shapecorr
from pathlib import Path
for arg in sys.argv[1:]:
    name, es = arg.split(":"); es = float(es)
    src = shapecorr.load(next(Path("../shared/data/realworld").glob(name + ".*")))
    try:
        tgt, gt = et.bent_remeshed_pair(src, 40.0, 0, es)
        t = time.time(); m = shapecorr.match(src, tgt); t = time.time() - t
    except Exception as e:
        print(json.dumps({"pair": arg, "error": repr(e)[:300]}), flush=True); continue
    pref = gt.points(src.vertices, src.faces)
    e = 100 * np.linalg.norm(src.vertices[m.p2p_21] - pref, axis=1) / np.sqrt(src.area)
    print(json.dumps({"pair": arg, "n": [src.n_vertices, tgt.n_vertices], "conf": m.info["confidence"],
                      "low": m.info["confidence_low"], "mean": round(float(e.mean()), 2), "median": round(float(np.median(e)), 2),
                      "init": m.info.get("init"), "t": round(t, 1)}), flush=True)
