#!/usr/bin/env python
"""Merge the bench.json of several ``scripts/bench_match.py`` runs over disjoint pairs (shards of one
pair list, run at once on a loaded machine) into one output folder, as one run would have written it:
bench.json, bench_results.md, pairs.csv and pck.png.

The pointwise PCK of the union is the average of the shards' PCK curves weighted by their number of
ground-truth points (each shard's curve is pooled over its points), so it is exact; every other
figure is recomputed from the per-pair rows. A shard that is not complete contributes the pairs it
finished (its curve then covers those pairs exactly, as bench.json is rewritten after every pair).

    python scripts/merge_bench.py OUT SHARD_DIR [SHARD_DIR ...] [--first N]   # N: pairs of the first shard kept
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def merged_summary(rows: list[dict], shards: list[tuple[list[dict], dict]], method: str) -> dict:
    """The summary of ``rows`` (all shards' rows of ``method``), with the PCK pooled over points."""
    from shapecorr.eval.metrics import summarize_rows

    thresholds = np.asarray(shards[0][1]["pck"]["thresholds"], dtype=np.float64)
    weights = np.array([sum(r["n_points"] for r in rs) for rs, _ in shards], dtype=np.float64)
    pck = sum(w * np.asarray(s["pck"]["values"], dtype=np.float64) for w, (_, s) in zip(weights, shards)) / weights.sum()
    t = np.array([r["time_s"] for r in rows])
    out = {
        **summarize_rows(rows, thresholds, pck),
        "pointwise_median_error_x100": None,  # needs the points' errors, which bench.json does not keep
        "time_cold_median_s": float(np.median(t)),
        "time_cold_mean_s": float(t.mean()),
        "pck": {"thresholds": thresholds.tolist(), "values": pck.tolist()},
    }
    out["auc_0.25"] = out["auc"]
    if method == "ours":
        tw = [r["time_warm_s"] for r in rows if r.get("time_warm_s") is not None]
        out["time_warm_median_s"] = float(np.median(tw)) if tw else None
        stages: dict[str, list] = {}
        for r in rows:
            for k, v in (r.get("timings") or {}).items():
                stages.setdefault(k, []).append(v)
        out["stage_median_s"] = {k: float(np.median(v)) for k, v in stages.items()}
    return out


def main() -> int:
    from bench_match import LABELS, markdown, write_json, write_pairs_csv
    from shapecorr.eval import plot_pck

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("shards", type=Path, nargs="+")
    ap.add_argument("--first", type=int, help="keep only the first N pairs of the first shard (its PCK must "
                                               "then be of exactly those pairs: the run stopped after N)")
    args = ap.parse_args()
    results = [json.loads((d / "bench.json").read_text()) for d in args.shards]
    methods = list(results[0]["methods"])
    if args.first is not None:
        for m in methods:
            n = results[0]["summary"][m]["n_pairs"]
            if n != args.first:
                raise SystemExit(f"merge_bench: the first shard has {n} pairs of {m}, not --first {args.first}")
    merged = dict(results[0])
    merged["shards"] = [{"folder": str(d), "command": r["command"], "pairs_source": r["pairs_source"],
                         "n_pairs": r["summary"][methods[0]]["n_pairs"], "complete": r["complete"],
                         "wall_time_s": r.get("wall_time_s")} for d, r in zip(args.shards, results)]
    merged["pairs"] = {m: [row for r in results for row in r["pairs"][m]] for m in methods}
    merged["summary"] = {m: merged_summary(merged["pairs"][m], [(r["pairs"][m], r["summary"][m]) for r in results], m)
                         for m in methods}
    merged["n_pairs"] = len(merged["pairs"][methods[0]])
    merged["complete"] = all(r["complete"] for r in results[1:])
    merged["pairs_source"] = " + ".join(s["pairs_source"] for s in merged["shards"])
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "bench.json", merged)
    write_pairs_csv(args.out / "pairs.csv", {m: merged["pairs"][m] for m in methods})
    s = merged["summary"]
    plot_pck({LABELS[m]: (np.asarray(s[m]["pck"]["thresholds"]), np.asarray(s[m]["pck"]["values"]))
              for m in methods}, args.out / "pck.png", x_max=0.1,
             title=f"{Path(merged['dataset']).parent.name}/{Path(merged['dataset']).name}: {merged['n_pairs']} pairs")
    command = " && ".join(sh["command"] for sh in merged["shards"]) + " && python scripts/merge_bench.py " + \
        " ".join(sys.argv[1:])
    (args.out / "bench_results.md").write_text(markdown(merged, None, merged["machine"], command))
    print(f"merged {merged['n_pairs']} pairs into {args.out}: " + ", ".join(
        f"{m} {s[m]['mean_error_x100']:.2f} mean" for m in methods))
    return 0


if __name__ == "__main__":
    sys.exit(main())
