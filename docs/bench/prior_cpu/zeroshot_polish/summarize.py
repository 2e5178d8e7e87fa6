#!/usr/bin/env python
"""Mean / median / pairs above 5 of each column of screen.py's rows: ``python summarize.py ROWS.jsonl ...``."""

import json
import sys

import numpy as np


def main(paths) -> None:
    rows = [json.loads(line) for p in paths for line in open(p) if line.strip()]
    cols = ["shipped"] + sorted(k for k in rows[0] if k.startswith("k"))
    print(f"{len(rows)} pairs")
    for c in cols:
        e = np.array([r["error"] if c == "shipped" else r[c]["error"] for r in rows])
        conf = np.array([r["confidence"] if c == "shipped" else r[c]["confidence"] for r in rows])
        base = np.array([r["error"] for r in rows])
        better, worse = int(np.sum(e < base - 0.05)), int(np.sum(e > base + 0.05))
        print(f"{c:12s} mean {e.mean():.3f}  median {np.median(e):.3f}  >5 {int(np.sum(e > 5))}  "
              f"better/worse {better}/{worse}  untrusted(<0.586) {int(np.sum(conf < 0.586))}")


if __name__ == "__main__":
    main(sys.argv[1:])
