#!/usr/bin/env python
"""This run's rows (the axiomatic preset with the polish) against ../axiomatic_energy's (the same
preset and pairs before it), pair by pair: ``python summary.py`` from this folder."""

import json
import re
from glob import glob

import numpy as np


def rows(paths) -> dict:
    return {(r["source"], r["target"]): r for p in paths for r in map(json.loads, open(p))}


def line(name, d, keys) -> str:
    e = np.array([d[k]["error"] for k in keys])
    flips = sum(d[k]["frac_nearer_sym"] > 0.05 for k in keys)
    cpu = np.mean([d[k]["cpu_s"] for k in keys])
    return (f"{name:8s} {len(keys):3d} pairs: mean {e.mean():.2f} median {np.median(e):.2f} above 5 {int(np.sum(e > 5))} "
            f"flipped {flips}  CPU s {cpu:.1f}")


def main() -> None:
    old = rows(glob("../axiomatic_energy/test_*.jsonl"))
    for name, pat in (("FAUST_r", "faust_*.jsonl"), ("TOSCA_r", "tosca_*.jsonl")):
        new = rows(glob(pat))
        keys = [k for k in new if k in old]
        if not keys:
            continue
        print(line(f"{name} before", old, keys))
        print(line(f"{name} now", new, keys))
        d = np.array([new[k]["error"] - old[k]["error"] for k in keys])
        print(f"  better / worse by more than 0.05: {int(np.sum(d < -0.05))} / {int(np.sum(d > 0.05))}")
        if name == "TOSCA_r":
            for c in sorted({re.sub(r"\d+$", "", k[0]) for k in keys}):
                ck = [k for k in keys if re.sub(r"\d+$", "", k[0]) == c]
                print(f"  {c:9s} {len(ck):3d}: {np.mean([old[k]['error'] for k in ck]):.2f} -> "
                      f"{np.mean([new[k]['error'] for k in ck]):.2f} (median {np.median([old[k]['error'] for k in ck]):.2f} -> "
                      f"{np.median([new[k]['error'] for k in ck]):.2f})")


if __name__ == "__main__":
    main()
