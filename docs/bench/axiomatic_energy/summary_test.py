"""The axiomatic preset on the test pairs, with our energy only (its candidates are the first
energy's: the same loop as before) and with both (every candidate; the most trusted kept).
    python docs/bench/axiomatic_energy/summary_test.py"""
import json
from pathlib import Path
import numpy as np
here = Path(__file__).resolve().parent
FIRST = 'frobenius/squared'


THRESHOLD = 0.5858406963748495  # the confidence's threshold: a candidate below it is "low"


def kept(cands):
    return max(cands, key=lambda c: c['confidence'])


def first_energy(cands):
    """The candidates of the first energy. Rows written before the energy was recorded (all of
    these) list them first: sizes 30, 20, 40 in turn, up to the first one that is trusted."""
    if cands and cands[0].get('energy'):
        return [c for c in cands if c['energy'] == FIRST]
    out = []
    for c in cands[:3]:
        out.append(c)
        if c['confidence'] >= THRESHOLD:
            break
    return out


for s, files in (('FAUST_r test (190)', ['test_faust.jsonl']), ('TOSCA_r test (284)', ['test_tosca.jsonl', 'test_tosca_b.jsonl', 'test_tosca_c.jsonl', 'test_tosca_d.jsonl'])):
    # test_tosca_c.jsonl ran the second shard's list from its end: a pair both reached is counted once
    rows = list({(r['source'], r['target']): r for f in files if (here / f).exists()
                 for r in map(json.loads, open(here / f))}.values())
    if not rows:
        continue
    res = {}
    for label, pick in (('ours only', lambda r: kept(first_energy(r['candidates']))),
                        ('both energies', lambda r: kept(r['candidates']))):
        k = [pick(r) for r in rows]
        e = np.array([c['error'] for c in k]); fl = sum(c['frac_nearer_sym'] > 0.05 for c in k)
        res[label] = e
        print(f"{s} [{len(rows)} run], {label:14}: {e.mean():.2f} / {np.median(e):.2f} / {(e > 5).sum()} above 5, {fl} flipped")
    if s.startswith('TOSCA'):
        for cls in sorted({r['source'].rstrip('0123456789') for r in rows}):
            idx = [i for i, r in enumerate(rows) if r['source'].rstrip('0123456789') == cls]
            a, b = res['ours only'][idx], res['both energies'][idx]
            print(f"   {cls:9} {len(idx):3d}: {a.mean():.2f} / {np.median(a):.2f} / {(a > 5).sum()} -> {b.mean():.2f} / {np.median(b):.2f} / {(b > 5).sum()}")
    d = res['both energies'] - res['ours only']
    extra = [len(r['candidates']) - len(first_energy(r['candidates'])) for r in rows]
    worst = sorted(zip(d, [(r['source'], r['target']) for r in rows]))
    print(f"   pairs better {int((d < -0.05).sum())}, worse {int((d > 0.05).sum())}; the second energy's candidates "
          f"per pair {np.mean(extra):.2f} (CPU of the whole preset {np.mean([r['cpu_s'] for r in rows]):.1f} s a pair, "
          f"under load); most worse {[(k, round(float(x), 2)) for x, k in worst[-3:]]}")
