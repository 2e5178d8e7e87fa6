"""The axiomatic preset with several energies' candidates (each energy's loop as screened; the most
trusted map of all kept), simulated exactly from the screens.
    python docs/bench/axiomatic_energy/union.py SET ENERGY+ENERGY..."""
import json, sys
from pathlib import Path
import numpy as np
here = Path(__file__).resolve().parent
s, energies = sys.argv[1], sys.argv[2].split('+')
cands = {}
for e in energies:
    for r in map(json.loads, open(here / f'screen_{s}_{e}.jsonl')):
        cands.setdefault((r['source'], r['target']), []).extend(r['candidates'])
kept = [max(c, key=lambda x: x['confidence']) for c in cands.values() if len(c)]
e = np.array([k['error'] for k in kept]); flips = sum(k['frac_nearer_sym'] > 0.05 for k in kept)
print(f"{s} {'+'.join(energies)}: {len(kept)} pairs: {e.mean():.2f} / {np.median(e):.2f} / {(e > 5).sum()} above 5, {flips} flipped")
