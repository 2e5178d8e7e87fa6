"""python summarize.py FILE.txt ... (variants.py outputs): per file, the mean error of each
column over the pairs, and how many pairs each variant makes better / worse than rt0 (the
registration as it was) by more than 0.05."""
import sys

import numpy as np

for path in sys.argv[1:]:
    cols = {}
    for line in open(path):
        words = line.split()
        values = words[words.index("noreg"):]
        for name, v in zip(values[::2], values[1::2]):
            cols.setdefault(name, []).append(float(v))
    base = np.array(cols["rt0"])
    parts = []
    for name, v in cols.items():
        v = np.array(v)
        parts.append(f"{name} {v.mean():.2f} ({(v < base - 0.05).sum()}+/{(v > base + 0.05).sum()}-)")
    print(f"{path} ({len(base)} pairs): " + ", ".join(parts))
