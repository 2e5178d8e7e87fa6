#!/usr/bin/env python
"""Pair by pair, a new run's rows against an earlier run's (``bench_prior.py --zeroshot`` rows, the
``preset_run`` variant): ``python paired.py NEW_ROWS.jsonl ... --before OLD_ROWS.jsonl ...``.
Prints both means / medians / pairs above 5 / flips over the pairs both have, and the pairs that
moved by more than 1."""

import argparse
import json

import numpy as np


def rows(paths) -> dict:
    out = {}
    for p in paths:
        for line in open(p):
            r = json.loads(line)
            if r.get("variant", "preset_run") == "preset_run":
                out[(r["source"], r["target"])] = r
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("new", nargs="+")
    ap.add_argument("--before", nargs="+", required=True)
    a = ap.parse_args(argv)
    new, old = rows(a.new), rows(a.before)
    both = [k for k in new if k in old]
    for name, d in (("before", old), ("now", new)):
        e = np.array([d[k]["error"] for k in both])
        cpu = np.array([d[k].get("cpu_s", np.nan) for k in both])
        print(f"{name:7s} {len(both)} pairs: mean {e.mean():.3f} median {np.median(e):.3f} above 5 {int(np.sum(e > 5))} "
              f"flips {sum(bool(d[k].get('flipped')) for k in both)}  CPU s mean {np.nanmean(cpu):.1f} max {np.nanmax(cpu):.1f}")
    diff = np.array([new[k]["error"] - old[k]["error"] for k in both])
    print(f"better / worse by more than 0.05: {int(np.sum(diff < -0.05))} / {int(np.sum(diff > 0.05))}")
    for k in both:
        if abs(new[k]["error"] - old[k]["error"]) > 1:
            print(f"  {k[0]} -> {k[1]}: {old[k]['error']:.2f} ({old[k]['confidence']}) -> {new[k]['error']:.2f} "
                  f"({new[k]['confidence']}) {old[k].get('init')} -> {new[k].get('init')}")


if __name__ == "__main__":
    main()
