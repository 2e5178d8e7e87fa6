#!/usr/bin/env python
"""Per-class tables of a ``scripts/bench_match.py`` run (complete or not): for each method and each
class (a shape's name without its trailing number: ``cat4`` -> ``cat``), pairs, mean and median of
the per-pair mean errors (x100) and pairs above 5; the same for the pairs of two odd-numbered shapes
(the shapes no bundled model was trained on); only the pairs every method finished are counted.

    python scripts/bench_classes.py docs/bench/tosca_full_cpu/bench.json [--out classes.md]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

_NAME = re.compile(r"^(.*?)(\d+)$")


def shape_class(name: str) -> str:
    """The class of a shape name: the name without its trailing number."""
    m = _NAME.match(name)
    return m.group(1) if m else name


def shape_number(name: str) -> int | None:
    m = _NAME.match(name)
    return int(m.group(2)) if m else None


def both_odd(a: str, b: str) -> bool:
    na, nb = shape_number(a), shape_number(b)
    return na is not None and nb is not None and na % 2 == 1 and nb % 2 == 1


def common_rows(pairs: dict[str, list[dict]]) -> dict[str, dict[tuple, dict]]:
    """Each method's rows keyed by (source, target), restricted to the pairs all methods finished."""
    keyed = {m: {(r["source"], r["target"]): r for r in rows} for m, rows in pairs.items()}
    shared = set.intersection(*(set(k) for k in keyed.values())) if keyed else set()
    return {m: {k: v for k, v in rows.items() if k in shared} for m, rows in keyed.items()}


def stats(errors: list[float], above: float = 5.0) -> dict:
    e = np.asarray(errors, dtype=np.float64)
    if not len(e):
        return {"n": 0, "mean": None, "median": None, "above": 0}
    return {"n": int(len(e)), "mean": float(e.mean()), "median": float(np.median(e)), "above": int((e > above).sum())}


def class_table(rows: dict[str, dict[tuple, dict]], select=lambda a, b: True) -> dict[str, dict[str, dict]]:
    """``{group: {method: stats}}`` for every class and ``all``, over the pairs ``select`` keeps."""
    out: dict[str, dict[str, dict]] = {}
    methods = list(rows)
    keys = sorted(k for k in (next(iter(rows.values())) if rows else {}) if select(*k))
    groups = {"all": keys}
    for k in keys:
        groups.setdefault(shape_class(k[0]), []).append(k)
    for g, ks in sorted(groups.items(), key=lambda kv: (kv[0] == "all", kv[0])):
        out[g] = {m: stats([rows[m][k]["mean_error_x100"] for k in ks]) for m in methods}
    return out


def markdown(table: dict[str, dict[str, dict]], title: str) -> str:
    methods = list(next(iter(table.values()))) if table else []
    head = "| class | pairs | " + " | ".join(f"{m}: mean / median / > 5" for m in methods) + " |"
    lines = [f"**{title}**", "", head, "|" + "---|" * (2 + len(methods))]
    for g, per in table.items():
        n = next(iter(per.values()))["n"]
        cells = []
        for m in methods:
            s = per[m]
            cells.append("–" if not s["n"] else f"{s['mean']:.2f} / {s['median']:.2f} / {s['above']}")
        lines.append(f"| {g} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bench", type=Path, help="bench.json of scripts/bench_match.py")
    ap.add_argument("--out", type=Path, help="write the markdown here too")
    args = ap.parse_args(argv)
    data = json.loads(args.bench.read_text())
    rows = common_rows(data.get("pairs", {}))
    n = len(next(iter(rows.values()))) if rows else 0
    state = "complete" if data.get("complete") else "partial"
    text = (f"{args.bench}: {n} of {data.get('n_pairs')} pairs ({state}); {data.get('pairs_source', '')}\n\n"
            + markdown(class_table(rows), "All pairs") + "\n"
            + markdown(class_table(rows, both_odd), "Pairs of two odd-numbered shapes (never trained on)"))
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
