#!/usr/bin/env python
"""Per-class tables of a ``scripts/bench_match.py`` run (complete or not): for each method and each
class (a shape's name without its trailing number: ``cat4`` -> ``cat``), pairs, mean and median of
the per-pair mean errors (x100) and pairs above 5; the same for the pairs of two odd-numbered shapes
(the shapes no bundled model was trained on); only the pairs every method finished are counted.

Several runs can be merged, e.g. shards of one run, or a deterministic peer's rows taken from
earlier runs: ``PATH:METHOD[,METHOD]`` takes only those methods' rows from that file. A pair that
two files give for the same method must have the same error (else it is an error: two runs of
different code are not merged silently).

    python scripts/bench_classes.py docs/bench/tosca_full_cpu/bench.json [--out classes.md]
    python scripts/bench_classes.py run2/ours_1/bench.json run2/ours_2/bench.json \
        run2/pyfmaps_1/bench.json tosca_cpu/bench.json:pyfmaps --expect 284
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


class MergeError(ValueError):
    """Two runs give one method different errors on the same pair."""


def parse_source(text: str) -> tuple[Path, set[str] | None]:
    """``PATH`` or ``PATH:m1,m2`` -> (path, methods to take or None for all)."""
    path, sep, methods = text.rpartition(":")
    if sep and methods and not methods.endswith(".json") and "/" not in methods:
        return Path(path), {m.strip() for m in methods.split(",") if m.strip()}
    return Path(text), None


def merge_runs(runs: list[tuple[str, dict, set[str] | None]], tol: float = 1e-9) -> dict[str, list[dict]]:
    """Each method's rows from several ``bench.json`` contents, one row per (source, target).

    ``runs``: (label, data, methods or None). A pair twice for one method must agree on
    ``mean_error_x100`` within ``tol``; it is kept once.
    """
    merged: dict[str, dict[tuple, dict]] = {}
    origin: dict[tuple, str] = {}
    for label, data, methods in runs:
        for m, rows in (data.get("pairs") or {}).items():
            if methods is not None and m not in methods:
                continue
            keyed = merged.setdefault(m, {})
            for r in rows:
                k = (r["source"], r["target"])
                if k in keyed:
                    a, b = keyed[k]["mean_error_x100"], r["mean_error_x100"]
                    if abs(a - b) > tol:
                        raise MergeError(f"{m} {k[0]} -> {k[1]}: {a:.4f} in {origin[(m, *k)]} but "
                                         f"{b:.4f} in {label}; take that method from one of them only "
                                         f"(PATH:METHOD)")
                    continue
                keyed[k] = r
                origin[(m, *k)] = label
    return {m: list(rows.values()) for m, rows in merged.items()}


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
    ap.add_argument("bench", nargs="+", help="bench.json of scripts/bench_match.py, or PATH:METHOD[,METHOD]")
    ap.add_argument("--expect", type=int, help="number of pairs the merged runs should cover (default: "
                    "the single file's n_pairs)")
    ap.add_argument("--out", type=Path, help="write the markdown here too")
    args = ap.parse_args(argv)
    runs = []
    for text in args.bench:
        path, methods = parse_source(text)
        if not path.is_file():
            ap.error(f"{path}: no such file")
        runs.append((str(path), json.loads(path.read_text()), methods))
    try:
        rows = common_rows(merge_runs(runs))
    except MergeError as exc:
        print(f"bench_classes: error: {exc}", file=sys.stderr)
        return 2
    n = len(next(iter(rows.values()))) if rows else 0
    if len(runs) == 1:
        data = runs[0][1]
        total = args.expect or data.get("n_pairs")
        state = "complete" if data.get("complete") and n == total else "partial"
        head = f"{args.bench[0]}: {n} of {total} pairs ({state}); {data.get('pairs_source', '')}"
    else:
        total = args.expect
        state = "" if total is None else (" (complete)" if n == total else " (partial)")
        head = (f"{len(runs)} runs merged: {n}{'' if total is None else f' of {total}'} pairs{state}; "
                + "; ".join(f"{p}{'' if ms is None else ' (' + ','.join(sorted(ms)) + ')'}" for p, _, ms in runs))
    text = (head + "\n\n"
            + markdown(class_table(rows), "All pairs") + "\n"
            + markdown(class_table(rows, both_odd), "Pairs of two odd-numbered shapes (never trained on)"))
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
