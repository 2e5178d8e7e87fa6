"""Mean / median / above 5 / flipped of the axiomatic preset's kept map per set and energy.
    python docs/bench/axiomatic_energy/summary.py"""
import json
from pathlib import Path
import numpy as np
here = Path(__file__).resolve().parent
for f in sorted(here.glob('screen_*.jsonl')):
    rows = [json.loads(l) for l in open(f)]
    e = np.array([r['error'] for r in rows]); flips = sum(r['frac_nearer_sym'] > 0.05 for r in rows)
    cpu = np.mean([r['cpu_s'] for r in rows])
    print(f"{f.stem[7:]:34} {len(rows):3d} pairs: {e.mean():6.2f} / {np.median(e):5.2f} / {(e > 5).sum():2d} above 5, "
          f"{flips:2d} flipped, {cpu:.1f} s CPU")
