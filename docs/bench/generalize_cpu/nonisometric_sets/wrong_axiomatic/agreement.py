"""Per candidate: fraction of target vertices whose image lies within r (unit-area shape, Euclidean)
of the learned candidate's image; and vs the learned features' nearest neighbour."""
import json, sys
from pathlib import Path
import numpy as np
import shapecorr
from shapecorr import pipeline
from shapecorr.config import load_preset

ds, diag, maps, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
s = load_preset("default")
P = {}
def prep(name):
    if name not in P:
        P[name] = pipeline.prepare(shapecorr.load(ds / f"{name}.off"), s)
    return P[name]
res = []
for line in open(diag):
    r = json.loads(line)
    a, b = r["source"], r["target"]
    z = np.load(maps / f"{a}__{b}.npz")
    V1 = prep(a).shape.vertices
    ref = z["c0_21"]  # the learned candidate is first
    rows = []
    for i, c in enumerate(r["candidates"]):
        d = np.linalg.norm(V1[z[f"c{i}_21"]] - V1[ref], axis=1)
        rows.append((c["init"], c["k_init"], c["confidence"], c["error"], round(float((d < 0.1).mean()), 3),
                     round(float((d < 0.2).mean()), 3), round(float(np.median(d)), 3), c["kept"]))
    res.append({"source": a, "target": b, "rows": rows})
    print(a, b); [print("   ", ("*" if x[-1] else " "), *x[:-1]) for x in rows]
    sys.stdout.flush()
json.dump(res, open(out, "w"))
