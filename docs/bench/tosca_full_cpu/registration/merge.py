"""Merge the re-run TOSCA_r pairs (the default with the registration step) into the reference rows
of today's default (../../generalize_cpu/adapt_guides/tosca/rows.jsonl, 284 pairs).

Only pairs whose kept map is below register_below (0.95) can change. They were re-run:
``ours_1`` by scripts/bench_match.py (a first shard, whose list also held 10 pairs no longer below
0.95: these are controls), ``tosca_b``, ``tosca_c1`` and ``tosca_c2`` by scripts/bench_generalize.py (``tosca_b``
with one control). A control takes the same path as its reference run (no registration); it must
reproduce the reference error within 0.02, or the merge is refused. Not bit for bit: test-time
adaptation sums in a different order under another thread count (the shard ran with 1 thread).

    python docs/bench/tosca_full_cpu/registration/merge.py
    python scripts/bench_generalize.py --sets tosca --no-peer --render 0 --report-only --out docs/bench/tosca_full_cpu/registration/merged
"""
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REF = HERE.parents[1] / "generalize_cpu" / "adapt_guides" / "tosca" / "rows.jsonl"
FIELDS = ("mean_error_x100", "median_error_x100", "auc", "coverage_21", "coverage_12", "flipped", "flipped_whole",
          "frac_nearer_sym", "mean_error_sym_x100", "time_s")


def rows(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def reruns() -> dict:
    out = {}
    for r in json.loads((HERE / "ours_1" / "bench.json").read_text())["pairs"]["ours"]:
        out[(r["source"], r["target"])] = {**{k: r[k] for k in FIELDS}, "confidence": r["info"]["confidence"],
                                           "init": r["info"]["init"], "registration": r["info"].get("registration"),
                                           "cpu_s": None}
    for name in ("tosca_b", "tosca_c1", "tosca_c2"):
        f = HERE / name / "rows.jsonl"
        if f.exists():
            for r in rows(f):
                out[(r["source"], r["target"])] = r
    return out


def finish(here: Path, ref: list, merged: list, lines: list) -> None:
    """Add the before -> after summary (all pairs, per class) to ``lines``; write
    ``here/merged/rows.jsonl`` and ``here/merge.txt``; print the lines."""
    e0 = np.array([r["mean_error_x100"] for r in ref])
    e1 = np.array([r["mean_error_x100"] for r in merged])
    lines.append(f"all {len(ref)}: {e0.mean():.3f} / {np.median(e0):.3f} / {(e0 > 5).sum()} -> "
                 f"{e1.mean():.3f} / {np.median(e1):.3f} / {(e1 > 5).sum()}")
    for c in sorted({r["class"] for r in ref}):
        i = [k for k, r in enumerate(ref) if r["class"] == c]
        lines.append(f"  {c:9} {e0[i].mean():.2f} / {np.median(e0[i]):.2f} -> {e1[i].mean():.2f} / {np.median(e1[i]):.2f}")
    (here / "merged").mkdir(exist_ok=True)
    (here / "merged" / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in merged))
    (here / "merge.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    ref = [r for r in rows(REF) if r["method"].startswith("ours|default")]
    assert len(ref) == 284
    new = reruns()
    merged, lines, before, after = [], [], [], []
    for r in ref:
        key = (r["source"], r["target"])
        if key not in new:
            merged.append(r)
            continue
        n = new[key]
        if r["confidence"] >= 0.95:  # a control: the same path, the same map
            d = n["mean_error_x100"] - r["mean_error_x100"]
            assert abs(d) < 0.02, f"control {key} not reproduced ({d:+.4f})"
            lines.append(f"control {key[0]}->{key[1]}: {r['mean_error_x100']:.3f} reproduced ({d:+.4f})")
            merged.append(r)
            continue
        m = {**r, **{k: n[k] for k in FIELDS}, "confidence": n["confidence"], "init": n["init"], "rerun": True,
             "commit": n.get("commit", "registration step (bench_match shard)")}
        merged.append(m)
        before.append(r["mean_error_x100"])
        after.append(m["mean_error_x100"])
        lines.append(f"{r['class']:9} {key[0]}->{key[1]}: {r['mean_error_x100']:.2f} -> {m['mean_error_x100']:.2f} "
                     f"(confidence {r['confidence']:.3f} -> {m['confidence']:.3f})")
    low = [r for r in ref if r["confidence"] < 0.95]
    missing = [(r["source"], r["target"]) for r in low if (r["source"], r["target"]) not in new]
    b, a = np.array(before), np.array(after)
    lines.append(f"re-run pairs below 0.95: {len(b)} of {len(low)} (missing: {missing}); mean {b.mean():.3f} -> {a.mean():.3f}; "
                 f"better {(a < b - 0.05).sum()}, worse {(a > b + 0.05).sum()}")
    finish(HERE, ref, merged, lines)

if __name__ == "__main__":
    main()
