"""What a fallback energy does to the full TOSCA_r run of the default, pair by pair, from the screen.

The fallback's axiomatic candidates are exactly the axiomatic preset's with the fallback's solve
settings (same solve and ZoomOut defaults, unguided), so `run.sh`'s rows are those candidates. On
each of the 76 pairs where they ran (second_opinion run, `axiomatic_fallback: true`) the pipeline
keeps the most trusted map: the row's kept map if it was not an axiomatic one, else the new
axiomatic candidate. Where the row kept an axiomatic map and the new axiomatic map is less trusted
than it, the best non-axiomatic candidate is not in the row: those pairs are listed as unknown and
counted with the better and the worse of (new axiomatic, old row). That is not a bound: the
non-axiomatic candidate kept instead may be better or worse than both (cat7->cat9: 5.47).
Several energies (ENERGY+ENERGY...): the fallback runs the axiomatic candidates of each, in turn.
    python docs/bench/tosca_diag/energy_screen/simulate.py ENERGY   # e.g. canonical_squared"""
import json, sys
from pathlib import Path
import numpy as np
here = Path(__file__).resolve().parent
so = here.parents[1] / 'tosca_full_cpu' / 'second_opinion'
rows = {}
for f in ('unchanged', 'ours_1', 'ours_2'):
    for x in json.load(open(so / f / 'bench.json'))['pairs']['ours']:
        rows[(x['source'], x['target'])] = x
tune = {tuple(l.split()) for l in open(here / 'fallback_pairs_tune.txt')}
screen = {}
for energy in sys.argv[1].split('+'):
    for d in map(json.loads, open(here / f'screen_{energy}.jsonl')):
        screen.setdefault((d['source'], d['target']), {'candidates': [], 'errors': []})
        screen[(d['source'], d['target'])]['candidates'] += d['candidates']
        screen[(d['source'], d['target'])]['errors'].append(d['error'])
n_energies = len(sys.argv[1].split('+'))
screen = {k: d for k, d in screen.items() if len(d['errors']) == n_energies}
old = {k: x['mean_error_x100'] for k, x in rows.items()}
lo, hi, unknown = dict(old), dict(old), []
for k, d in screen.items():
    x = rows[k]
    conf, err = x['info']['confidence'], x['mean_error_x100']
    new = max(d['candidates'], key=lambda c: c['confidence'])
    if x['info']['init'] != 'axiomatic_fallback':
        lo[k] = hi[k] = new['error'] if new['confidence'] > conf else err
    elif new['confidence'] >= conf:
        lo[k] = hi[k] = new['error']
    else:
        unknown.append(k); lo[k], hi[k] = min(new['error'], err), max(new['error'], err)
    if abs(hi[k] - err) > 0.05 or abs(lo[k] - err) > 0.05:
        tag = ' (tune)' if k in tune else ''
        print(f"{k[0]:>11}->{k[1]:<11} row {err:6.2f} ({conf:.2f} {x['info']['init']}) -> {lo[k]:6.2f}"
              f"{'' if lo[k] == hi[k] else f'..{hi[k]:.2f} unknown'} (new axiomatic {new['error']:.2f} at {new['confidence']:.2f}){tag}")


def line(name, keys, new):
    a = np.array([old[k] for k in keys]); b = np.array([new[k] for k in keys])
    return f"{name:22} {len(keys):3d} pairs: {a.mean():.2f} / {np.median(a):.2f} / {(a > 5).sum()} -> {b.mean():.2f} / {np.median(b):.2f} / {(b > 5).sum()}"


print(f"\n{sys.argv[1]}: {len(screen)} screened pairs, {len(unknown)} unknown {unknown}")
for label, new in (('best case', lo), ('worst case', hi)) if unknown else (('', lo),):
    print(label)
    keys = sorted(old)
    print(line('all', keys, new))
    print(line('tune pairs (screened)', [k for k in screen if k in tune], new))
    print(line('other screened', [k for k in screen if k not in tune], new))
    for cls in sorted({k[0].rstrip('0123456789') for k in old}):
        print(line('  ' + cls, [k for k in keys if k[0].rstrip('0123456789') == cls], new))
# the axiomatic solve alone (what the screen kept) on the screened pairs
a = np.array([max(d['candidates'], key=lambda c: c['confidence'])['error'] for d in screen.values()])
print(f"axiomatic candidate alone on the screened pairs: {a.mean():.2f} / {np.median(a):.2f} / {(a > 5).sum()} above 5")
