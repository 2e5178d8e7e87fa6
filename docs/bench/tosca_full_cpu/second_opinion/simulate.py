"""What fallback_below = 0.95 does to the full TOSCA_r run, pair by pair, before running it:
the row's kept map (docs/bench/tosca_full_cpu/run2/ours) against every candidate that
scripts/diag_candidates.py measured on the pairs whose kept map was trusted below 0.95 with no
fallback run (diag_band_pairs.jsonl: --setting fallback_below=0.95 --setting adapt_when=never, so
the new candidates without re-running the adaptation); the most trusted is what the pipeline keeps.
    python docs/bench/tosca_full_cpu/second_opinion/simulate.py docs/bench/tosca_full_cpu/second_opinion/diag_band_pairs.jsonl"""
import json, sys
rows = {}
for x in json.load(open(str(__import__('pathlib').Path(__file__).resolve().parents[1] / 'run2' / 'ours' / 'bench.json')))['pairs']['ours']:
    rows[(x['source'], x['target'])] = x
diag = [json.loads(l) for l in open(sys.argv[1])]
old_all = {k: v['mean_error_x100'] for k, v in rows.items()}
new_all = dict(old_all)
for d in diag:
    k = (d['source'], d['target']); x = rows[k]
    best = (x['info']['confidence'], x['mean_error_x100'], 'row:' + x['info']['init'])
    for c in d['candidates']:
        if c['confidence'] > best[0]:
            best = (c['confidence'], c['error'], c['init'])
    new_all[k] = best[1]
    flag = '  <<' if abs(best[1] - x['mean_error_x100']) > 0.05 else ''
    print(f"{k[0]:>11}->{k[1]:<11} old {x['mean_error_x100']:6.2f} ({x['info']['confidence']:.2f}) new {best[1]:6.2f} ({best[0]:.2f} {best[2]}){flag}")
import numpy as np
o = np.array(list(old_all.values())); n = np.array([new_all[k] for k in old_all])
print(f"diag pairs {len(diag)}; all {len(o)}: mean {o.mean():.3f} -> {n.mean():.3f}; >5: {(o>5).sum()} -> {(n>5).sum()}")
for cls in sorted({k[0].rstrip('0123456789') for k in old_all}):
    ks = [k for k in old_all if k[0].rstrip('0123456789') == cls]
    a = np.array([old_all[k] for k in ks]); b = np.array([new_all[k] for k in ks])
    print(f"  {cls:9} {a.mean():.2f}/{np.median(a):.2f} -> {b.mean():.2f}/{np.median(b):.2f}  >5 {(a>5).sum()}->{(b>5).sum()}")
