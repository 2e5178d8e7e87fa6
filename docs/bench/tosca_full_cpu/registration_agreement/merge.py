"""TOSCA_r's 284 rows with the registration also run where the learned features agree with the kept
map on fewer than 75 % of the target vertices (``register_agreement_below: 0.75``), made from the
rows of the registration step for low-confidence maps (``../registration/merged/rows.jsonl``).

Only a pair the polish ran on (agreement below 0.75: ``polished``) whose map was at 0.95 or more
(not registered by the first step, which read the confidence of
``../../generalize_cpu/adapt_guides/tosca/rows.jsonl``) can change; those were re-run by ``scripts/bench_generalize.py --pairs``,
with two pairs that were neither (controls: they must reproduce their reference error exactly).

    python docs/bench/tosca_full_cpu/registration_agreement/merge.py OUT/tosca_1/rows.jsonl OUT/tosca_2/rows.jsonl
    python scripts/bench_generalize.py --sets tosca --no-peer --render 0 --report-only --out docs/bench/tosca_full_cpu/registration_agreement/merged
"""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REF = HERE.parent / "registration" / "merged" / "rows.jsonl"
BEFORE = HERE.parents[1] / "generalize_cpu" / "adapt_guides" / "tosca" / "rows.jsonl"  # before any registration


def _first_step():
    """The first step's merge script (its summary and writing are shared)."""
    spec = importlib.util.spec_from_file_location("registration_merge", HERE.parent / "registration" / "merge.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rows(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def main(paths):
    ref = rows(REF)
    new = {(r["source"], r["target"]): r for p in paths for r in rows(p)}
    # the confidence that decided the first registration step is the one before it
    todo = {(r["source"], r["target"]) for r in rows(BEFORE)
            if r["method"].startswith("ours|default") and r.get("polished") and r["confidence"] >= 0.95}
    merged, lines, before, after = [], [], [], []
    for r in ref:
        key = (r["source"], r["target"])
        n = new.get(key)
        if n is None:
            merged.append(r)
            continue
        if key not in todo:
            d = n["mean_error_x100"] - r["mean_error_x100"]
            assert abs(d) < 1e-9, f"control {key} not reproduced ({d:+.4f})"
            lines.append(f"control {key[0]}->{key[1]}: {r['mean_error_x100']:.3f} reproduced")
            merged.append(r)
            continue
        merged.append({**r, **n, "method": r["method"], "label": r["label"], "rerun": True})
        before.append(r["mean_error_x100"])
        after.append(n["mean_error_x100"])
        reg = n.get("registration") or {}
        lines.append(f"{r['class']:9} {key[0]}->{key[1]}: {r['mean_error_x100']:.2f} -> {n['mean_error_x100']:.2f} "
                     f"(confidence {r['confidence']:.3f} -> {n['confidence']:.3f}; registered: {reg.get('why')}, "
                     f"kept {reg.get('kept')}, {reg.get('time_s')} s)")
    missing = sorted(todo - set(new))
    b, a = np.array(before), np.array(after)
    lines.append(f"re-run pairs: {len(b)} of {len(todo)} (missing: {missing}); mean {b.mean():.3f} -> {a.mean():.3f}; "
                 f"better {(a < b - 0.05).sum()}, worse {(a > b + 0.05).sum()} (by more than 0.05)")
    _first_step().finish(HERE, ref, merged, lines)

if __name__ == "__main__":
    main(sys.argv[1:])
