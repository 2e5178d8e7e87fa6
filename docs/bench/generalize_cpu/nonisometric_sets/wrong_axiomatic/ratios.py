"""Fallback candidates above confidence 0.3 from candidates_vs_learned.py's JSON: the feature
residual, its ratio to the learned map's, and the agreement with the learned map."""
import json
import sys

for f in sys.argv[1:]:
    print("==", f)
    for p in json.load(open(f)):
        base = p["rows"][0]["feature_residual"]
        for r in p["rows"]:
            if r["init"].endswith("fallback") and r["confidence"] > 0.3:
                print(f"{p['source']}->{p['target']} {r['init']:18s} k={r['k']} conf={r['confidence']:.3f} "
                      f"err={r['error']:6.2f} res={r['feature_residual']:.3f} ratio={r['feature_residual'] / base:.2f} "
                      f"agree={r['agree_0.1']:.2f}/{r['agree_0.2']:.2f} {'KEPT' if r['kept'] else ''}")
