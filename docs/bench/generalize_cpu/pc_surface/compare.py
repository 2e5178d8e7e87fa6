#!/usr/bin/env python
"""Tables of the point-cloud-through-a-surface study (issue 11) from the benchmark rows.

    python docs/bench/generalize_cpu/pc_surface/compare.py > docs/bench/generalize_cpu/pc_surface/tables.md

Per set and method: pairs, mean / median / pairs above 5 / flipped, median CPU s, and how many
pairs kept the map through the surfaces; each method only on the pairs every method of that
set ran (runs cut short are compared on what they share).
"""
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RUNS = {  # label: rows file
    "points, no guides (360d14c, pc_orient/after)": HERE.parent / "pc_orient" / "after" / "rows.jsonl",
    "surface, no guides": HERE / "test" / "rows.jsonl",
    "points + guides": HERE / "test_points_guides" / "rows.jsonl",
    "surface + guides (the default since e50eaf4)": HERE / "test_guides" / "rows.jsonl",
    "resampled": HERE / "resampled" / "rows.jsonl",
}


def rows_of(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = {}
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            out[(r["set"], r["method"], r["source"], r["target"])] = r
    return list(out.values())


def main() -> None:
    rows = []
    for label, path in RUNS.items():
        for r in rows_of(path):
            r["run"] = label if label != "resampled" else r["label"]
            rows.append(r)
    print("Every method on the pairs all of them ran:\n")
    table(rows)
    print("\nWithout the points + guides run (on more pairs):\n")
    table([r for r in rows if r["run"] != "points + guides"])


def table(rows: list[dict]) -> None:
    print("| set | method | pairs | mean | median | above 5 | flipped | surface kept | median CPU s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for s in sorted({r["set"] for r in rows}):
        by_run = {}
        for r in rows:
            if r["set"] == s:
                by_run.setdefault(r["run"], {})[(r["source"], r["target"])] = r
        if len(by_run) < 2:
            continue
        shared = set.intersection(*(set(v) for v in by_run.values()))
        for run, per in by_run.items():
            rs = [per[p] for p in sorted(shared)]
            e = np.array([r["mean_error_x100"] for r in rs])
            flips = sum(bool(r.get("flipped")) for r in rs)
            kept = sum(bool(r.get("reconstructed") and any(r["reconstructed"])) for r in rs)
            cpu = np.median([r["cpu_s"] for r in rs])
            print(f"| {s} | {run} | {len(rs)} | {e.mean():.2f} | {np.median(e):.2f} | {(e > 5).sum()} | {flips} "
                  f"| {kept if 'surface' in run or 'poisson' in run else '–'} | {cpu:.1f} |")


if __name__ == "__main__":
    main()
