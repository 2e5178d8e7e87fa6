#!/usr/bin/env python
"""The features alone, without the matcher (no ZoomOut, no axiomatic fallback): for each pair of
the benchmark's held-out TOSCA_r pairs (rows.jsonl, set tosca) and pyFM's cat/lion, every
ground-truth point of the target goes to the source vertex with the nearest feature; mean
Euclidean distance to the true vertex on the unit-area source, x100
(shapecorr.learn.train.feature_match_distance, the validation measure of train_features).

    python docs/bench/generalize_cpu/nonisometric/feature_nn.py OLD.npz NEW.npz
"""
import json
import re
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
sys.path.insert(0, str(ROOT))
from shapecorr.core import ShapecorrWarning  # noqa: E402
from shapecorr.learn import FeatureModel, FeatureNetConfig  # noqa: E402
from shapecorr.learn.train import feature_match_distance, load_training_shapes  # noqa: E402

warnings.filterwarnings("ignore", category=ShapecorrWarning)
rows = [json.loads(line) for line in (HERE / "rows.jsonl").read_text().splitlines()]
tosca_pairs = sorted({(r["source"], r["target"]) for r in rows if r["set"] == "tosca"})
names = sorted({n for p in tosca_pairs for n in p})
tosca = load_training_shapes(ROOT.parent / "shared" / "data" / "TOSCA_r" / "TOSCA_Isometric" / "vtx_5k", names,
                             FeatureNetConfig(), progress=False)
catlion = load_training_shapes(ROOT / "out" / "nonisometric" / "work" / "pyfm_catlion", ["cat-00", "lion-00"],
                               FeatureNetConfig(), progress=False)
index = {s.name: i for i, s in enumerate(tosca)}
for m in sys.argv[1:]:
    model = FeatureModel.load(m)
    per_class = {}
    for a, b in tosca_pairs:
        per_class.setdefault(re.sub(r"\d+$", "", a), []).append(
            feature_match_distance(model, tosca, [(index[a], index[b])]))
    out = {"model": m, "catlion": round(feature_match_distance(model, catlion, [(0, 1)]), 2),
           "lioncat": round(feature_match_distance(model, catlion, [(1, 0)]), 2),
           "tosca_mean": round(sum(sum(v) for v in per_class.values()) / len(tosca_pairs), 2)}
    out |= {c: round(sum(v) / len(v), 2) for c, v in sorted(per_class.items())}
    print(json.dumps(out), flush=True)
