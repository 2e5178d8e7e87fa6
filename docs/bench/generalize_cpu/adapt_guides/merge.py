#!/usr/bin/env python
"""A full set's rows with the adapted map guided by the adapted features (issue 11), made from the
default's earlier full run (``--reference``, the third model, unguided adaptation) and a re-run of
only the pairs whose adaptation ran there (``--rerun``: ``scripts/bench_generalize.py --pairs``).

The change touches only the adapted candidate, and whether adaptation runs is decided on the
learned map alone, so a pair whose adaptation did not run gives the same map: such pairs in the
re-run (controls) must reproduce the reference's error exactly, or the merge is refused. The
merged rows go to ``--out``/rows.jsonl (then ``bench_generalize.py --report-only`` writes the
set's summary, per class); each re-run pair's before -> after is printed and written to
``--out``/changes.jsonl (``plot.py`` draws them).

    python docs/bench/generalize_cpu/adapt_guides/merge.py \
        --reference docs/bench/generalize_cpu/reproduced_model/tosca/rows.jsonl \
        --rerun out/adg/tosca_a/rows.jsonl out/adg/tosca_b/rows.jsonl --out docs/bench/generalize_cpu/adapt_guides/tosca
"""
import argparse
import json
import statistics
from pathlib import Path

METHOD, LABEL = "ours|default|preset-models|preset", "ours default"  # as bench_generalize.py --report-only reads them


def read(paths) -> dict:
    out = {}
    for path in paths:
        for line in Path(path).read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                if r["method"].startswith("ours"):
                    out[(r["set"], r["source"], r["target"])] = r
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", nargs="+", required=True)
    ap.add_argument("--rerun", nargs="+", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--margin", type=float, default=0.05)
    a = ap.parse_args(argv)
    ref, new = read(a.reference), read(a.rerun)
    missing = [k for k in new if k not in ref]
    if missing:
        raise SystemExit(f"re-run pairs not in the reference: {missing[:5]}")
    adapted = [k for k, r in ref.items() if r.get("adapted")]
    for k in new:
        if not ref[k].get("adapted") and abs(new[k]["mean_error_x100"] - ref[k]["mean_error_x100"]) > 1e-9:
            raise SystemExit(f"control pair {k} (not adapted in the reference) changed: "
                             f"{ref[k]['mean_error_x100']} -> {new[k]['mean_error_x100']}; not the same code otherwise")
    todo = [k for k in adapted if k not in new]
    print(f"{len(ref)} reference pairs, {len(adapted)} adapted there, {len(adapted) - len(todo)} re-run, "
          f"{sum(not ref[k].get('adapted') for k in new)} controls reproduced"
          + (f"; NOT re-run yet: {len(todo)}" if todo else ""))
    a.out.mkdir(parents=True, exist_ok=True)
    with open(a.out / "rows.jsonl", "w") as fh:
        for k, r in ref.items():
            row = dict(new.get(k, r), method=METHOD, label=LABEL, rerun=k in new)
            fh.write(json.dumps(row) + "\n")
    before, after = [], []
    changes = open(a.out / "changes.jsonl", "w")  # each re-run adapted pair, before and after (plot.py)
    for k in adapted:
        if k in new:
            b, n = ref[k], new[k]
            before.append(b["mean_error_x100"]), after.append(n["mean_error_x100"])
            changes.write(json.dumps({"set": k[0], "source": k[1], "target": k[2], "before": b["mean_error_x100"],
                                      "after": n["mean_error_x100"], "init_before": b["init"], "init_after": n["init"],
                                      "confidence_before": b["confidence"], "confidence_after": n["confidence"]}) + "\n")
            print(f"{k[1]:>12} -> {k[2]:<12} {b['mean_error_x100']:6.2f} ({b['init']}) -> {n['mean_error_x100']:6.2f} "
                  f"({n['init']}, confidence {b['confidence']:.2f} -> {n['confidence']:.2f})")
    if before:
        better = sum(n < b - a.margin for b, n in zip(before, after))
        worse = sum(n > b + a.margin for b, n in zip(before, after))
        print(f"re-run adapted pairs: mean {statistics.fmean(before):.3f} -> {statistics.fmean(after):.3f}, "
              f"median {statistics.median(before):.3f} -> {statistics.median(after):.3f}, "
              f"above 5: {sum(e > 5 for e in before)} -> {sum(e > 5 for e in after)}; "
              f"better / worse by > {a.margin}: {better} / {worse}")


if __name__ == "__main__":
    main()
