"""Every candidate of one flawed pair, and the polish and registration steps:
python candidates.py KIND:SEED:SOURCE:TARGET [setting=value|none ...] (from the repository root)."""
import sys, warnings
sys.path.insert(0, 'scripts')
import bench_flaws as bf
import shapecorr
from shapecorr.eval import Dataset, PairEvaluator
ds = Dataset('../shared/data/FAUST_r/vtx_5k'); ev = PairEvaluator(ds)
kind, seed, a, b = sys.argv[1].split(':'); seed = int(seed); a, b = f'tr_reg_{a}', f'tr_reg_{b}'
extra = dict(kv.split('=') for kv in sys.argv[2:])
extra = {k: (None if v == 'none' else float(v)) for k, v in extra.items()}
A, T, new = bf.flawed_target(ds, a, b, kind, seed)
with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    m = shapecorr.match(A, T, **extra)
err = bf.target_error(ds, ev, a, b, new, A, m.p2p_21)[0]
print(sys.argv[1:], 'err', round(err, 2), 'conf', m.confidence, 'kept', m.info['init'])
for c in m.info['candidates']:
    print('  ', c['init'], c['k_init'], c['w_orient_multiplier'], c['energy'], c['confidence'])
print('  registration', m.info.get('registration'))
print('  polish', m.info.get('polish'))
