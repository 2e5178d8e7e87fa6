"""Every candidate of a diag_candidates.py run against the learned features and the learned map.

For each pair (maps saved with ``--save-maps``), each candidate's row gets:
- ``feature_residual``: how far the model's learned features of matched points are apart,
  relative to random pairs (the confidence's ``descriptor_residual`` with the learned features);
- ``agree_0.1`` / ``agree_0.2``: the fraction of target vertices whose image lies within 0.1 / 0.2
  (unit-area shapes, Euclidean) of the learned candidate's image (the first candidate).

    python candidates_vs_learned.py DATASET DIAG.jsonl MAPS_DIR OUT.json > OUT.txt
"""
import json
import sys
from pathlib import Path

import numpy as np

import shapecorr
from shapecorr import pipeline
from shapecorr.config import load_preset
from shapecorr.fmap.confidence import descriptor_residual


def main(ds: Path, diag: Path, maps: Path, out: str) -> None:
    s = load_preset("default")
    prepared, feats = {}, {}

    def shape(name):
        if name not in prepared:
            prepared[name] = pipeline.prepare(shapecorr.load(ds / f"{name}.off"), s)
            feats[name] = pipeline.shape_features(prepared[name], s.feature_model)
        return prepared[name], feats[name]

    result = []
    for line in open(diag):
        r = json.loads(line)
        a, b = r["source"], r["target"]
        z = np.load(maps / f"{a}__{b}.npz")
        (P1, f1), (_, f2) = shape(a), shape(b)
        V1, learned = P1.shape.vertices, z["c0_21"]
        rows = []
        for i, c in enumerate(r["candidates"]):
            p2p = z[f"c{i}_21"]
            d = np.linalg.norm(V1[p2p] - V1[learned], axis=1)
            rows.append({"init": c["init"], "k": c["k_init"], "confidence": c["confidence"], "error": c["error"],
                         "sym": round(c["frac_nearer_sym"], 3), "feature_residual": round(descriptor_residual(p2p, f1, f2)[0], 3),
                         "agree_0.1": round(float((d < 0.1).mean()), 3), "agree_0.2": round(float((d < 0.2).mean()), 3),
                         "kept": c["kept"]})
        result.append({"source": a, "target": b, "rows": rows})
        print(f"{a} -> {b}")
        for x in rows:
            print("   ", "*" if x["kept"] else " ", *(x[k] for k in list(x)[:-1]))
        sys.stdout.flush()
    json.dump(result, open(out, "w"))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])
