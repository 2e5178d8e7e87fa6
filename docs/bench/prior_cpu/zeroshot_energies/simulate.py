"""The zero-shot preset with the second fallback energy, from its test rows and the screen.

The preset's axiomatic candidates always run (fallback_below 1.0); with both energies the new
candidates (`run.sh`: pyFM's energy) join the old ones and the most trusted map of all is kept, so
each row's kept map stays unless a new candidate is more trusted: exact, with no re-run.
    python docs/bench/prior_cpu/zeroshot_energies/simulate.py"""
import json
from pathlib import Path
import numpy as np
here = Path(__file__).resolve().parent
rows = {}
for f in sorted((here.parent / 'zeroshot_test_solves').glob('rows_*.jsonl')):
    for r in map(json.loads, open(f)):
        if r['variant'] == 'preset_run':
            rows[(r['set'], r['source'], r['target'])] = r
for s in ('faust', 'tosca'):
    screen = {(d['source'], d['target']): d for d in map(json.loads, open(here / f'screen_{s}.jsonl'))}
    keys = [k for k in rows if k[0] == s and k[1:] in screen]
    old, new, flips_old, flips_new = [], [], 0, 0
    for k in keys:
        r, d = rows[k], screen[k[1:]]
        best = max(d['candidates'], key=lambda c: c['confidence'])
        err, flip = (best['error'], best['frac_nearer_sym'] > 0.05) if best['confidence'] > r['confidence'] else (r['error'], r['flipped'])
        old.append(r['error']); new.append(err); flips_old += r['flipped']; flips_new += flip
        if abs(err - r['error']) > 0.05:
            print(f"  {k[1]}->{k[2]}: {r['error']:.2f} ({r['confidence']:.2f} {r['init']}) -> {err:.2f} ({best['confidence']:.2f})")
    o, n = np.array(old), np.array(new)
    print(f"{s}: {len(keys)} pairs: {o.mean():.2f} ({np.median(o):.2f}), {flips_old} flips, {(o > 5).sum()} >5 -> "
          f"{n.mean():.2f} ({np.median(n):.2f}), {flips_new} flips, {(n > 5).sum()} >5")
