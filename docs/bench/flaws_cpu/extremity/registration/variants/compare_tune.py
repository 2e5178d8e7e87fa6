"""python compare_tune.py BASE.jsonl VARIANT.jsonl ... (register_polish/run.py rows).

Mean / median / above 5 of the registered maps of each file on the pairs all files share, and
per variant how many pairs are better / worse than BASE by more than 0.05."""
import json
import sys

import numpy as np


def rows(path):
    return {r["pair"]: r for r in map(json.loads, open(path))}


files = [rows(p) for p in sys.argv[1:]]
shared = sorted(set.intersection(*(set(f) for f in files)))
base = np.array([files[0][p]["register"] for p in shared])
default = np.array([files[0][p]["default"] for p in shared])
print(f"{len(shared)} pairs; unregistered {default.mean():.2f} / {np.median(default):.2f} / {(default > 5).sum()}")
for path, f in zip(sys.argv[1:], files):
    e = np.array([f[p]["register"] for p in shared])
    print(f"{path}: {e.mean():.2f} / {np.median(e):.2f} / {(e > 5).sum()}; vs base better {(e < base - 0.05).sum()}, "
          f"worse {(e > base + 0.05).sum()}")
