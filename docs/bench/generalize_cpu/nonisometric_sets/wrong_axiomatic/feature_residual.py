"""Per candidate: learned-feature residual (model features) vs error and confidence."""
import json, sys
from pathlib import Path
import numpy as np
import shapecorr
from shapecorr import pipeline
from shapecorr.config import load_preset
from shapecorr.fmap.confidence import descriptor_residual

ds, diag, maps = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
s = load_preset("default")
feats = {}
def F(name):
    if name not in feats:
        sh = shapecorr.load(ds / f"{name}.off")
        P = pipeline.prepare(sh, s)
        feats[name] = pipeline.shape_features(P, s.feature_model)
    return feats[name]
out = []
for line in open(diag):
    r = json.loads(line)
    a, b = r["source"], r["target"]
    z = np.load(maps / f"{a}__{b}.npz")
    f1, f2 = F(a), F(b)
    rows = []
    for i, c in enumerate(r["candidates"]):
        res, _ = descriptor_residual(z[f"c{i}_21"], f1, f2)
        rows.append((c["init"], c["k_init"], c["confidence"], c["error"], round(c["frac_nearer_sym"], 3), round(res, 3), c["kept"]))
    out.append({"source": a, "target": b, "rows": rows})
    print(f"{a} -> {b}")
    for row in rows:
        print("   ", ("*" if row[-1] else " "), *row[:-1])
    sys.stdout.flush()
json.dump(out, open(sys.argv[4], "w"))
